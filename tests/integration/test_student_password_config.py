"""The portal role's portal.toml gives the portal its students' password settings and the mail
server of the forgotten-password links (rendered with Ansible's filters, parsed by the portal's
own configuration reader)."""

from __future__ import annotations

import tomllib

import jinja2
import pytest
import yaml
from portal_fixtures import render_role_template, role_defaults

from captiva.portal.config import parse
from captiva.runtime.settings import ConfigError

VARIABLES = {
    "portal_db_host": "10.89.0.10", "portal_db_port": 5432, "portal_db_name": "radius",
    "portal_db_user": "captiva_portal", "portal_db_password": "db-password-0123",
    "portal_db_sslmode": "verify-full", "portal_db_ca_certificate": "",
    "portal_config_dir": "/etc/captiva",
    "portal_session_secret": "s" * 40, "portal_default_language": "fr",
    "portal_site_name": "Captiva", "portal_roster_source": "group_vars/all/users.yml",
    "portal_radius_server": "10.89.0.11", "portal_radius_secret": "radius-secret-0123",
    "portal_radius_source_address": "10.89.0.12",
    "portal_server_name": "wifi.campus.test",
}


def plain_defaults() -> dict:
    """The role's defaults; those reading the inventory (``{{ captiva_x | default(y) }}``)
    as their default y, the others that need more (other variables, lookups) left out."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)  # noqa: S701 - not HTML
    out = {}
    for name, value in role_defaults().items():
        if isinstance(value, str) and "{{" in value:
            try:
                text = env.from_string(value).render()
                value = yaml.safe_load(text) if text else text
            except (jinja2.TemplateError, yaml.YAMLError):
                continue
        out[name] = value
    return out


def rendered(**overrides):
    defaults = plain_defaults()
    variables = {**defaults, **VARIABLES,
                 "portal_password_min_length": 10,
                 "portal_password_public_url": "https://wifi.campus.test", **overrides}
    text = render_role_template("portal.toml.j2", variables)
    return parse(tomllib.loads(text))


def test_links_are_mailed_through_the_quota_jobs_mail_server():
    config = rendered(portal_quota_smtp={"host": "smtp.campus.test", "port": 587,
                                         "starttls": True, "username": "wifi",
                                         "from": "wifi@campus.test"},
                      portal_quota_smtp_password="mail-secret-0123")
    assert config.password.min_length == 10
    assert config.password.public_url == "https://wifi.campus.test"
    assert (config.smtp.host, config.smtp.username, config.smtp.sender) == (
        "smtp.campus.test", "wifi", "wifi@campus.test")


def test_without_a_mail_server_no_link_is_offered():
    config = rendered()  # the role's default portal_quota_smtp: no host
    assert config.password.public_url == ""


@pytest.mark.parametrize(("table", "message"), [
    ({"min_length": 6}, "password.min_length: expected 8 to 64"),
    ({"public_url": "http://wifi.campus.test"}, "must start with https://"),
    ({"reset_per_hour": 3}, "password: unknown keys: reset_per_hour"),
])
def test_bad_password_settings_are_named(table, message):
    base = {"dsn": "host=db", "session_secret": "s" * 40,
            "radius": {"server": "10.0.0.1", "secret": "radius-secret-0123"}}
    with pytest.raises(ConfigError, match=message):
        parse({**base, "password": table})
