import pytest
from ansible_collections.captiva.campus.plugins.module_utils.captiva_units import (
    UnitError,
    format_duration,
    format_rate,
    format_size,
    parse_duration,
    parse_rate,
    parse_size,
)


@pytest.mark.parametrize("text, expected", [
    ("5GiB", 5 * 2**30),
    ("5GB", 5 * 10**9),
    ("100GiB", 107374182400),  # far above 2^32: must stay exact
    ("1.5GiB", 1610612736),
    ("512MiB", 512 * 2**20),
    ("500MB", 500 * 10**6),
    ("1KB", 1000),
    ("1KiB", 1024),
    ("2TiB", 2 * 2**40),
    ("42B", 42),
    ("1024", 1024),
    (1024, 1024),
])
def test_sizes_are_exact_integers(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["5Gb", "5 gib", "GiB", "-1GiB", "1.3B", True, 1.5, "5G"])
def test_bad_sizes_are_refused(text):
    with pytest.raises(UnitError):
        parse_size(text)


@pytest.mark.parametrize("text, expected", [
    ("10M", 10_000_000), ("512k", 512_000), ("1G", 10**9), ("1.5M", 1_500_000), ("64000", 64000),
])
def test_rates_are_bits_per_second(text, expected):
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["10Mbps", "10m", "1K", "fast"])
def test_bad_rates_are_refused(text):
    with pytest.raises(UnitError):
        parse_rate(text)


@pytest.mark.parametrize("text, expected", [
    ("30s", 30), ("10m", 600), ("8h", 28800), ("1d", 86400), ("1h30m", 5400), ("600", 600),
    (600, 600), ("2w", 1209600),
])
def test_durations_are_seconds(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["8 hours", "1h30", "h", "10x", "1.5h"])
def test_bad_durations_are_refused(text):
    with pytest.raises(UnitError):
        parse_duration(text)


def test_formats_round_trip():
    assert format_rate(10_000_000) == "10M"
    assert format_rate(512_000) == "512k"
    assert format_rate(1_500_000) == "1500k"
    assert format_duration(28800) == "8h"
    assert format_duration(5400) == "1h30m"
    assert format_size(5 * 2**30) == "5GiB"
    for seconds in (1, 59, 61, 3600, 90061):
        assert parse_duration(format_duration(seconds)) == seconds
