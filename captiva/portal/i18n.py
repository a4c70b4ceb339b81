"""The portal's two languages (French, English) and how a request picks one.

``SHELL`` holds the strings every page shares (the menu, the login, errors, table headings);
each room's own strings are in its text.py, merged here into ``MESSAGES``.
"""

from __future__ import annotations

from captiva.portal.config import LANGUAGES

SHELL: dict[str, dict[str, str]] = {
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
        "login.busy": "Trop de connexions en ce moment. Réessayez dans un instant.",
        "login.expired": "Votre session a expiré. Reconnectez-vous.",
        "logout": "Déconnexion",
        "admin": "Administration",
        "period.daily": "Aujourd'hui",
        "period.weekly": "Cette semaine",
        "period.monthly": "Ce mois",
        "period.total": "Total",
        "unlimited": "illimité",
        "status.active": "actif",
        "status.disabled": "désactivé",
        "status.wifi-off": "Wi-Fi coupé pour la promotion",
        "status.expired": "expiré",
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
        "col.status": "Statut",
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
        "login.busy": "Too many sign-ins at this moment. Try again in a moment.",
        "login.expired": "Your session has expired. Please sign in again.",
        "logout": "Sign out",
        "admin": "Administration",
        "period.daily": "Today",
        "period.weekly": "This week",
        "period.monthly": "This month",
        "period.total": "Total",
        "unlimited": "unlimited",
        "status.active": "active",
        "status.disabled": "disabled",
        "status.wifi-off": "Wi-Fi off for the promotion",
        "status.expired": "expired",
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
        "col.status": "Status",
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
# Each room's strings (its text.py); a key is defined once, in one room or here.
from captiva.portal.console.text import CONSOLE  # noqa: E402
from captiva.portal.student.devices_text import DEVICES  # noqa: E402
from captiva.portal.student.password_text import PASSWORD  # noqa: E402
from captiva.portal.student.signup_text import SIGNUP  # noqa: E402
from captiva.portal.student.text import STUDENT  # noqa: E402
from captiva.portal.vouchers.text import VOUCHER  # noqa: E402
from captiva.portal.workstations.text import WORKSTATION  # noqa: E402

MESSAGES: dict[str, dict[str, str]] = {lang: {} for lang in LANGUAGES}
for _texts in (SHELL, STUDENT, PASSWORD, DEVICES, SIGNUP, CONSOLE, VOUCHER, WORKSTATION):
    for _lang, _messages in _texts.items():
        _twice = MESSAGES[_lang].keys() & _messages.keys()
        assert not _twice, f"defined twice: {sorted(_twice)}"  # noqa: S101 - import-time invariant
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
