"""The roster: validation, effective policy and compilation into desired state.

Pure Python, no Ansible imports: pytest imports this file directly and the
``captiva_roster`` action plugin calls it on the controller.

Three steps, each a plain function:

``validate(variables)``
    Checks every profile, promotion, user and site, collects **every** error (never just the
    first) and returns a normalised :class:`Roster` (units parsed to exact integers) or the
    errors. Each error has a YAML path such as ``captiva_users[41].promotion``; a
    :class:`Locator` turns that path into ``file:line``.
``effective policy``
    A user's profile is their own, else their promotion's, else ``captiva-default`` (built from
    ``captiva_default_profile``). A user is active when enabled, their promotion's WiFi is on
    and the account has not expired.
``compile_roster(roster, now, activations)``
    The desired state later modules apply: RADIUS group and user rows, Captiva's own table
    rows, FreeRADIUS NAS clients and each router's RouterOS configuration.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

try:
    import zoneinfo
except ImportError:  # pragma: no cover - Python < 3.9 is not supported by Captiva
    zoneinfo = None

from ansible.module_utils.captiva_units import (
    UnitError,
    format_duration,
    format_rate,
    parse_duration,
    parse_rate,
    parse_size,
)

MANAGED_BY = "captiva"
DEFAULT_PROFILE = "captiva-default"
RESERVED_PREFIX = "captiva-"

# Inactive users join one of these groups instead of their profile's; each rejects with a
# message the hotspot login page shows (French first: the campuses' language).
STATUS_GROUPS = {
    "disabled": (
        "captiva-disabled",
        "Compte WiFi desactive / WiFi account disabled. Contactez le service informatique.",
    ),
    "wifi-off": (
        "captiva-wifi-off",
        "WiFi suspendu pour votre promotion / WiFi is switched off for your promotion.",
    ),
    "expired": (
        "captiva-expired",
        "Compte WiFi expire / WiFi account expired. Contactez le service informatique.",
    ),
}
PASSWORD_ATTRIBUTES = ("Cleartext-Password", "Crypt-Password")
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
LANGUAGES = ("fr", "en")
LOGIN_METHODS = ("http-chap", "http-pap", "https", "cookie", "mac-cookie", "mac", "trial")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_USERNAME = re.compile(r"^[A-Za-z0-9._@+-]{1,64}$")
_EMAIL = re.compile(r"^[^@\s\"'<>]+@[^@\s\"'<>]+\.[A-Za-z]{2,}$")
_SHA512_CRYPT = re.compile(r"^\$6\$(rounds=\d+\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{86}$")
_DNS_NAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                       r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


# --------------------------------------------------------------------------------------------
# Errors and locations


@dataclasses.dataclass(frozen=True)
class RosterError:
    """One problem in the roster: where (a YAML path) and why."""

    path: str
    reason: str

    def render(self, locator: Locator | None = None) -> str:
        where = locator.locate(self.path) if locator else None
        return f"{where}: {self.path}: {self.reason}" if where else f"{self.path}: {self.reason}"


class RosterInvalid(Exception):
    def __init__(self, errors: list[RosterError]):
        super().__init__(f"{len(errors)} roster error(s)")
        self.errors = errors


_PATH_PART = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


def split_path(path: str) -> list[str | int]:
    """``captiva_users[41].promotion`` -> ``['captiva_users', 41, 'promotion']``."""
    return [int(index) if index else key for key, index in _PATH_PART.findall(path)]


class Locator:
    """Maps YAML paths to ``file:line`` by composing the inventory's YAML files.

    ``files`` are given in Ansible's precedence order (later files override earlier ones),
    so a variable is located in the last file that defines it. Composing only builds the node
    tree (tags such as ``!vault`` stay opaque), and it is done lazily, only when an error
    must be shown.
    """

    def __init__(self, files: Iterable[str], display_root: str | None = None):
        self._files = list(files)
        self._root = display_root
        self._vars: dict[str, tuple[str, Any]] | None = None

    def _load(self) -> dict[str, tuple[str, Any]]:
        import os

        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        found: dict[str, tuple[str, Any]] = {}
        for name in self._files:
            try:
                with open(name, encoding="utf-8") as handle:
                    node = yaml.compose(handle, Loader=loader)
            except (OSError, yaml.YAMLError, UnicodeDecodeError):
                continue  # a vault-encrypted or unreadable file: errors show no line
            if not isinstance(node, yaml.MappingNode):
                continue
            shown = name
            if self._root and os.path.abspath(name).startswith(self._root.rstrip("/") + "/"):
                shown = os.path.relpath(name, self._root)
            for key, value in node.value:
                found[str(key.value)] = (shown, (key, value))
        return found

    def locate(self, path: str) -> str | None:
        import yaml

        if self._vars is None:
            self._vars = self._load()
        parts = split_path(path)
        if not parts or parts[0] not in self._vars:
            return None
        shown, (key_node, node) = self._vars[parts[0]]
        line = key_node.start_mark.line + 1
        for part in parts[1:]:
            if isinstance(part, int) and isinstance(node, yaml.SequenceNode):
                if part >= len(node.value):
                    break
                node = node.value[part]
                line = node.start_mark.line + 1
            elif isinstance(part, str) and isinstance(node, yaml.MappingNode):
                match = [(k, v) for k, v in node.value if str(k.value) == part]
                if not match:
                    break
                key_node, node = match[-1]
                line = key_node.start_mark.line + 1
            else:
                break
        return f"{shown}:{line}"


# --------------------------------------------------------------------------------------------
# Field checkers. Each takes (value, path, errors) and returns the normalised value, or
# INVALID after appending an error. They never raise.

INVALID = object()
Checker = Callable[[Any, str, list], Any]


def _fail(errors: list, path: str, reason: str) -> object:
    errors.append(RosterError(path, reason))
    return INVALID


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", bool: "a boolean", int: "an integer",
            str: "a string", type(None): "null"}.get(type(value), type(value).__name__)


def text(value, path, errors):
    if not isinstance(value, str):
        return _fail(errors, path, f"expected a string, got {_type_name(value)}")
    return value


def secret(value, path, errors):
    # Vaulted values arrive already decrypted as strings.
    if not isinstance(value, str) or not value:
        return _fail(errors, path, "expected a non-empty string (use Ansible Vault)")
    return value


def boolean(value, path, errors):
    if not isinstance(value, bool):
        return _fail(errors, path, f"expected true or false, got {value!r}")
    return value


def name(value, path, errors):
    if not isinstance(value, str) or not _NAME.match(value):
        return _fail(
            errors, path,
            f"invalid name {value!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
        )
    return value


def username(value, path, errors):
    if not isinstance(value, str):
        return _fail(errors, path, f"expected a string, got {_type_name(value)}")
    if not _USERNAME.match(value) or len(value.encode()) > 64:
        return _fail(
            errors, path,
            f"invalid username {value!r}: use 1-64 letters, digits or '.', '_', '-', '@', '+' "
            "(no spaces, quotes or control characters)",
        )
    return value


def email(value, path, errors):
    if not isinstance(value, str) or not _EMAIL.match(value):
        return _fail(errors, path, f"invalid email address {value!r}")
    return value


def language(value, path, errors):
    if value not in LANGUAGES:
        return _fail(errors, path, f"unknown language {value!r}: expected one of fr, en")
    return value


def timezone(value, path, errors):
    if not isinstance(value, str) or value not in _timezones():
        return _fail(errors, path, f"unknown timezone {value!r}: expected an IANA name "
                                   "such as 'Africa/Douala'" + _suggest(value, _timezones()))
    return value


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
    return _fail(errors, path, f"invalid week start {value!r}: expected a day name "
                               "(monday ... sunday) or an ISO weekday 1-7")


def _unit(parse: Callable[[object], int]) -> Checker:
    def check(value, path, errors):
        try:
            return parse(value)
        except UnitError as exc:
            return _fail(errors, path, str(exc))
    return check


size, rate, duration = _unit(parse_size), _unit(parse_rate), _unit(parse_duration)


def positive(check: Checker, what: str = "value") -> Checker:
    def wrapped(value, path, errors):
        result = check(value, path, errors)
        if result is not INVALID and result <= 0:
            return _fail(errors, path, f"{what} must be greater than zero")
        return result
    return wrapped


def integer(low: int, high: int | None = None) -> Checker:
    def check(value, path, errors):
        if isinstance(value, bool) or not isinstance(value, int):
            return _fail(errors, path, f"expected an integer, got {value!r}")
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            return _fail(errors, path, f"{value} is out of range: must be {bound}")
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
    return _fail(errors, path, f"invalid date {value!r}: expected YYYY-MM-DD")


def address(value, path, errors):
    import netaddr

    try:
        return str(netaddr.IPAddress(str(value), flags=netaddr.INET_PTON))
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return _fail(errors, path, f"invalid IP address {value!r}")


def dns_name(value, path, errors):
    if not isinstance(value, str) or not _DNS_NAME.match(value):
        return _fail(errors, path, f"invalid DNS name {value!r}")
    return value


def port(value, path, errors):
    return integer(1, 65535)(value, path, errors)


def radius_secret(value, path, errors):
    value = secret(value, path, errors)
    if value is not INVALID and len(value) < 16:
        return _fail(errors, path, "RADIUS secret too short: use at least 16 characters")
    return value


def list_of(check: Checker, *, unique: bool = False) -> Checker:
    def wrapped(value, path, errors):
        if not isinstance(value, list):
            return _fail(errors, path, f"expected a list, got {_type_name(value)}")
        out = [check(item, f"{path}[{i}]", errors) for i, item in enumerate(value)]
        if unique and len({v for v in out if v is not INVALID}) != len(out):
            return _fail(errors, path, "duplicate values")
        return INVALID if INVALID in out else out
    return wrapped


def one_of(*choices: str) -> Checker:
    def check(value, path, errors):
        if value not in choices:
            return _fail(errors, path, f"invalid value {value!r}: expected one of "
                                       + ", ".join(choices) + _suggest(value, choices))
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
            return _fail(errors, path, f"expected a mapping, got {_type_name(value)}")
        out: dict[str, Any] = {}
        for key in value:
            if key not in fields:
                _fail(errors, f"{path}.{key}", "unknown key" + _suggest(key, fields))
        for key, field in fields.items():
            raw = value.get(key)
            if raw is None:
                if field.required:
                    _fail(errors, f"{path}.{key}", "required key is missing")
                out[key] = INVALID if field.required else field.default
                continue
            out[key] = field.check(raw, f"{path}.{key}", errors)
        return out

    return check


def _suggest(word: Any, choices: Iterable[str]) -> str:
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --------------------------------------------------------------------------------------------
# The roster's shape

BANDWIDTH = record({"upload": Field(positive(rate, "rate")),
                    "download": Field(positive(rate, "rate"))})
QUOTA = record({p: Field(positive(size, "quota")) for p in ("daily", "weekly", "monthly", "total")})
ALERTS = record({
    "quota_percent": Field(list_of(integer(1, 100), unique=True)),
    "expiry_days": Field(list_of(integer(0, 365), unique=True)),
})
PROFILE_FIELDS = {
    "name": Field(name, required=True),
    "description": Field(text, default=""),
    "bandwidth": Field(BANDWIDTH),
    "quota": Field(QUOTA),
    "session_timeout": Field(positive(duration, "timeout")),
    "idle_timeout": Field(positive(duration, "timeout")),
    "simultaneous_use": Field(simultaneous),
    "validity_days": Field(integer(1, 36500)),
    "alerts": Field(ALERTS),
}
PROFILE = record(PROFILE_FIELDS)
DEFAULT_PROFILE_CHECK = record({k: v for k, v in PROFILE_FIELDS.items() if k != "name"})
PROMOTION = record({
    "name": Field(name, required=True),
    "description": Field(text, default=""),
    "profile": Field(name),
    "wifi_enabled": Field(boolean, default=True),
})
USER = record({
    "username": Field(username, required=True),
    "first_name": Field(text, default=""),
    "last_name": Field(text, default=""),
    "email": Field(email),
    "language": Field(language),
    "promotion": Field(name),
    "profile": Field(name),
    "enabled": Field(boolean, default=True),
    "password": Field(secret),
    "password_hash": Field(secret),
    "activated": Field(date_or_datetime),
    "expires": Field(date_or_datetime),
})
ROUTER = record({
    "name": Field(name, required=True),
    "address": Field(address, required=True),
    "radius_secret": Field(radius_secret, required=True),
    "coa_port": Field(port, default=3799),
    "api": Field(record({
        "host": Field(text),
        "port": Field(port),
        "tls": Field(boolean, default=False),
        "validate_certs": Field(boolean, default=True),
        "username": Field(text, required=True),
        "password": Field(secret, required=True),
    }), required=True),
    "hotspot": Field(record({
        "dns_name": Field(dns_name),
        "profile": Field(name, default="captiva"),
    }), default={"dns_name": None, "profile": "captiva"}),
})
SITE = record({
    "name": Field(name, required=True),
    "description": Field(text, default=""),
    "timezone": Field(timezone),
    "week_start": Field(weekday),
    "month_start_day": Field(integer(1, 28)),
    "routers": Field(list_of(ROUTER), default=[]),
})
SETTINGS = {
    "captiva_timezone": Field(timezone, required=True),
    "captiva_week_start": Field(weekday, required=True),
    "captiva_month_start_day": Field(integer(1, 28), required=True),
    "captiva_interim_interval": Field(positive(duration, "interval"), required=True),
    "captiva_language": Field(language, required=True),
    "captiva_password_storage": Field(one_of("hashed", "cleartext"), required=True),
    "captiva_password_min_length": Field(integer(6, 128), required=True),
    "captiva_hotspot_login_by": Field(list_of(one_of(*LOGIN_METHODS), unique=True),
                                      required=True),
    "captiva_alerts": Field(ALERTS, required=True),
    "captiva_default_profile": Field(DEFAULT_PROFILE_CHECK, required=True),
    "captiva_radius_servers": Field(list_of(address, unique=True), required=True),
    "captiva_radius_timeout": Field(positive(duration, "timeout"), required=True),
    "captiva_portal": Field(record({
        "address": Field(address, required=True),
        "dns_name": Field(dns_name, required=True),
    }), required=True),
}
ROSTER_LISTS = ("captiva_profiles", "captiva_promotions", "captiva_users", "captiva_sites")


@dataclasses.dataclass
class Roster:
    """A validated roster: plain dicts with units parsed, plus the settings."""

    settings: dict[str, Any]
    profiles: dict[str, dict]
    promotions: dict[str, dict]
    users: list[dict]
    sites: dict[str, dict]


# --------------------------------------------------------------------------------------------
# Validation


def validate(variables: Mapping[str, Any]) -> tuple[Roster | None, list[RosterError]]:
    """Validate the roster variables; return ``(roster, [])`` or ``(None, errors)``."""
    errors: list[RosterError] = []
    settings = {}
    for key, field in SETTINGS.items():
        raw = variables.get(key)
        if raw is None:
            _fail(errors, key, "required setting is missing (see group_vars/all.yml)")
            settings[key] = INVALID
        else:
            settings[key] = field.check(raw, key, errors)

    lists = {}
    for key in ROSTER_LISTS:
        raw = variables.get(key)
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            _fail(errors, key, f"expected a list, got {_type_name(raw)}")
            raw = []
        lists[key] = raw

    profiles = _unique_items(lists["captiva_profiles"], "captiva_profiles", PROFILE, "name",
                             errors)
    promotions = _unique_items(lists["captiva_promotions"], "captiva_promotions", PROMOTION,
                               "name", errors)
    sites = _unique_items(lists["captiva_sites"], "captiva_sites", SITE, "name", errors)

    for i, profile in profiles.values():
        path = f"captiva_profiles[{i}]"
        if profile["name"].startswith(RESERVED_PREFIX):
            _fail(errors, f"{path}.name",
                  f"the prefix {RESERVED_PREFIX!r} is reserved for Captiva's built-in groups")
        _check_quota_order(profile.get("quota"), f"{path}.quota", errors)
    default_profile = settings.get("captiva_default_profile")
    if isinstance(default_profile, dict):
        _check_quota_order(default_profile.get("quota"), "captiva_default_profile.quota", errors)

    known_profiles = set(profiles) | {DEFAULT_PROFILE}
    for i, promotion in promotions.values():
        _check_ref(promotion["profile"], known_profiles, f"captiva_promotions[{i}].profile",
                   "profile", errors)

    _check_routers(sites, errors)
    users = _check_users(lists["captiva_users"], settings, known_profiles, promotions, errors)

    storage = settings.get("captiva_password_storage")
    login_by = settings.get("captiva_hotspot_login_by")
    if storage == "hashed" and isinstance(login_by, list) and "http-chap" in login_by:
        _fail(errors, "captiva_hotspot_login_by",
              "hashed password storage cannot work with CHAP login (http-chap needs the "
              "cleartext password): remove http-chap or set captiva_password_storage: cleartext")

    if errors:
        return None, errors
    return Roster(
        settings=settings,
        profiles={n: p for n, (_, p) in profiles.items()},
        promotions={n: p for n, (_, p) in promotions.items()},
        users=users,
        sites={n: s for n, (_, s) in sites.items()},
    ), []


def _unique_items(items: list, key: str, check: Checker, id_field: str,
                  errors: list) -> dict[str, tuple[int, dict]]:
    """Items by their identifier; an item with errors is kept too (the roster is then
    rejected anyway) so that references to it do not report a second, misleading error."""
    seen: dict[str, tuple[int, dict]] = {}
    for i, raw in enumerate(items):
        path = f"{key}[{i}]"
        item = check(raw, path, errors)
        if item is INVALID or not isinstance(item.get(id_field), str):
            continue
        ident = item[id_field]
        if ident in seen:
            _fail(errors, f"{path}.{id_field}",
                  f"duplicate {id_field} {ident!r} (already used by {key}[{seen[ident][0]}])")
            continue
        seen[ident] = (i, item)
    return seen


def _check_ref(value, known, path, what, errors):
    if isinstance(value, str) and value not in known:
        _fail(errors, path, f"unknown {what} {value!r}" + _suggest(value, known))


def _check_quota_order(quota, path, errors):
    if not isinstance(quota, dict):
        return
    set_periods = [(p, quota[p]) for p in ("daily", "weekly", "monthly", "total")
                   if isinstance(quota.get(p), int)]
    for (small, a), (large, b) in zip(set_periods, set_periods[1:], strict=False):
        if a > b:
            _fail(errors, f"{path}.{small}",
                  f"the {small} quota ({quota_text(a)}) is larger than the {large} quota "
                  f"({quota_text(b)})")


def quota_text(n_bytes: int) -> str:
    from ansible.module_utils.captiva_units import format_size

    return format_size(n_bytes)


def _check_routers(sites, errors):
    names: dict[str, str] = {}
    addresses: dict[str, str] = {}
    for i, site in sites.values():
        routers = site["routers"] if isinstance(site["routers"], list) else []
        for j, router in enumerate(routers):
            path = f"captiva_sites[{i}].routers[{j}]"
            if not isinstance(router, dict):
                continue
            for value, seen, field in ((router["name"], names, "name"),
                                       (router["address"], addresses, "address")):
                if value is INVALID:
                    continue
                if value in seen:
                    _fail(errors, f"{path}.{field}",
                          f"duplicate router {field} {value!r} (already used by {seen[value]})")
                else:
                    seen[value] = path


def _check_users(items, settings, known_profiles, promotions, errors) -> list[dict]:
    users: list[dict] = []
    seen: dict[str, int] = {}
    storage = settings.get("captiva_password_storage")
    min_length = settings.get("captiva_password_min_length")
    for i, raw in enumerate(items):
        path = f"captiva_users[{i}]"
        user = USER(raw, path, errors)
        if user is INVALID or not isinstance(user["username"], str):
            continue
        folded = user["username"].lower()
        if folded in seen:
            first = seen[folded]
            _fail(errors, f"{path}.username",
                  f"duplicate username {user['username']!r} (same as captiva_users[{first}] "
                  f"{items[first]['username']!r}; usernames are case-insensitive)")
            continue
        seen[folded] = i
        _check_ref(user["promotion"], promotions, f"{path}.promotion", "promotion", errors)
        _check_ref(user["profile"], known_profiles, f"{path}.profile", "profile", errors)
        password, password_hash = user["password"], user["password_hash"]
        if INVALID in (password, password_hash):
            pass
        elif password is None and password_hash is None:
            _fail(errors, f"{path}.password", "required: set password (or password_hash)")
        elif password is not None and password_hash is not None:
            _fail(errors, f"{path}.password_hash", "set either password or password_hash")
        elif password_hash is not None:
            if storage == "cleartext":
                _fail(errors, f"{path}.password_hash",
                      "cleartext storage (CHAP login) needs the password itself, not a hash")
            elif not _SHA512_CRYPT.match(password_hash):
                _fail(errors, f"{path}.password_hash",
                      "expected a sha512-crypt hash ($6$salt$...); create one with "
                      "'openssl passwd -6'")
        elif isinstance(min_length, int) and len(password) < min_length:
            _fail(errors, f"{path}.password",
                  f"password too short: use at least {min_length} characters")
        elif password.lower() == user["username"].lower():
            _fail(errors, f"{path}.password", "password must not be the username")
        users.append(user)
    return users


# --------------------------------------------------------------------------------------------
# Effective policy


def effective_profile(roster: Roster, user: Mapping[str, Any]) -> str:
    """The user's own profile, else their promotion's, else ``captiva-default``."""
    if user.get("profile"):
        return user["profile"]
    promotion = roster.promotions.get(user.get("promotion") or "")
    if promotion and promotion.get("profile"):
        return promotion["profile"]
    return DEFAULT_PROFILE


def profile_policy(roster: Roster, profile_name: str) -> dict[str, Any]:
    """A profile's normalised policy; omitted quotas and timeouts mean unlimited."""
    if profile_name == DEFAULT_PROFILE:
        profile = dict(roster.settings["captiva_default_profile"], name=DEFAULT_PROFILE)
    else:
        profile = roster.profiles[profile_name]
    alerts = profile.get("alerts") or {}
    site_alerts = roster.settings["captiva_alerts"]
    quota = profile.get("quota") or {}
    bandwidth = profile.get("bandwidth") or {}
    return {
        "name": profile["name"],
        "description": profile.get("description") or "",
        "rate_upload": bandwidth.get("upload"),
        "rate_download": bandwidth.get("download"),
        "quota_daily": quota.get("daily"),
        "quota_weekly": quota.get("weekly"),
        "quota_monthly": quota.get("monthly"),
        "quota_total": quota.get("total"),
        "session_timeout": profile.get("session_timeout"),
        "idle_timeout": profile.get("idle_timeout"),
        "simultaneous_use": profile.get("simultaneous_use"),
        "validity_days": profile.get("validity_days"),
        "alert_quota_percent": sorted(alerts.get("quota_percent")
                                      or site_alerts["quota_percent"] or []),
        "alert_expiry_days": sorted(alerts.get("expiry_days")
                                    or site_alerts["expiry_days"] or [], reverse=True),
    }


