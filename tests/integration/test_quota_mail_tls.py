"""The quota jobs never send the SMTP password over a clear connection: a configuration with
a login and no TLS is refused, and the mailer itself refuses AUTH on a plain connection, as
seen by a real SMTP server (aiosmtpd) that would accept it."""

from __future__ import annotations

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from processes import free_port

from captiva.runtime.jobs_config import ConfigError, load
from captiva.runtime.mail import InsecureAuthError, Mail, Mailer, SmtpConfig

PASSWORD = "mail-pass-0123456789"


@pytest.fixture
def plain_smtp():
    """An SMTP server without TLS that offers AUTH and records every login it is sent."""
    logins: list[bytes] = []
    messages: list[str] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
            messages.append(envelope.content.decode())
            return "250 OK"

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append(auth_data.password)
        return AuthResult(success=True)

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port,
                            authenticator=authenticator, auth_require_tls=False)
    controller.start()
    yield {"port": port, "logins": logins, "messages": messages}
    controller.stop()


def test_a_login_without_tls_is_refused_by_the_configuration(tmp_path):
    path = tmp_path / "quota.toml"
    path.write_text('dsn = "host=db dbname=radius user=captiva_jobs"\n\n[smtp]\n'
                    'host = "smtp.campus.example"\nstarttls = false\nusername = "captiva"\n'
                    f'password = "{PASSWORD}"\n')
    with pytest.raises(ConfigError) as error:
        load(path)
    message = str(error.value)
    assert message.startswith(f"{path}: smtp.starttls: must be true")
    assert "AUTH is refused without TLS" in message and PASSWORD not in message


def test_without_a_login_plain_smtp_is_allowed(tmp_path, plain_smtp):
    path = tmp_path / "quota.toml"
    path.write_text('dsn = "host=db"\n\n[smtp]\nhost = "127.0.0.1"\n'
                    f'port = {plain_smtp["port"]}\nstarttls = false\n')
    with Mailer(load(path).smtp) as mailer:
        mailer.send(Mail("alice@campus.example", "Wi-Fi", "Hello"))
    assert len(plain_smtp["messages"]) == 1


def test_the_mailer_sends_no_password_over_a_plain_connection(plain_smtp):
    # A configuration built without the file's checks: the mailer still refuses.
    config = SmtpConfig(host="127.0.0.1", port=plain_smtp["port"], starttls=False,
                        username="captiva", password=PASSWORD, timeout=5)
    with pytest.raises(InsecureAuthError, match="AUTH refused without TLS"), Mailer(config) as m:
        m.send(Mail("alice@campus.example", "Wi-Fi", "Hello"))
    assert plain_smtp["logins"] == []
    assert plain_smtp["messages"] == []
