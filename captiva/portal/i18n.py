"""The portal's two languages (French, English) and how a request picks one."""

from __future__ import annotations

from captiva.portal.config import LANGUAGES

MESSAGES: dict[str, dict[str, str]] = {
    "fr": {
        "title": "Mon Wi-Fi",
        "login.heading": "Connexion",
        "login.intro": "Identifiants Wi-Fi (matricule et mot de passe).",
        "login.username": "Identifiant",
        "login.password": "Mot de passe",
        "login.submit": "Se connecter",
        "login.failed": "Identifiant ou mot de passe incorrect.",
        "login.throttled": "Trop de tentatives. Réessayez dans {minutes} min.",
        "login.unavailable": "Le serveur d'authentification ne répond pas. Réessayez plus tard.",
        "login.expired": "Votre session a expiré. Reconnectez-vous.",
        "logout": "Déconnexion",
        "admin": "Administration",
        "my_usage": "Ma consommation",
        "usage": "Consommation",
        "period.daily": "Aujourd'hui",
        "period.weekly": "Cette semaine",
        "period.monthly": "Ce mois",
        "period.total": "Total",
        "used_of": "{used} sur {limit}",
        "unlimited": "illimité",
        "remaining": "Reste {remaining}",
        "resets": "Remise à zéro le {when}",
        "never_resets": "Ne se remet jamais à zéro",
        "profile": "Mon forfait",
        "profile.name": "Profil",
        "profile.promotion": "Promotion",
        "profile.speed": "Débit (descendant / montant)",
        "profile.session_timeout": "Durée max. d'une session",
        "profile.idle_timeout": "Déconnexion après inactivité",
        "profile.simultaneous": "Appareils simultanés",
        "profile.status": "Statut",
        "expiry": "Expiration",
        "expires_on": "Expire le {date}",
        "days_left": "{days} jour(s) restant(s)",
        "no_expiry": "Pas de date d'expiration",
        "status.active": "actif",
        "status.disabled": "désactivé",
        "status.wifi-off": "Wi-Fi coupé pour la promotion",
        "status.expired": "expiré",
        "not_in_roster": "Ce compte n'est pas dans l'annuaire Captiva : aucune limite.",
        "active_sessions": "Sessions en cours",
        "no_active_sessions": "Aucune session en cours.",
        "history": "Historique des sessions",
        "no_history": "Aucune session.",
        "devices": "Appareils",
        "no_devices": "Aucun appareil.",
        "devices.window": "Sessions commencées ces {days} derniers jours, et celles en cours.",
        "chart": "Consommation des 30 derniers jours",
        "chart.max": "max. {value}",
        "col.start": "Début",
        "col.end": "Fin",
        "col.ip": "Adresse IP",
        "col.mac": "Adresse MAC",
        "col.data": "Données",
        "col.duration": "Durée",
        "col.router": "Point d'accès",
        "col.user": "Utilisateur",
        "col.promotion": "Promotion",
        "col.profile": "Profil",
        "col.first_seen": "Vu la 1re fois",
        "col.last_seen": "Vu la dernière fois",
        "col.sessions": "Sessions",
        "col.when": "Date",
        "col.reply": "Réponse",
        "col.cause": "Cause",
        "col.status": "Statut",
        "col.users": "Utilisateurs",
        "col.active_users": "Actifs",
        "col.online": "En ligne",
        "col.month": "Ce mois",
        "col.wifi": "Wi-Fi",
        "col.limit": "Quota mensuel",
        "online_now": "En ligne",
        "in_progress": "en cours",
        "page.newer": "← Plus récentes",
        "page.older": "Plus anciennes →",
        "page.n": "Page {page}",
        "admin.online": "En ligne maintenant",
        "admin.recent": "Déconnexions récentes",
        "admin.failures": "Échecs d'authentification",
        "admin.guessing": "Essais de codes bloqués (24 h)",
        "col.throttled": "Refusés sans recherche",
        "guessing.whole_nas": "tout le point d'accès",
        "admin.top": "Plus gros consommateurs (ce mois)",
        "admin.promotions": "Par promotion",
        "admin.export": "CSV",
        "admin.none": "Rien à afficher.",
        "admin.unknown_account": "(hors annuaire)",
        "yes": "oui",
        "no": "non",
        "language": "Langue",
        "lang.switch": "English",
        "error.forbidden": "Accès réservé aux administrateurs.",
        "error.csrf": "Formulaire expiré ou invalide. Rechargez la page.",
        "error.not_found": "Page introuvable.",
        "error.unavailable": "Service momentanément indisponible. Réessayez dans une minute.",
        "updated": "Données au {when} ({tz})",
    },
    "en": {
        "title": "My Wi-Fi",
        "login.heading": "Sign in",
        "login.intro": "Your Wi-Fi credentials (student ID and password).",
        "login.username": "Username",
        "login.password": "Password",
        "login.submit": "Sign in",
        "login.failed": "Wrong username or password.",
        "login.throttled": "Too many attempts. Try again in {minutes} min.",
        "login.unavailable": "The authentication server does not answer. Try again later.",
        "login.expired": "Your session has expired. Please sign in again.",
        "logout": "Sign out",
        "admin": "Administration",
        "my_usage": "My usage",
        "usage": "Usage",
        "period.daily": "Today",
        "period.weekly": "This week",
        "period.monthly": "This month",
        "period.total": "Total",
        "used_of": "{used} of {limit}",
        "unlimited": "unlimited",
        "remaining": "{remaining} left",
        "resets": "Resets {when}",
        "never_resets": "Never resets",
        "profile": "My plan",
        "profile.name": "Profile",
        "profile.promotion": "Promotion",
        "profile.speed": "Speed (down / up)",
        "profile.session_timeout": "Longest session",
        "profile.idle_timeout": "Idle timeout",
        "profile.simultaneous": "Devices at once",
        "profile.status": "Status",
        "expiry": "Expiry",
        "expires_on": "Expires on {date}",
        "days_left": "{days} day(s) left",
        "no_expiry": "No expiry date",
        "status.active": "active",
        "status.disabled": "disabled",
        "status.wifi-off": "Wi-Fi off for the promotion",
        "status.expired": "expired",
        "not_in_roster": "This account is not in Captiva's roster: no limits.",
        "active_sessions": "Current sessions",
        "no_active_sessions": "No current session.",
        "history": "Session history",
        "no_history": "No session.",
        "devices": "Devices",
        "no_devices": "No device.",
        "devices.window": "Sessions started in the last {days} days, and the open ones.",
        "chart": "Usage over the last 30 days",
        "chart.max": "max {value}",
        "col.start": "Start",
        "col.end": "End",
        "col.ip": "IP address",
        "col.mac": "MAC address",
        "col.data": "Data",
        "col.duration": "Duration",
        "col.router": "Access point",
        "col.user": "User",
        "col.promotion": "Promotion",
        "col.profile": "Profile",
        "col.first_seen": "First seen",
        "col.last_seen": "Last seen",
        "col.sessions": "Sessions",
        "col.when": "When",
        "col.reply": "Reply",
        "col.cause": "Cause",
        "col.status": "Status",
        "col.users": "Users",
        "col.active_users": "Active",
        "col.online": "Online",
        "col.month": "This month",
        "col.wifi": "Wi-Fi",
        "col.limit": "Monthly quota",
        "online_now": "Online",
        "in_progress": "in progress",
        "page.newer": "← Newer",
        "page.older": "Older →",
        "page.n": "Page {page}",
        "admin.online": "Online now",
        "admin.recent": "Recently disconnected",
        "admin.failures": "Authentication failures",
        "admin.guessing": "Code guessing throttled (24 h)",
        "col.throttled": "Refused without a lookup",
        "guessing.whole_nas": "the whole access point",
        "admin.top": "Top consumers (this month)",
        "admin.promotions": "Per promotion",
        "admin.export": "CSV",
        "admin.none": "Nothing to show.",
        "admin.unknown_account": "(not in the roster)",
        "yes": "yes",
        "no": "no",
        "language": "Language",
        "lang.switch": "Français",
        "error.forbidden": "Administrators only.",
        "error.csrf": "The form expired or is invalid. Reload the page.",
        "error.not_found": "Page not found.",
        "error.unavailable": "Temporarily unavailable. Try again in a minute.",
        "updated": "Figures as of {when} ({tz})",
    },
}
from captiva.portal.console.text import CONSOLE  # noqa: E402 - the console's own strings
from captiva.portal.vouchers.text import VOUCHER  # noqa: E402 - the voucher pages' strings

