"""Alert mail: templates (French/English, overridable) and SMTP with STARTTLS and auth.

AUTH is only ever sent over TLS: with a username and no STARTTLS the configuration is refused
(captiva.quota.config), and the Mailer checks the connection itself before logging in.

A template is a text file ``<kind>.<language>.txt`` (kind ``quota`` or ``expiry``): the first
line is ``Subject: ...``, then a blank line, then the body. ``$placeholders`` (string.Template)
are listed in docs/quota.md. An admin overrides one by putting a file of the same name in
``alerts.templates_dir``; the built-in ones below are used otherwise.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import string
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path

from captiva.quota.config import SmtpConfig

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


class InsecureAuthError(smtplib.SMTPException):
    """AUTH was asked for on a connection that is not TLS: the password is not sent."""


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str
    # (file name, content, MIME type "maintype/subtype"), e.g. a welcome letter's PDF
    attachments: tuple[tuple[str, bytes, str], ...] = ()


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
    head, _, body = rendered.partition("\n\n")
    if not head.startswith("Subject:"):
        raise TemplateError(f"template {kind}.{language}: first line must be 'Subject: ...'")
    return Mail(to=to, subject=head[len("Subject:"):].strip(), body=body)


def build_message(mail: Mail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr(("Captiva", sender))
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    message.set_content(mail.body)
    for filename, content, mime in mail.attachments:
        maintype, _, subtype = mime.partition("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message


class Mailer:
    """One SMTP connection for a run: STARTTLS (certificate verified), then AUTH."""

    def __init__(self, config: SmtpConfig):
        self.config = config
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *exc) -> None:
        if self._smtp is not None:
            with contextlib.suppress(smtplib.SMTPException):
                self._smtp.quit()
            self._smtp = None

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
        smtp.ehlo()
        if cfg.starttls:
            context = ssl.create_default_context(cafile=cfg.ca_file)
            smtp.starttls(context=context)
            smtp.ehlo()
        if cfg.username:
            if not isinstance(smtp.sock, ssl.SSLSocket):
                smtp.close()
                raise InsecureAuthError(f"{cfg.host}:{cfg.port}: AUTH refused without TLS "
                                        "(smtp.starttls = true)")
            smtp.login(cfg.username, cfg.password or "")
        return smtp

    def send(self, mail: Mail) -> None:
        if self._smtp is None:
            self._smtp = self._connect()
        self._smtp.send_message(build_message(mail, self.config.sender))
