"""The portal role's portal.toml gives the portal its sign-up settings (rendered with Ansible's
filters, parsed by the portal's own configuration reader): on only with a mail server (the
address is verified by a link), the registrar's list where the role copies it."""

from __future__ import annotations

import pytest
from portal_fixtures import role_defaults
from test_student_password_config import rendered

from captiva.portal.config import parse
from captiva.runtime.settings import ConfigError

SMTP = {"portal_quota_smtp": {"host": "smtp.campus.test", "port": 587, "starttls": True,
                              "username": "wifi", "from": "wifi@campus.test"},
        "portal_quota_smtp_password": "mail-secret-0123"}


def test_sign_up_is_off_by_default():
    assert role_defaults()["portal_signup_per_client"] == 5
    config = rendered(portal_signup_enabled=False, portal_signup_registrar_csv="", **SMTP)
    assert config.signup.enabled is False


def test_on_with_a_mail_server_and_the_registrars_list_where_the_role_copies_it():
    config = rendered(portal_signup_enabled=True, portal_signup_per_client=3,
                      portal_signup_registrar_csv="/srv/inventory/registrar.csv", **SMTP)
    assert config.signup.enabled is True
    assert config.signup.registrar_csv == "/etc/captiva/signup-registrar.csv"
    assert config.signup.per_client == 3
    assert config.password.public_url == "https://wifi.campus.test"  # the links' address


def test_without_a_mail_server_sign_up_stays_off():
    config = rendered(portal_signup_enabled=True, portal_signup_registrar_csv="")
    assert config.signup.enabled is False
    assert config.signup.registrar_csv == ""


@pytest.mark.parametrize(("table", "message"), [
    ({"enabled": "yes"}, "signup.enabled: expected bool"),
    ({"per_client": 0}, "signup.per_client: must be positive"),
    ({"registrar": "/x.csv"}, "signup: unknown keys: registrar"),
])
def test_bad_sign_up_settings_are_named(table, message):
    base = {"dsn": "host=db", "session_secret": "s" * 40,
            "radius": {"server": "10.0.0.1", "secret": "radius-secret-0123"}}
    with pytest.raises(ConfigError, match=message):
        parse({**base, "signup": table})