def user_expiry(roster: Roster, user: Mapping[str, Any], policy: Mapping[str, Any],
                activated: dt.date) -> dt.datetime | None:
    """When access ends: the explicit date, else activation + the profile's validity_days.

    A date means "valid through that day": access ends at the next midnight in the
    campus timezone.
    """
    return _expiry(user.get("expires"), policy.get("validity_days"), activated,
                   roster.settings["captiva_timezone"])


@functools.lru_cache(maxsize=4096)
def _expiry(expires, validity_days, activated, timezone_name) -> dt.datetime | None:
    # Cached: a roster has a few distinct expiry dates shared by thousands of users.
    tz = zoneinfo.ZoneInfo(timezone_name)
    if isinstance(expires, dt.datetime):
        return expires if expires.tzinfo else expires.replace(tzinfo=tz)
    if isinstance(expires, dt.date):
        day = expires + dt.timedelta(days=1)
    elif validity_days:
        day = activated + dt.timedelta(days=validity_days)
    else:
        return None
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz)


def user_status(roster: Roster, user: Mapping[str, Any], expires_at: dt.datetime | None,
                now: dt.datetime) -> str:
    """``active``, or why not: ``disabled`` > ``wifi-off`` > ``expired``."""
    if not user["enabled"]:
        return "disabled"
    promotion = roster.promotions.get(user.get("promotion") or "")
    if promotion is not None and not promotion["wifi_enabled"]:
        return "wifi-off"
    if expires_at is not None and expires_at <= now:
        return "expired"
    return "active"


