"""Welcome letters for new users: the only place their initial password exists in clear.

One A4 page per student, in the student's language (``language``, else ``captiva_language``):
username, initial password, the WiFi name, the portal URL and the first steps. Written as one
PDF per student (``<username>.pdf``) or one merged PDF (``welcome-letters.pdf``), mode 0600.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fpdf import FPDF

# DejaVu covers every name a registrar sends (Latin, Cyrillic, Greek, ...); the core PDF
# fonts stop at Latin-1. Debian: fonts-dejavu-core.
FONT_DIR = Path(os.environ.get("CAPTIVA_FONT_DIR", "/usr/share/fonts/truetype/dejavu"))

TEXTS = {
    "fr": {
        "title": "Bienvenue sur le WiFi du campus",
        "hello": "Bonjour {name},",
        "intro": "Voici vos identifiants WiFi personnels. Gardez cette lettre en lieu sûr : "
                 "le mot de passe n'est écrit nulle part ailleurs.",
        "username": "Identifiant",
        "password": "Mot de passe initial",
        "wifi": "Réseau WiFi",
        "portal": "Votre espace (consommation, sessions, appareils)",
        "steps_title": "Premiers pas",
        "join_named": "Connectez-vous au réseau WiFi {wifi_name}.",
        "join_unnamed": "Connectez-vous au réseau WiFi du campus.",
        "steps": [
            "{join}",
            "Une page de connexion s'ouvre (sinon, ouvrez n'importe quel site web).",
            "Saisissez votre identifiant et votre mot de passe.",
            "Consultez votre consommation et vos appareils sur {portal_url}.",
        ],
        "change": "Changer de mot de passe : le mot de passe est géré par le service "
                  "informatique. En cas de perte ou de doute, présentez-vous au support "
                  "avec votre carte d'étudiant : un nouveau mot de passe vous sera remis.",
        "footer": "Lettre éditée le {date}. Ne communiquez jamais votre mot de passe.",
    },
    "en": {
        "title": "Welcome to the campus WiFi",
        "hello": "Hello {name},",
        "intro": "Here are your personal WiFi credentials. Keep this letter safe: the "
                 "password is written nowhere else.",
        "username": "Username",
        "password": "Initial password",
        "wifi": "WiFi network",
        "portal": "Your page (usage, sessions, devices)",
        "steps_title": "First steps",
        "join_named": "Join the WiFi network {wifi_name}.",
        "join_unnamed": "Join the campus WiFi network.",
        "steps": [
            "{join}",
            "A login page opens (if not, open any web site).",
            "Type your username and password.",
            "See your usage and devices at {portal_url}.",
        ],
        "change": "Changing your password: passwords are managed by the IT service. If you "
                  "lose it or think someone knows it, come to the helpdesk with your student "
                  "card and you will be given a new one.",
        "footer": "Letter printed on {date}. Never share your password.",
    },
}


def network_name(variables: Mapping[str, Any], given: str | None = None) -> str:
    """The network name the letters print: ``--wifi-name``, else ``captiva_wifi_name``; empty
    when neither is set (the letter then says "the campus WiFi" and prints no name)."""
    return str(given or variables.get("captiva_wifi_name") or "").strip()


def portal_url(variables: Mapping[str, Any]) -> str:
    portal = variables.get("captiva_portal") or {}
    host = portal.get("dns_name") or portal.get("address") or "portal"
    return f"https://{host}/"


def _new_pdf() -> FPDF:
    from fpdf import FPDF  # only to write letters: the import command loads this module always

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_font("dejavu", "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font("dejavu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.add_font("dejavumono", "B", str(FONT_DIR / "DejaVuSansMono-Bold.ttf"))
    pdf.set_title("WiFi")
    return pdf


def _letter(pdf: FPDF, user: Mapping[str, Any], password: str, language: str,
            wifi_name: str, url: str) -> None:
    t = TEXTS[language]
    values = {"wifi_name": wifi_name, "portal_url": url,
              "join": t["join_named" if wifi_name else "join_unnamed"].format(
                  wifi_name=wifi_name),
              "date": dt.date.today().isoformat(),
              "name": " ".join(str(user.get(k) or "") for k in ("first_name", "last_name"))
              .strip() or user["username"]}
    pdf.add_page()
    pdf.set_font("dejavu", "B", 18)
    pdf.multi_cell(0, 10, t["title"], new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("dejavu", "", 11)
    pdf.multi_cell(0, 6, t["hello"].format(**values), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.multi_cell(0, 6, t["intro"], new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    for label, value, mono in ((t["username"], user["username"], True),
                               (t["password"], password, True),
                               *([(t["wifi"], wifi_name, False)] if wifi_name else []),
                               (t["portal"], url, False)):
        pdf.set_font("dejavu", "", 10)
        pdf.cell(0, 6, label, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("dejavumono" if mono else "dejavu", "B", 16 if mono else 12)
        pdf.cell(0, 9, str(value), border="B", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
    pdf.ln(4)
    pdf.set_font("dejavu", "B", 12)
    pdf.cell(0, 8, t["steps_title"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("dejavu", "", 11)
    for n, step in enumerate(t["steps"], 1):
        pdf.multi_cell(0, 6, f"{n}. {step.format(**values)}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("dejavu", "", 9)
    pdf.multi_cell(0, 5, t["change"], new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.multi_cell(0, 5, t["footer"].format(**values), new_x="LMARGIN", new_y="NEXT")


def _write(pdf: FPDF, path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pdf.output())


MAIL_TEXTS = {
    "fr": ("Vos identifiants WiFi", "Bonjour {name},\n\nVotre lettre d'accès au WiFi du "
           "campus est jointe (PDF). Elle contient votre identifiant et votre mot de passe "
           "initial : gardez-la pour vous.\n\n--\nCaptiva, Wi-Fi du campus\n"),
    "en": ("Your WiFi credentials", "Hello {name},\n\nYour campus WiFi access letter is "
           "attached (PDF). It holds your username and initial password: keep it to "
           "yourself.\n\n--\nCaptiva, campus Wi-Fi\n"),
}


def _language(user: Mapping[str, Any], default_language: str) -> str:
    language = user.get("language") or default_language
    return language if language in TEXTS else "fr"


def mail_letters(smtp_config, users: Sequence[Mapping[str, Any]],
                 passwords: Mapping[str, str], variables: Mapping[str, Any], *,
                 wifi_name: str | None = None) -> tuple[int, list[str]]:
    """Mail each user their letter as a PDF attachment, through the quota jobs' mail path
    (STARTTLS; AUTH only over TLS). Returns (sent, usernames without an email)."""
    from captiva.runtime.mail import Mail, Mailer

    default_language = variables.get("captiva_language") or "fr"
    network = network_name(variables, wifi_name)
    url = portal_url(variables)
    sent, without = 0, []
    with Mailer(smtp_config) as mailer:
        for user in users:
            if not user.get("email"):
                without.append(user["username"])
                continue
            language = _language(user, default_language)
            pdf = _new_pdf()
            _letter(pdf, user, passwords[user["username"]], language, network, url)
            subject, body = MAIL_TEXTS[language]
            name = str(user.get("first_name") or user["username"])
            mailer.send(Mail(to=str(user["email"]), subject=subject,
                             body=body.format(name=name),
                             attachments=((f"{user['username']}.pdf", bytes(pdf.output()),
                                           "application/pdf"),)))
            sent += 1
    return sent, without


def write_letters(directory: Path, users: Sequence[Mapping[str, Any]],
                  passwords: Mapping[str, str], variables: Mapping[str, Any], *,
                  merged: bool = False, wifi_name: str | None = None) -> str:
    """Write the letters; returns what was written, for the command's output."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    default_language = variables.get("captiva_language") or "fr"
    network = network_name(variables, wifi_name)
    url = portal_url(variables)
    merged_pdf = _new_pdf() if merged else None
    for user in users:
        language = _language(user, default_language)
        pdf = merged_pdf or _new_pdf()
        _letter(pdf, user, passwords[user["username"]], language, network, url)
        if merged_pdf is None:
            _write(pdf, directory / f"{user['username']}.pdf")
    if merged_pdf is not None:
        _write(merged_pdf, directory / "welcome-letters.pdf")
        return f"{directory / 'welcome-letters.pdf'} ({len(users)} letters)"
    return f"{len(users)} PDF files in {directory}"
