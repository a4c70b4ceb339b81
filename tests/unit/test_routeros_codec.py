"""routeros-sim's wire codec, query stack and value forms, at function level."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

from routeros_sim import model, protocol  # noqa: E402

LENGTHS = [
    (0, b"\x00"),
    (0x7F, b"\x7f"),
    (0x80, b"\x80\x80"),
    (0x3FFF, b"\xbf\xff"),
    (0x4000, b"\xc0\x40\x00"),
    (0x1FFFFF, b"\xdf\xff\xff"),
    (0x200000, b"\xe0\x20\x00\x00"),
    (0xFFFFFFF, b"\xef\xff\xff\xff"),
    (0x10000000, b"\xf0\x10\x00\x00\x00"),
    (0xFFFFFFFF, b"\xf0\xff\xff\xff\xff"),
]


@pytest.mark.parametrize(("length", "encoded"), LENGTHS)
def test_length_forms_round_trip(length, encoded):
    assert protocol.encode_length(length) == encoded
    assert protocol.length_size(encoded[0]) == len(encoded)
    assert protocol.decode_length(encoded) == length


def test_librouteros_agrees_on_four_byte_forms():
    from librouteros.protocol import decode_length, encode_length

    for length, encoded in LENGTHS[:-2]:
        assert encode_length(length) == encoded
        assert decode_length(encoded) == length


@pytest.mark.parametrize("first", [0xF8, 0xFC, 0xFF])
def test_control_bytes_are_not_lengths(first):
    with pytest.raises(protocol.ProtocolError, match="control byte"):
        protocol.length_size(first)


def test_length_beyond_32_bits_is_refused():
    with pytest.raises(ValueError, match="32-bit"):
        protocol.encode_length(0x100000000)


def test_sentence_round_trip_with_every_size():
    words = ["/ip/hotspot/user/print", "=comment=" + "é" * 100, "x" * 0x5000, "?name"]
    stream = io.BytesIO(protocol.encode_sentence(words) + protocol.encode_sentence(["!done"]))
    assert protocol.read_sentence(stream.read) == words
    assert protocol.read_sentence(stream.read) == ["!done"]


ROWS = [{".id": "*1", "name": "a", "rate": "10", "disabled": "false"},
        {".id": "*2", "name": "b", "rate": "200", "comment": "x"},
        {".id": "*3", "name": "c", "rate": "30", "disabled": "true"}]


@pytest.mark.parametrize(("queries", "ids"), [
    ([], ["*1", "*2", "*3"]),
    (["?name=a"], ["*1"]),
    (["?=name=b"], ["*2"]),
    (["?comment"], ["*2"]),
    (["?-comment"], ["*1", "*3"]),
    (["?<rate=30"], ["*1"]),  # numeric compare: 200 is not < 30
    (["?>rate=10"], ["*2", "*3"]),
    (["?name=a", "?name=c", "?#|"], ["*1", "*3"]),
    (["?name=a", "?#!"], ["*2", "*3"]),
    (["?disabled=true", "?name=c", "?#&"], ["*3"]),
    (["?name=a", "?name=b", "?#|!"], ["*3"]),
    (["?name=a", "?#.|"], ["*1"]),  # duplicate top, OR with itself
    (["?name=b", "?name=zz", "?#1|"], ["*2"]),  # push a copy of index 1 (from the top), OR
])
def test_query_stack(queries, ids):
    assert [r[".id"] for r in ROWS if model.query_matches(queries, r)] == ids


def test_query_stack_starts_as_infinite_true():
    """help.mikrotik.com "API", "Queries": initially an infinite amount of true values."""
    assert model.query_matches(["?#|"], ROWS[0])
    assert model.query_matches(["?#&&&"], ROWS[0])
    assert not model.query_matches(["?#!"], ROWS[0])
    with pytest.raises(model.Trap, match="unknown query operator"):
        model.query_matches(["?#x"], ROWS[0])


@pytest.mark.parametrize(("kind", "raw", "printed"), [
    ("bool", "yes", "true"), ("bool", "no", "false"), ("bool", "true", "true"),
    ("duration", "3600", "1h"), ("duration", "01:00:00", "1h"), ("duration", "1h30m", "1h30m"),
    ("duration", "90m", "1h30m"), ("duration", "300ms", "300ms"), ("duration", "none", "none"),
    ("rate", "2000k/10000000", "2M/10M"), ("rate", "64k/128M", "64k/128M"),
    ("int", "0042", "42"), ("int", "unlimited", "unlimited"),
])
def test_values_are_stored_as_routeros_prints_them(kind, raw, printed):
    assert model.Field("f", kind).canonical(raw) == printed


@pytest.mark.parametrize(("kind", "raw"), [("bool", "maybe"), ("duration", "soon"),
                                           ("int", "12x"), ("rate", "fast/slow")])
def test_invalid_values_are_traps(kind, raw):
    with pytest.raises(model.Trap, match="invalid"):
        model.Field("f", kind).canonical(raw)
