"""Units used in the roster: sizes (bytes), rates (bits per second), durations (seconds).

Every value is parsed once, here, into an exact integer. Nothing else in Captiva parses units.

- Sizes: ``B``, decimal ``KB MB GB TB`` (powers of 1000) and binary ``KiB MiB GiB TiB``
  (powers of 1024). ``5GiB`` is 5368709120 bytes, ``5GB`` is 5000000000 bytes.
- Rates, RouterOS style, decimal: ``k`` (1000), ``M`` (10^6), ``G`` (10^9) bits per second.
- Durations: ``s m h d w`` and combinations such as ``1h30m``; a bare integer is seconds.

A bare integer is accepted everywhere and means bytes, bits/s or seconds.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

SIZE_UNITS = {
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "TB": 1000**4,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
    "TiB": 1024**4,
}
RATE_UNITS = {"": 1, "k": 1000, "M": 1000**2, "G": 1000**3}
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

_NUMBER_UNIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")
_DURATION_PART = re.compile(r"(\d+)([smhdw])")


class UnitError(ValueError):
    """A value that does not parse; the message is meant for the admin."""


def _exact(number: str, factor: int, text: str, what: str) -> int:
    try:
        value = Decimal(number) * factor
    except InvalidOperation as exc:  # pragma: no cover - the regex only lets digits through
        raise UnitError(f"invalid {what} {text!r}") from exc
    if value != value.to_integral_value():
        raise UnitError(f"invalid {what} {text!r}: not a whole number of {_BASE[what]}")
    return int(value)


_BASE = {"size": "bytes", "rate": "bits per second", "duration": "seconds"}


def _as_text(value: object, what: str) -> str | int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise UnitError(f"invalid {what} {value!r}: expected a string such as {_EXAMPLE[what]}")
    if isinstance(value, int):
        if value < 0:
            raise UnitError(f"invalid {what} {value!r}: must not be negative")
        return value
    return value


_EXAMPLE = {"size": "'5GiB'", "rate": "'10M'", "duration": "'8h'"}


def parse_size(value: object) -> int:
    """Bytes from ``5GiB`` / ``500MB`` / ``1024`` (exact integer)."""
    text = _as_text(value, "size")
    if isinstance(text, int):
        return text
    match = _NUMBER_UNIT.match(text)
    if not match or match.group(2) not in SIZE_UNITS and match.group(2) != "":
        raise UnitError(
            f"invalid size {text!r}: expected a number and a unit among "
            "B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)"
        )
    return _exact(match.group(1), SIZE_UNITS.get(match.group(2), 1), text, "size")


def parse_rate(value: object) -> int:
    """Bits per second from ``10M`` / ``512k`` / ``1G`` / ``64000``."""
    text = _as_text(value, "rate")
    if isinstance(text, int):
        return text
    match = _NUMBER_UNIT.match(text)
    if not match or match.group(2) not in RATE_UNITS:
        raise UnitError(
            f"invalid rate {text!r}: expected bits per second with an optional unit "
            "k (10^3), M (10^6) or G (10^9), e.g. '10M'"
        )
    return _exact(match.group(1), RATE_UNITS[match.group(2)], text, "rate")


def parse_duration(value: object) -> int:
    """Seconds from ``30s`` / ``10m`` / ``8h`` / ``1d`` / ``1h30m`` / ``600``."""
    text = _as_text(value, "duration")
    if isinstance(text, int):
        return text
    compact = text.replace(" ", "")
    if compact.isdigit():
        return int(compact)
    parts = _DURATION_PART.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise UnitError(
            f"invalid duration {text!r}: expected e.g. '30s', '10m', '8h', '1d' or '1h30m'"
        )
    return sum(int(n) * DURATION_UNITS[u] for n, u in parts)


def format_rate(bits_per_second: int) -> str:
    """RouterOS-style compact rate: 10000000 -> '10M', 512000 -> '512k'."""
    for unit in ("G", "M", "k"):
        factor = RATE_UNITS[unit]
        if bits_per_second >= factor and bits_per_second % factor == 0:
            return f"{bits_per_second // factor}{unit}"
    return str(bits_per_second)


def format_duration(seconds: int) -> str:
    """Compact duration: 28800 -> '8h', 5400 -> '1h30m', 0 -> '0s'."""
    if seconds == 0:
        return "0s"
    out = []
    for unit in ("w", "d", "h", "m", "s"):
        factor = DURATION_UNITS[unit]
        if seconds >= factor:
            out.append(f"{seconds // factor}{unit}")
            seconds %= factor
    return "".join(out)


def format_size(n_bytes: int) -> str:
    """Human size in binary units, exact when it can be: 5368709120 -> '5GiB'."""
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        factor = SIZE_UNITS[unit]
        if n_bytes >= factor and n_bytes % factor == 0:
            return f"{n_bytes // factor}{unit}"
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        factor = SIZE_UNITS[unit]
        if n_bytes >= factor:
            return f"{n_bytes / factor:.1f}{unit}"
    return f"{n_bytes}B"
