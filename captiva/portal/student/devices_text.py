"""The students' devices page and the console's device actions (French, English), merged
into i18n.MESSAGES."""

DEVICES: dict[str, dict[str, str]] = {
    "fr": {
        "devices.menu": "Mes appareils",
        "devices.title": "Mes appareils",
        "devices.intro": "Les appareils (adresses MAC) de vos sessions Wi-Fi. Donnez-leur un "
                         "nom, déconnectez-en un maintenant, ou bloquez-le : le Wi-Fi refuse "
                         "alors ce compte sur cet appareil (un téléphone perdu ou volé).",
        "devices.manage": "Gérer mes appareils",
        "devices.name": "Nom",
        "devices.no_name": "(sans nom)",
        "devices.blocked": "Bloqué",
        "devices.rename": "Renommer",
        "devices.block": "Bloquer",
        "devices.unblock": "Débloquer",
        "devices.disconnect": "Déconnecter",
        "devices.actions": "Actions",
        "devices.block_other": "Bloquer une autre adresse MAC",
        "devices.mac_hint": "Par exemple aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF ou "
                            "aabb.ccdd.eeff.",
        "devices.renamed": "Nom enregistré.",
        "devices.blocked_done": "Appareil bloqué : le Wi-Fi refuse désormais ce compte sur "
                                "cet appareil.",
        "devices.unblocked_done": "Appareil débloqué.",
        "devices.disconnected": "Déconnexion demandée ({count} session(s)) : elle prend "
                                "effet dans la minute.",
        "devices.nothing_to_disconnect": "Cet appareil n'a pas de session en cours.",
        "devices.bad_mac": "Adresse MAC invalide.",
        "devices.name_too_long": "Un nom a 40 caractères au plus.",
        "devices.unavailable": "Service momentanément indisponible. Réessayez dans une "
                               "minute.",
    },
    "en": {
        "devices.menu": "My devices",
        "devices.title": "My devices",
        "devices.intro": "The devices (MAC addresses) of your Wi-Fi sessions. Name them, "
                         "disconnect one now, or block it: the Wi-Fi then refuses this account "
                         "on that device (a lost or stolen phone).",
        "devices.manage": "Manage my devices",
        "devices.name": "Name",
        "devices.no_name": "(no name)",
        "devices.blocked": "Blocked",
        "devices.rename": "Rename",
        "devices.block": "Block",
        "devices.unblock": "Unblock",
        "devices.disconnect": "Disconnect",
        "devices.actions": "Actions",
        "devices.block_other": "Block another MAC address",
        "devices.mac_hint": "For example aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF or "
                            "aabb.ccdd.eeff.",
        "devices.renamed": "Name saved.",
        "devices.blocked_done": "Device blocked: the Wi-Fi now refuses this account on that "
                                "device.",
        "devices.unblocked_done": "Device unblocked.",
        "devices.disconnected": "Disconnect requested ({count} session(s)): it takes effect "
                                "within a minute.",
        "devices.nothing_to_disconnect": "This device has no open session.",
        "devices.bad_mac": "Invalid MAC address.",
        "devices.name_too_long": "A name has 40 characters at most.",
        "devices.unavailable": "Temporarily unavailable. Try again in a minute.",
    },
}

# What a redirect after an action may announce (message keys).
NOTICES = ("devices.renamed", "devices.blocked_done", "devices.unblocked_done",
           "devices.disconnected", "devices.nothing_to_disconnect")
REFUSALS = ("devices.bad_mac", "devices.name_too_long")