# --------------------------------------------------------------------------------------------
# Compilation


def group_rows(roster: Roster, policy: Mapping[str, Any]) -> dict[str, list[list[str]]]:
    """RADIUS check/reply rows of a profile's group: ``[attribute, op, value]``.

    Reply rows use ``=`` so an admin's own per-user radreply row still wins for one user;
    check rows use ``:=`` (``=`` in a check table is a comparison that fails).
    """
    reply = []
    if policy["rate_upload"] or policy["rate_download"]:
        # MikroTik reads rx/tx from the router's side: rx is what the client uploads.
        limit = (f"{format_rate(policy['rate_upload'] or 0)}/"
                 f"{format_rate(policy['rate_download'] or 0)}")
        reply.append(["Mikrotik-Rate-Limit", "=", limit])
    if policy["session_timeout"]:
        reply.append(["Session-Timeout", "=", str(policy["session_timeout"])])
    if policy["idle_timeout"]:
        reply.append(["Idle-Timeout", "=", str(policy["idle_timeout"])])
    reply.append(["Acct-Interim-Interval", "=", str(roster.settings["captiva_interim_interval"])])
    reply.append(["Mikrotik-Group", "=", policy["name"]])
    check = []
    if policy["simultaneous_use"]:
        check.append(["Simultaneous-Use", ":=", str(policy["simultaneous_use"])])
    return {"check": check, "reply": reply}


