"""A mistyped configuration value is named by its key and type, never shown."""

from __future__ import annotations

import pytest

from captiva.portal import config as portal_config
from captiva.runtime import jobs_config as quota_config

SECRET = "smtp-password-0123456789abcdef"


def quota(**overrides) -> dict:
    return {"dsn": "host=db dbname=radius user=captiva_jobs", **overrides}


@pytest.mark.parametrize("data, key", [
    (quota(smtp={"password": [SECRET]}), "smtp.password"),
    (quota(smtp={"username": 7, "password": SECRET}), "smtp.username"),
    (quota(routers={"gw1": {"secret": [SECRET]}}), "secret"),
    (quota(dsn=[SECRET]), "dsn"),
])
def test_a_quota_type_error_names_the_key_and_hides_the_value(data, key):
    with pytest.raises(quota_config.ConfigError) as error:
        quota_config.parse(data)
    assert key in str(error.value)
    assert SECRET not in str(error.value)


@pytest.mark.parametrize("data, key", [
    (quota(enforce={"source_address": SECRET}), "enforce.source_address"),
    (quota(routers={"gw1": {"secret": "s" * 20, "source_address": SECRET}}),
     "routers.gw1.source_address"),
    (quota(close_stale={"interim_interval": SECRET}), "close_stale.interim_interval"),
    (quota(retention={"mode": SECRET}), "retention.mode"),
    (quota(alerts={"quota_percent": [80, SECRET]}), "alerts.quota_percent"),
])
def test_a_secret_pasted_into_a_text_key_is_named_by_the_key_not_shown(data, key):
    with pytest.raises(quota_config.ConfigError) as error:
        quota_config.parse(data)
    assert str(error.value).startswith(f"{key}: ")
    assert SECRET not in str(error.value)


@pytest.mark.parametrize("values", [["80"], [0, 95], [True], [2.5]])
def test_alert_thresholds_are_positive_integers_or_refused_at_load(values):
    # else the alerts job would fail on its first comparison, after the run started
    with pytest.raises(quota_config.ConfigError,
                       match=r"alerts\.expiry_days: expected a list of positive integers"):
        quota_config.parse(quota(alerts={"expiry_days": values}))
    assert quota_config.parse(quota(alerts={"expiry_days": [14, 3]})).default_expiry_days == (
        14, 3)


def test_a_type_error_says_what_was_found_instead():
    with pytest.raises(quota_config.ConfigError, match=r"smtp\.password: expected str, got a list"):
        quota_config.parse(quota(smtp={"password": [SECRET]}))


def test_a_portal_type_error_hides_the_value_whatever_the_key():
    data = {"dsn": "host=db", "session_secret": "s" * 40,
            "radius": {"server": "10.0.0.1", "secret": "r" * 20},
            "smtp": {"password": [SECRET]}}
    with pytest.raises(portal_config.ConfigError) as error:
        portal_config.parse(data)
    assert SECRET not in str(error.value)


def test_the_portal_and_the_jobs_share_one_error_type():
    assert portal_config.ConfigError is quota_config.ConfigError
