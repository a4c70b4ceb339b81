"""The runtime configurations refuse secrets that would fall with another one."""

from __future__ import annotations

import pytest

from captiva.portal import config as portal_config

DB_PASSWORD = "portal-db-password-0123456789abcdef"
RADIUS_SECRET = "portal-radius-secret-0123456789abcdef"


def portal(**overrides) -> dict:
    data = {"dsn": f"host=db dbname=radius user=captiva_portal password={DB_PASSWORD}",
            "session_secret": "a-session-secret-of-its-own-0123456789",
            "radius": {"server": "10.0.0.11", "secret": RADIUS_SECRET}}
    return {**data, **overrides}


def test_the_portal_starts_with_a_session_secret_of_its_own():
    assert portal_config.parse(portal()).session_secret.startswith("a-session-secret")


@pytest.mark.parametrize("secret", ["", "short", DB_PASSWORD, RADIUS_SECRET])
def test_the_portal_refuses_a_missing_or_shared_session_secret(secret):
    with pytest.raises(portal_config.ConfigError, match="^session_secret: ") as error:
        portal_config.parse(portal(session_secret=secret))
    assert DB_PASSWORD not in str(error.value) and RADIUS_SECRET not in str(error.value)
