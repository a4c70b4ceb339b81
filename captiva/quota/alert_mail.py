"""The quota jobs' alert mails: templates (French/English, overridable), rendered to a
:class:`captiva.runtime.mail.Mail`.

A template is a text file ``<kind>.<language>.txt`` (kind ``quota`` or ``expiry``): the first
line is ``Subject: ...``, then a blank line, then the body. ``$placeholders`` (string.Template)
are listed in docs/quota.md. An admin overrides one by putting a file of the same name in
``alerts.templates_dir``; the built-in ones below are used otherwise.
"""

from __future__ import annotations

import string
from pathlib import Path

from captiva.runtime.mail import Mail, mail_from_text

BUILTIN = {
    "quota.fr": """\
Subject: Wi-Fi : $percent % de votre quota $period_fr utilisés

Bonjour $first_name,

Vous avez utilisé $used sur votre quota Wi-Fi $period_fr de $limit ($percent %).
Il vous reste $remaining. Le quota sera renouvelé le $resets_at ($timezone).

Quand le quota est atteint, la connexion est coupée jusqu'au renouvellement.
$portal_line
--
Captiva, Wi-Fi du campus
""",
    "quota.en": """\
Subject: Wi-Fi: $percent% of your $period_en quota used

Hello $first_name,

You have used $used of your $period_en Wi-Fi quota of $limit ($percent%).
$remaining remain. The quota resets on $resets_at ($timezone).

Once the quota is reached, you are disconnected until it resets.
$portal_line
--
Captiva, campus Wi-Fi
""",
    "expiry.fr": """\
Subject: Wi-Fi : votre compte expire dans $days jour(s)

Bonjour $first_name,

Votre accès Wi-Fi expire le $expires_at ($timezone), dans $days jour(s).
Adressez-vous au service informatique pour le prolonger.
$portal_line
--
Captiva, Wi-Fi du campus
""",
    "expiry.en": """\
Subject: Wi-Fi: your account expires in $days day(s)

Hello $first_name,

Your Wi-Fi access expires on $expires_at ($timezone), in $days day(s).
Contact the IT service to extend it.
$portal_line
--
Captiva, campus Wi-Fi
""",
}
PORTAL_LINE = {"fr": "Votre consommation : $url\n", "en": "Your usage: $url\n"}



class TemplateError(ValueError):
    pass



def template_text(kind: str, language: str, templates_dir: str | None) -> str:
    language = language if language in ("fr", "en") else "fr"
    name = f"{kind}.{language}"
    if templates_dir:
        path = Path(templates_dir) / f"{name}.txt"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return BUILTIN[name]


def render(kind: str, language: str, to: str, values: dict[str, object],
           templates_dir: str | None = None, portal_url: str = "") -> Mail:
    """The mail for one alert; unknown placeholders are an error, not a silent blank."""
    language = language if language in ("fr", "en") else "fr"
    values = dict(values)
    values["portal_line"] = (string.Template(PORTAL_LINE[language]).substitute(url=portal_url)
                             if portal_url else "")
    text = template_text(kind, language, templates_dir)
    try:
        rendered = string.Template(text).substitute(values)
    except (KeyError, ValueError) as exc:
        raise TemplateError(f"template {kind}.{language}: unknown placeholder {exc}") from exc
    try:
        return mail_from_text(to, rendered)
    except ValueError as exc:
        raise TemplateError(f"template {kind}.{language}: {exc}") from exc
