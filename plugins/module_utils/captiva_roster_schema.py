"""Schema checkers for the roster: small functions that check and normalise one value.

Each checker takes ``(value, path, errors)`` and returns the normalised value, or
:data:`INVALID` after appending a :class:`RosterError` (a YAML path and a reason). They never
raise, so validation reports **every** error. :func:`record` and :func:`list_of` compose them
into the roster's shape (``captiva_roster.py``).

Pure Python, no Ansible imports beyond the sibling ``captiva_units``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

try:
    import zoneinfo
except ImportError:  # pragma: no cover - Python < 3.9 is not supported by Captiva
    zoneinfo = None

from ansible_collections.captiva.campus.plugins.module_utils.captiva_units import (
    UnitError,
    parse_duration,
    parse_rate,
    parse_size,
)

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
LANGUAGES = ("fr", "en")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_USERNAME = re.compile(r"^[A-Za-z0-9._@+-]{1,64}$")
_EMAIL = re.compile(r"^[^@\s\"'<>]+@[^@\s\"'<>]+\.[A-Za-z]{2,}$")
_DNS_NAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                       r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


@dataclasses.dataclass(frozen=True)
class RosterError:
    """One problem in the roster: where (a YAML path) and why."""

    path: str
    reason: str

    def render(self, locator: Any = None) -> str:
        """``file:line: path: reason`` when ``locator`` (a Locator) finds the path."""
        where = locator.locate(self.path) if locator else None
        return f"{where}: {self.path}: {self.reason}" if where else f"{self.path}: {self.reason}"


# --------------------------------------------------------------------------------------------
# Field checkers

INVALID = object()
Checker = Callable[[Any, str, list], Any]


def fail(errors: list, path: str, reason: str) -> object:
    errors.append(RosterError(path, reason))
    return INVALID


def type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", bool: "a boolean", int: "an integer",
            str: "a string", type(None): "null"}.get(type(value), type(value).__name__)


def text(value, path, errors):
    if not isinstance(value, str):
        return fail(errors, path, f"expected a string, got {type_name(value)}")
    return value


def secret(value, path, errors):
    # Vaulted values arrive already decrypted as strings.
    if not isinstance(value, str) or not value:
        return fail(errors, path, "expected a non-empty string (use Ansible Vault)")
    return value


def boolean(value, path, errors):
    if not isinstance(value, bool):
        return fail(errors, path, f"expected true or false, got {value!r}")
    return value


def name(value, path, errors):
    if not isinstance(value, str) or not _NAME.match(value):
        return fail(
            errors, path,
            f"invalid name {value!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
        )
    return value


def username(value, path, errors):
    if not isinstance(value, str):
        return fail(errors, path, f"expected a string, got {type_name(value)}")
    if not _USERNAME.match(value) or len(value.encode()) > 64:
        return fail(
            errors, path,
            f"invalid username {value!r}: use 1-64 letters, digits or '.', '_', '-', '@', '+' "
            "(no spaces, quotes or control characters)",
        )
    return value


def email(value, path, errors):
    if not isinstance(value, str) or not _EMAIL.match(value):
        return fail(errors, path, f"invalid email address {value!r}")
    return value


def language(value, path, errors):
    if value not in LANGUAGES:
        return fail(errors, path, f"unknown language {value!r}: expected one of fr, en")
    return value


def timezone(value, path, errors):
    if not isinstance(value, str) or value not in _timezones():
        return fail(errors, path, f"unknown timezone {value!r}: expected an IANA name "
                                   "such as 'Africa/Douala'" + suggest(value, _timezones()))
    return value


def zone(name: str) -> dt.tzinfo:
    """The IANA timezone ``name`` (checked by :func:`timezone`): the one place the roster's
    code reads zoneinfo."""
    return zoneinfo.ZoneInfo(name)


_TZ_CACHE: set[str] = set()


def _timezones() -> set[str]:
    if not _TZ_CACHE:
        _TZ_CACHE.update(zoneinfo.available_timezones())
    return _TZ_CACHE


def weekday(value, path, errors):
    if isinstance(value, str) and value.lower() in WEEKDAYS:
        return WEEKDAYS.index(value.lower()) + 1
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 7:
        return value
    return fail(errors, path, f"invalid week start {value!r}: expected a day name "
                               "(monday ... sunday) or an ISO weekday 1-7")


def _unit(parse: Callable[[object], int]) -> Checker:
    def check(value, path, errors):
        try:
            return parse(value)
        except UnitError as exc:
            return fail(errors, path, str(exc))
    return check


size, rate, duration = _unit(parse_size), _unit(parse_rate), _unit(parse_duration)


def positive(check: Checker, what: str = "value") -> Checker:
    def wrapped(value, path, errors):
        result = check(value, path, errors)
        if result is not INVALID and result <= 0:
            return fail(errors, path, f"{what} must be greater than zero")
        return result
    return wrapped


def integer(low: int, high: int | None = None) -> Checker:
    def check(value, path, errors):
        if isinstance(value, bool) or not isinstance(value, int):
            return fail(errors, path, f"expected an integer, got {value!r}")
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            return fail(errors, path, f"{value} is out of range: must be {bound}")
        return value
    return check


def simultaneous(value, path, errors):
    if value == "unlimited":
        return None
    return integer(1)(value, path, errors)


def date_or_datetime(value, path, errors):
    if isinstance(value, (dt.date, dt.datetime)):
        return value
    if isinstance(value, str):
        for parse in (dt.date.fromisoformat, dt.datetime.fromisoformat):
            try:
                return parse(value)
            except ValueError:
                continue
    return fail(errors, path, f"invalid date {value!r}: expected YYYY-MM-DD")


def address(value, path, errors):
    import netaddr

    try:
        return str(netaddr.IPAddress(str(value), flags=netaddr.INET_PTON))
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return fail(errors, path, f"invalid IP address {value!r}")


def dns_name(value, path, errors):
    if not isinstance(value, str) or not _DNS_NAME.match(value):
        return fail(errors, path, f"invalid DNS name {value!r}")
    return value


def port(value, path, errors):
    return integer(1, 65535)(value, path, errors)


def radius_secret(value, path, errors):
    value = secret(value, path, errors)
    if value is not INVALID and len(value) < 16:
        return fail(errors, path, "RADIUS secret too short: use at least 16 characters")
    return value


def list_of(check: Checker, *, unique: bool = False) -> Checker:
    def wrapped(value, path, errors):
        if not isinstance(value, list):
            return fail(errors, path, f"expected a list, got {type_name(value)}")
        out = [check(item, f"{path}[{i}]", errors) for i, item in enumerate(value)]
        if unique and len({v for v in out if v is not INVALID}) != len(out):
            return fail(errors, path, "duplicate values")
        return INVALID if INVALID in out else out
    return wrapped


def unique_records(items: list, key: str, check: Checker, id_field: str, errors: list,
                   what: str | None = None):
    """Each record of ``items`` (the list at YAML path ``key``) that ``check`` accepts as
    a mapping with a string ``id_field``: (index, path, record), the first of each
    identifier only; a later one is an error naming the first ("duplicate <what> ...",
    ``what`` by default the field's name)."""
    seen: dict[str, int] = {}
    for i, raw in enumerate(items):
        path = f"{key}[{i}]"
        item = check(raw, path, errors)
        if item is INVALID or not isinstance(item.get(id_field), str):
            continue
        ident = item[id_field]
        if ident in seen:
            fail(errors, f"{path}.{id_field}", f"duplicate {what or id_field} {ident!r} "
                                               f"(already used by {key}[{seen[ident]}])")
            continue
        seen[ident] = i
        yield i, path, item


def one_of(*choices: str) -> Checker:
    def check(value, path, errors):
        if value not in choices:
            return fail(errors, path, f"invalid value {value!r}: expected one of "
                                       + ", ".join(choices) + suggest(value, choices))
        return value
    return check


@dataclasses.dataclass(frozen=True)
class Field:
    check: Checker
    required: bool = False
    default: Any = None


def record(fields: Mapping[str, Field]) -> Checker:
    """A mapping with known keys: unknown keys and missing required keys are errors.

    The result is the normalised mapping even when some fields failed (they hold INVALID),
    so cross-field checks can still run and report *every* error; only a value that is not a
    mapping at all is INVALID as a whole.
    """

    def check(value, path, errors):
        if not isinstance(value, dict):
            return fail(errors, path, f"expected a mapping, got {type_name(value)}")
        out: dict[str, Any] = {}
        for key in value:
            if key not in fields:
                fail(errors, f"{path}.{key}", "unknown key" + suggest(key, fields))
        for key, field in fields.items():
            raw = value.get(key)
            if raw is None:
                if field.required:
                    fail(errors, f"{path}.{key}", "required key is missing")
                out[key] = INVALID if field.required else field.default
                continue
            out[key] = field.check(raw, f"{path}.{key}", errors)
        return out

    return check


def suggest(word: Any, choices: Iterable[str]) -> str:
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""
