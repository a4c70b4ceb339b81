"""close_stale.interim_interval takes the inventory's captiva_interim_interval as written, in
the roster's own duration syntax (captiva_units.parse_duration is the oracle)."""

import pytest
from ansible_collections.captiva.campus.plugins.module_utils.captiva_units import (
    UnitError,
    parse_duration,
)

from captiva.runtime.jobs_config import ConfigError, parse

VALID = [300, 1, "300", "5m", "30m", "1h", "1h30m", "90s", "1d", "2w", "1h 30m", "1m30s"]
INVALID = ["", "5 minutes", "m", "1.5m", "-5m", "5M", True, 1.5, None, [300]]


def interim(value):
    return parse({"dsn": "dbname=x", "close_stale": {"interim_interval": value}}).interim_interval


@pytest.mark.parametrize("value", VALID)
def test_the_roster_durations_are_read_as_the_roster_reads_them(value):
    assert interim(value) == parse_duration(value)


@pytest.mark.parametrize("value", INVALID)
def test_what_the_roster_refuses_is_refused_naming_the_key(value):
    with pytest.raises(UnitError):
        parse_duration(value)
    with pytest.raises(ConfigError, match=r"close_stale\.interim_interval"):
        interim(value)


@pytest.mark.parametrize("value", [0, "0", "0m", -300])
def test_zero_or_negative_is_refused(value):
    with pytest.raises(ConfigError, match=r"close_stale\.interim_interval"):
        interim(value)


def test_default_is_five_minutes():
    assert parse({"dsn": "dbname=x"}).interim_interval == 300