for _lang, _messages in CONSOLE.items():
    MESSAGES[_lang].update(_messages)
for _lang, _messages in VOUCHER.items():
    MESSAGES[_lang].update(_messages)
from captiva.portal.workstations.text import WORKSTATION  # noqa: E402 - workstations' strings

for _lang, _messages in WORKSTATION.items():
    MESSAGES[_lang].update(_messages)

from captiva.portal.student.password_text import PASSWORD  # noqa: E402 - students' password pages

for _lang, _messages in PASSWORD.items():
    MESSAGES[_lang].update(_messages)

from captiva.portal.student.devices_text import DEVICES  # noqa: E402 - students' devices
from captiva.portal.student.signup_text import SIGNUP  # noqa: E402 - sign-up and its review

for _lang, _messages in (*DEVICES.items(), *SIGNUP.items()):
    MESSAGES[_lang].update(_messages)

assert MESSAGES["fr"].keys() == MESSAGES["en"].keys()  # noqa: S101 - import-time invariant


def translator(lang: str):
    messages = MESSAGES[lang]

    def gettext(key: str, **values) -> str:
        text = messages[key]
        return text.format(**values) if values else text

    return gettext


def from_accept_language(header: str | None, default: str) -> str:
    """The best of LANGUAGES for an Accept-Language header (q-values honoured)."""
    best, best_q = default, 0.0
    for index, part in enumerate((header or "").split(",")):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower().split("-")[0]
        q = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        q -= index * 1e-6  # earlier wins ties
        if tag in LANGUAGES and q > best_q:
            best, best_q = tag, q
    return best
