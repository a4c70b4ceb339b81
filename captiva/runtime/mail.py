"""Mail from the runtime: the ``[smtp]`` table and one SMTP connection per run.

The quota jobs' alerts, the workstations' reports, the welcome letters of
``captiva.onboarding`` and the portal's password and sign-up links all go through
:class:`Mailer`. AUTH is only ever sent over TLS: with a username and no STARTTLS the
configuration is refused (:func:`parse_smtp`), and the Mailer checks the connection itself
before logging in.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any

from captiva.runtime.settings import ConfigError, typed


@dataclass(frozen=True)
class SmtpConfig:
    host: str = "localhost"
    port: int = 587
    starttls: bool = True
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "captiva@localhost"
    ca_file: str | None = None  # extra CA to trust (else the system store)
    timeout: float = 30.0


def parse_smtp(smtp: dict[str, Any]) -> SmtpConfig:
    """The ``[smtp]`` table, as quota.toml, portal.toml and ``import-csv --mail`` hold it."""
    # AUTH over a clear connection gives the SMTP password to anyone on the path.
    if (smtp.get("username") or smtp.get("password")) and smtp.get("starttls", True) is False:
        raise ConfigError("smtp.starttls: must be true when smtp.username or smtp.password is "
                          "set (AUTH is refused without TLS)")
    return SmtpConfig(
        host=typed(smtp, "host", str, "localhost", "smtp."),
        port=typed(smtp, "port", int, 587, "smtp."),
        starttls=typed(smtp, "starttls", bool, True, "smtp."),
        username=typed(smtp, "username", str, None, "smtp."),
        password=typed(smtp, "password", str, None, "smtp."),
        sender=typed(smtp, "from", str, "captiva@localhost", "smtp."),
        ca_file=typed(smtp, "ca_file", str, None, "smtp."),
        timeout=typed(smtp, "timeout", float, 30.0, "smtp."),
    )


class InsecureAuthError(smtplib.SMTPException):
    """AUTH was asked for on a connection that is not TLS: the password is not sent."""


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str
    # (file name, content, MIME type "maintype/subtype"), e.g. a welcome letter's PDF
    attachments: tuple[tuple[str, bytes, str], ...] = ()


def mail_from_text(to: str, text: str) -> Mail:
    """A mail written as text, as every mail of the runtime is: its first line
    ``Subject: ...``, a blank line, then the body. A text without that first line is refused
    (ValueError): it would go out without a subject."""
    head, _, body = text.partition("\n\n")
    if not head.startswith("Subject:") or "\n" in head:
        raise ValueError("first line must be 'Subject: ...', then a blank line")
    return Mail(to=to, subject=head.removeprefix("Subject:").strip(), body=body)


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