def status_group_rows(message: str) -> dict[str, list[list[str]]]:
    return {"check": [["Auth-Type", ":=", "Reject"]], "reply": [["Reply-Message", ":=", message]]}


def _aware(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


def compile_roster(roster: Roster, now: dt.datetime,
                   activations: Mapping[str, dt.date] | None = None) -> dict[str, Any]:
    """The desired state for every later module, as plain data (JSON-able but for the
    ``captiva_user`` rows' ``expires_at`` datetime and ``activated_on`` date).

    ``activations`` maps usernames to the day Captiva first provisioned them (read back from
    the database); users without one are activated today.
    """
    now = _aware(now)
    settings = roster.settings
    tz = zoneinfo.ZoneInfo(settings["captiva_timezone"])
    today = now.astimezone(tz).date()
    activations = activations or {}
    storage = settings["captiva_password_storage"]

    # captiva-default is always compiled: it is what a user without any profile gets.
    policies = {n: profile_policy(roster, n) for n in [DEFAULT_PROFILE, *sorted(roster.profiles)]}

    groups = {n: group_rows(roster, p) for n, p in policies.items()}
    for _status, (group, message) in STATUS_GROUPS.items():
        groups[group] = status_group_rows(message)

    radius_users: dict[str, dict] = {}
    user_rows = []
    counts = {"active": 0, "disabled": 0, "wifi-off": 0, "expired": 0}
    for user in roster.users:
        profile = effective_profile(roster, user)
        policy = policies[profile]
        activated = user.get("activated") or activations.get(user["username"]) or today
        if isinstance(activated, dt.datetime):
            activated = activated.date()
        expires_at = user_expiry(roster, user, policy, activated)
        status = user_status(roster, user, expires_at, now)
        counts[status] += 1
        if user["password_hash"] is not None:
            password = {"scheme": "crypt-hash", "value": user["password_hash"]}
        else:
            password = {"scheme": "crypt" if storage == "hashed" else "cleartext",
                        "value": user["password"]}
        check = []
        if expires_at is not None:
            # Epoch seconds: rlm_expiration compares against it, and FreeRADIUS parses a
            # plain integer date without any timezone ambiguity.
            check.append(["Expiration", ":=", _epoch(expires_at)])
        radius_users[user["username"]] = {
            "group": profile if status == "active" else STATUS_GROUPS[status][0],
            "password": password,
            "check": check,
        }
        user_rows.append({
            "username": user["username"],
            "first_name": user["first_name"],
            "last_name": user["last_name"],
            "email": user["email"],
            "language": user["language"] or settings["captiva_language"],
            "promotion": user["promotion"],
            "own_profile": user["profile"],
            "profile": profile,
            "enabled": user["enabled"],
            "status": status,
            "expires_at": expires_at,
            "activated_on": activated,
        })

    sites, routers, clients, routeros, router_api = [], [], [], {}, {}
    for site in roster.sites.values():
        sites.append({
            "name": site["name"],
            "timezone": site["timezone"] or settings["captiva_timezone"],
            "week_start": site["week_start"] or settings["captiva_week_start"],
            "month_start_day": site["month_start_day"] or settings["captiva_month_start_day"],
        })
        for router in site["routers"]:
            routers.append({"name": router["name"], "site": site["name"],
                            "nasipaddress": router["address"], "coa_port": router["coa_port"]})
            clients.append({"name": router["name"], "address": router["address"],
                            "secret": router["radius_secret"]})
            routeros[router["name"]] = routeros_desired(roster, router, policies)
            api = router["api"]
            router_api[router["name"]] = {
                "host": api["host"] or router["address"], "port": api["port"],
                "tls": api["tls"], "validate_certs": api["validate_certs"],
                "username": api["username"], "password": api["password"]}

    return {
        "radius": {"groups": groups, "users": radius_users},
        "tables": {
            "captiva_quota_settings": [{
                "id": True, "timezone": settings["captiva_timezone"],
                "week_start": settings["captiva_week_start"],
                "month_start_day": settings["captiva_month_start_day"]}],
            "captiva_site": sites,
            "captiva_router": routers,
            "captiva_profile": [dict(p) for p in policies.values()],
            "captiva_promotion": [
                {"name": p["name"], "profile": p["profile"], "wifi_enabled": p["wifi_enabled"]}
                for p in roster.promotions.values()
            ],
            "captiva_user": user_rows,
        },
        "freeradius_clients": clients,
        "routeros": routeros,
        "router_api": router_api,
        "summary": {"users": len(roster.users), "profiles": len(policies),
                    "promotions": len(roster.promotions), "sites": len(sites),
                    "routers": len(routers), **counts},
    }


@functools.lru_cache(maxsize=4096)
def _epoch(instant: dt.datetime) -> str:
    return str(int(instant.timestamp()))


def routeros_desired(roster: Roster, router: Mapping[str, Any],
                     policies: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """What Captiva owns on one router, in RouterOS field names per menu path."""
    settings = roster.settings
    hotspot = router["hotspot"]
    timeout = settings["captiva_radius_timeout"]
    profile = {
        "name": hotspot["profile"],
        "use-radius": True,
        "radius-accounting": True,
        "radius-interim-update": format_duration(settings["captiva_interim_interval"]),
        "login-by": ",".join(settings["captiva_hotspot_login_by"]),
    }
    if hotspot.get("dns_name"):
        profile["dns-name"] = hotspot["dns_name"]
    user_profiles = []
    for policy in policies.values():
        entry = {"name": policy["name"],
                 "shared-users": policy["simultaneous_use"] or "unlimited"}
        if policy["rate_upload"] or policy["rate_download"]:
            entry["rate-limit"] = (f"{format_rate(policy['rate_upload'] or 0)}/"
                                   f"{format_rate(policy['rate_download'] or 0)}")
        if policy["session_timeout"]:
            entry["session-timeout"] = format_duration(policy["session_timeout"])
        if policy["idle_timeout"]:
            entry["idle-timeout"] = format_duration(policy["idle_timeout"])
        user_profiles.append(entry)
    portal = settings["captiva_portal"]
    return {
        "/radius": [{
            "service": "hotspot",
            "address": server,
            "secret": router["radius_secret"],
            "timeout": format_duration(timeout) if timeout >= 1 else "1s",
            "authentication-port": 1812,
            "accounting-port": 1813,
            "require-message-auth": "yes-for-request-resp",
        } for server in settings["captiva_radius_servers"]],
        "/radius/incoming": {"accept": True, "port": router["coa_port"]},
        "/ip/hotspot/profile": [profile],
        "/ip/hotspot/user/profile": user_profiles,
        "/ip/hotspot/walled-garden": [{"dst-host": portal["dns_name"], "action": "allow"}],
        "/ip/hotspot/walled-garden/ip": [{"dst-address": portal["address"], "action": "accept"}],
    }


# --------------------------------------------------------------------------------------------
# Controller side: where the roster comes from


def roster_variables(task_vars: Mapping[str, Any],
                     template: Callable[[Any], Any]) -> dict[str, Any]:
    """The roster's variables from a play's variables, as plain Python values.

    Only the leaves that need it go through ``template``: strings holding a Jinja expression
    and vaulted values (which it decrypts). Templating the whole structure would be
    equivalent but costs seconds per 10,000 users in Ansible's templar.
    """
    return {n: _plain(task_vars[n], template) for n in (*SETTINGS, *ROSTER_LISTS)
            if n in task_vars}


def _plain(value: Any, template: Callable[[Any], Any]) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v, template) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, template) for v in value]
    if isinstance(value, str):
        return template(value) if ("{{" in value or "{%" in value) else str(value)
    if value is None or isinstance(value, (bool, int, float, dt.date)):
        return value
    return template(value)  # a vaulted value and anything else the templar knows


def roster_files(defaults_file: str, inventory_sources: Iterable[str] | None) -> list[str]:
    """The files the roster may come from, in Ansible's precedence order (for Locator)."""
    import os

    files = [defaults_file]
    for source in inventory_sources or []:
        base = source if os.path.isdir(source) else os.path.dirname(source)
        group_vars = os.path.join(base, "group_vars")
        for name in ("all.yml", "all.yaml", "all.json"):
            if os.path.isfile(os.path.join(group_vars, name)):
                files.append(os.path.join(group_vars, name))
        folder = os.path.join(group_vars, "all")
        if os.path.isdir(folder):
            files += sorted(os.path.join(folder, n) for n in os.listdir(folder)
                            if n.endswith((".yml", ".yaml", ".json")))
    return files


def validate_variables(task_vars: Mapping[str, Any], template: Callable[[Any], Any],
                       defaults_file: str, display_root: str,
                       ) -> tuple[Roster | None, list[str]]:
    """Validate a play's roster; errors come rendered as ``file:line: path: reason``."""
    roster, errors = validate(roster_variables(task_vars, template))
    if not errors:
        return roster, []
    locator = Locator(roster_files(defaults_file, task_vars.get("ansible_inventory_sources")),
                      display_root=display_root)
    return None, [error.render(locator) for error in errors]


# --------------------------------------------------------------------------------------------
# Transport: a validated roster as JSON-able data (module arguments) and back


def roster_to_data(roster: Roster) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(data, credentials)``: the roster as JSON-able data, with every secret moved out.

    Modules take the two as separate arguments so that only ``credentials`` is ``no_log``
    (Ansible masks every string of a no_log argument wherever it appears in the output).
    """

    def plain(value):
        if isinstance(value, (dt.date, dt.datetime)):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    # Not dataclasses.asdict: it deep-copies every value, seconds at 50,000 users.
    data = plain({f.name: getattr(roster, f.name) for f in dataclasses.fields(roster)})
    credentials: dict[str, Any] = {"users": {}, "routers": {}}
    for user in data["users"]:
        credentials["users"][user["username"]] = {
            "password": user.pop("password"), "password_hash": user.pop("password_hash")}
    for site in data["sites"].values():
        for router in site["routers"]:
            credentials["routers"][router["name"]] = {
                "radius_secret": router.pop("radius_secret"),
                "api_password": router["api"].pop("password")}
    return data, credentials


def roster_from_data(data: Mapping[str, Any], credentials: Mapping[str, Any]) -> Roster:
    """The inverse of :func:`roster_to_data`."""
    users = []
    for user in data["users"]:
        user = dict(user, **credentials["users"][user["username"]])
        for key in ("activated", "expires"):
            if isinstance(user.get(key), str):
                value = user[key]
                user[key] = (dt.datetime.fromisoformat(value) if "T" in value
                             else dt.date.fromisoformat(value))
        users.append(user)
    sites = {}
    for site_name, site in data["sites"].items():
        routers = []
        for router in site["routers"]:
            secrets = credentials["routers"][router["name"]]
            routers.append(dict(router, radius_secret=secrets["radius_secret"],
                                api=dict(router["api"], password=secrets["api_password"])))
        sites[site_name] = dict(site, routers=routers)
    return Roster(settings=dict(data["settings"]), profiles=dict(data["profiles"]),
                  promotions=dict(data["promotions"]), users=users, sites=sites)
