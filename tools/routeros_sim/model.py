"""Menus, rows and commands of the simulated router.

Field names, defaults, primary keys and read-only flags come from community.routeros's
``_api_data`` (imported from the installed collection). Value kinds (boolean, duration, integer,
rate) are inferred from the defaults plus a short list below, so values are stored and returned
the way RouterOS prints them: ``yes`` -> ``true``, ``3600`` -> ``1h``, ``10000000`` -> ``10M``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# A router that sends !empty runs 7.18 or later ("API": !empty, since 7.18); with --no-empty
# the simulator claims an older release.
ROUTEROS_VERSION = "7.19.4 (stable)"
ROUTEROS_VERSION_NO_EMPTY = "7.16.1 (stable)"
SCHEMA_VERSION = "7.16"
# Defaults where help.mikrotik.com and community.routeros's _api_data disagree: the docs win
# ("HotSpot - Captive portal", HotSpot Profile: html-directory "hotspot", ssl-certificate none).
DOCUMENTED_DEFAULTS = {"/ip/hotspot/profile": {"html-directory": "hotspot",
                                               "ssl-certificate": "none"}}
# Entries every router has and that cannot be removed ("default" profiles).
BUILTIN_ENTRIES = ("/ip/hotspot/profile", "/ip/hotspot/user/profile")

# Menus the simulator serves from _api_data (path as the API spells it).
SCHEMA_MENUS = (
    "/system/identity",
    "/system/script",
    "/radius",
    "/radius/incoming",
    "/ip/hotspot",
    "/ip/hotspot/profile",
    "/ip/hotspot/user",
    "/ip/hotspot/user/profile",
    "/ip/hotspot/walled-garden",
    "/ip/hotspot/walled-garden/ip",
)

DURATION_FIELDS = {
    "timeout", "idle-timeout", "session-timeout", "keepalive-timeout", "login-timeout",
    "radius-interim-update", "http-cookie-lifetime", "trial-uptime-limit", "trial-uptime-reset",
    "mac-cookie-timeout", "status-autorefresh", "limit-uptime", "advertise-timeout",
}
DURATION_WORDS = {"none", "received", "immediately", "never"}
INTEGER_FIELDS = {"authentication-port", "accounting-port", "port", "shared-users",
                  "addresses-per-mac"}
INTEGER_WORDS = {"unlimited"}
RATE_FIELDS = {"rate-limit"}

# /ip/hotspot/active has no schema in _api_data: these are the fields RouterOS prints.
ACTIVE_FIELDS = (
    "server", "user", "domain", "address", "mac-address", "login-by", "uptime", "idle-time",
    "session-time-left", "idle-timeout", "keepalive-timeout", "limit-bytes-in",
    "limit-bytes-out", "limit-bytes-total", "bytes-in", "bytes-out", "packets-in",
    "packets-out", "radius", "comment",
)
# Kept on /ip/hotspot/active rows but not printed there (RouterOS shows them elsewhere, e.g.
# the rate limit as a dynamic simple queue): /captiva-sim/active/print shows them.
ACTIVE_HIDDEN = ("session-id", "rate-limit", "profile")
ACTIVE_DEFAULTS = {"server": "hotspot1", "domain": "", "login-by": "https", "uptime": "0s",
                   "idle-time": "0s", "bytes-in": "0", "bytes-out": "0", "packets-in": "0",
                   "packets-out": "0", "radius": "true"}


# Trap categories (help.mikrotik.com, "API", "!trap"): 0 missing item or command, 1 argument
# value failure, 2 execution of command interrupted, 3 scripting failure, 4 general failure,
# 5 API related failure.
MISSING, ARGUMENT, INTERRUPTED, GENERAL = 0, 1, 2, 4
_ARGUMENT_MESSAGES = ("unknown parameter", "value of", "missing value", "invalid",
                      "input does not match", "expected")


def _category(message: str) -> int:
    if message.startswith(("no such command", "no such item")):
        return MISSING
    if message.startswith(_ARGUMENT_MESSAGES) or message.endswith("not specified"):
        return ARGUMENT
    return GENERAL


class Trap(Exception):
    """A command failed: sent to the client as !trap =category=N =message=... The category
    follows the message's kind unless given."""

    def __init__(self, message: str, category: int | None = None):
        super().__init__(message)
        self.message = message
        self.category = _category(message) if category is None else category


# ----------------------------------------------------------------------------------------------
# Values, the way RouterOS prints them

_DURATION_UNITS = {"w": 604800000, "d": 86400000, "h": 3600000, "m": 60000, "s": 1000, "ms": 1}
_DURATION_TOKEN = re.compile(r"(\d+)(ms|w|d|h|m|s)")
_CLOCK = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(\d+):(\d\d):(\d\d)(?:\.(\d{1,3}))?$")
_RATE = re.compile(r"^(\d+)([kMG]?)$")


def parse_duration_ms(text: str) -> int:
    if text.isdigit():
        return int(text) * 1000
    clock = _CLOCK.match(text)
    if clock:
        weeks, days, hours, minutes, seconds, frac = clock.groups()
        millis = int((frac or "0").ljust(3, "0"))
        return ((int(weeks or 0) * 7 + int(days or 0)) * 86400 + int(hours) * 3600
                + int(minutes) * 60 + int(seconds)) * 1000 + millis
    tokens = _DURATION_TOKEN.findall(text)
    if not tokens or "".join(n + u for n, u in tokens) != text:
        raise ValueError(text)
    return sum(int(n) * _DURATION_UNITS[u] for n, u in tokens)


def format_duration_ms(millis: int) -> str:
    if millis == 0:
        return "0s"
    out = []
    for unit in ("w", "d", "h", "m", "s", "ms"):
        size = _DURATION_UNITS[unit]
        if millis >= size:
            out.append(f"{millis // size}{unit}")
            millis %= size
    return "".join(out)


def _format_rate(text: str) -> str:
    match = _RATE.match(text)
    if not match:
        raise ValueError(text)
    bits = int(match.group(1)) * {"": 1, "k": 10**3, "M": 10**6, "G": 10**9}[match.group(2)]
    for unit, size in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if bits >= size and bits % size == 0:
            return f"{bits // size}{unit}"
    return str(bits)


@dataclass
class Field:
    name: str
    kind: str = "str"  # str | bool | int | duration | rate
    default: str | None = None
    required: bool = False
    read_only: bool = False

    def canonical(self, raw: str) -> str:
        """The value as RouterOS would print it back; Trap when it does not parse."""
        try:
            if self.kind == "bool":
                value = {"yes": "true", "true": "true", "no": "false", "false": "false"}[raw]
                return value
            if self.kind == "int":
                return raw if raw in INTEGER_WORDS else str(int(raw, 10))
            if self.kind == "duration":
                return raw if raw in DURATION_WORDS else format_duration_ms(
                    parse_duration_ms(raw))
            if self.kind == "rate":
                parts = raw.split(" ")
                parts[0] = "/".join(_format_rate(p) for p in parts[0].split("/"))
                return " ".join(parts)
        except (KeyError, ValueError) as exc:
            raise Trap(f"value of {self.name} is invalid: {raw!r}") from exc
        return raw


def _field_kind(name: str, default: object) -> str:
    if isinstance(default, bool) or name == "disabled":
        return "bool"
    if name in DURATION_FIELDS:
        return "duration"
    if name in RATE_FIELDS:
        return "rate"
    if name in INTEGER_FIELDS or isinstance(default, int):
        return "int"
    return "str"


def _wire(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ----------------------------------------------------------------------------------------------
# Menus


@dataclass
class Menu:
    path: str
    fields: dict[str, Field]
    primary_keys: tuple[str, ...] = ()
    single_value: bool = False
    fixed_entries: bool = False
    read_only: bool = False  # no add/set/remove at all (e.g. /system/resource)
    api_add: bool = True  # False: rows come from the router itself (/ip/hotspot/active)
    hidden: frozenset[str] = frozenset()  # kept in rows, never printed (simulator-only)
    builtin: bool = False  # a "default" entry exists from the start and cannot be removed
    rows: list[dict[str, str]] = field(default_factory=list)
    next_id: int = 1

    @property
    def entity(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    # -- helpers -------------------------------------------------------------------------------
    def _find(self, ids: str) -> list[dict[str, str]]:
        found = []
        for item in ids.split(","):
            row = next((r for r in self.rows if r[".id"] == item), None)
            if row is None:
                raise Trap("no such item")
            found.append(row)
        return found

    def _values(self, args: dict[str, str], *, adding: bool) -> dict[str, str]:
        values = {}
        for name, raw in args.items():
            spec = self.fields.get(name)
            if spec is None:
                raise Trap(f"unknown parameter {name}")
            if spec.read_only:
                raise Trap(f"failure: {name} is read-only")
            values[name] = spec.canonical(raw)
        if adding:
            for spec in self.fields.values():
                if spec.required and spec.name not in values:
                    raise Trap(f"failure: {spec.name} not specified")
        return values

    def _check_unique(self, row: dict[str, str], own_id: str | None) -> None:
        if not self.primary_keys:
            return
        key = tuple(row.get(k) for k in self.primary_keys)
        for other in self.rows:
            if other[".id"] != own_id and tuple(other.get(k) for k in self.primary_keys) == key:
                raise Trap(f"failure: already have {self.entity} with such name")

    # -- commands ------------------------------------------------------------------------------
    def print(self) -> list[dict[str, str]]:
        return [{k: v for k, v in r.items() if k not in self.hidden} for r in self.rows]

    def add(self, args: dict[str, str], *, internal: bool = False) -> str:
        if self.read_only or self.single_value or self.fixed_entries or not (
                self.api_add or internal):
            raise Trap("no such command")
        values = self._values(args, adding=True)
        row = {name: spec.default for name, spec in self.fields.items()
               if spec.default is not None}
        row.update(values)
        self._check_unique(row, None)
        new_id = f"*{self.next_id:X}"
        self.next_id += 1
        self.rows.append({".id": new_id, **row})
        return new_id

    def set(self, args: dict[str, str]) -> None:
        if self.read_only:
            raise Trap("no such command")
        args = dict(args)
        ids = args.pop(".id", None) or args.pop("numbers", None)
        if self.single_value:
            if ids is not None:
                raise Trap("unknown parameter .id")
            self.rows[0].update(self._values(args, adding=False))
            return
        if ids is None:
            raise Trap("missing value(s) of argument(s) .id")
        values = self._values(args, adding=False)
        for row in self._find(ids):
            updated = {**row, **values}
            self._check_unique(updated, row[".id"])
            row.update(values)

    def unset(self, args: dict[str, str]) -> None:
        args = dict(args)
        ids = args.pop(".id", None) or args.pop("numbers", None)
        name = args.pop("value-name", None)
        if args:
            raise Trap(f"unknown parameter {next(iter(args))}")
        if name not in self.fields or self.fields[name].read_only:
            raise Trap(f"unknown parameter {name}")
        rows = self.rows[:1] if self.single_value else self._find(ids or "")
        for row in rows:
            row.pop(name, None)

    def remove(self, args: dict[str, str]) -> None:
        if self.read_only or self.single_value or self.fixed_entries:
            raise Trap("no such command")
        args = dict(args)
        ids = args.pop(".id", None) or args.pop("numbers", None)
        if args:
            raise Trap(f"unknown parameter {next(iter(args))}")
        if not ids:
            raise Trap("missing value(s) of argument(s) .id")
        found = self._find(ids)
        if self.builtin and any(r.get("default") == "true" for r in found):
            raise Trap("failure: cannot remove default profile", GENERAL)
        doomed = {r[".id"] for r in found}
        self.rows = [r for r in self.rows if r[".id"] not in doomed]

    # -- persistence ---------------------------------------------------------------------------
    def dump(self) -> dict:
        return {"next_id": self.next_id, "rows": self.rows}

    def load(self, data: dict) -> None:
        self.next_id = int(data.get("next_id", 1))
        builtin = [r for r in self.rows if r.get("default") == "true"]
        self.rows = [dict(r) for r in data.get("rows", [])]
        if builtin and not any(r.get("default") == "true" for r in self.rows):
            self.rows[:0] = builtin  # a state file from before built-in entries


def _schema_menu(path: str) -> Menu:
    # Imported here so that a missing collection is a clear error at start, not at import.
    from ansible_collections.community.routeros.plugins.module_utils._api_data import PATHS

    api_data = PATHS[tuple(path.strip("/").split("/"))]
    api_data.provide_version(SCHEMA_VERSION)
    data = api_data.get_data()
    fields = {}
    for name, info in data.fields.items():
        default = None if info.default is None else _wire(info.default)
        fields[name] = Field(name, _field_kind(name, info.default), default,
                             bool(info.required), bool(info.read_only))
    for name, default in DOCUMENTED_DEFAULTS.get(path, {}).items():
        fields[name].default = default
    menu = Menu(path, fields, tuple(data.primary_keys or ()), bool(data.single_value),
                bool(data.fixed_entries))
    if path in BUILTIN_ENTRIES:
        # The "*" (default) flag, printed as default=true; the built-in entry is *0.
        fields["default"] = Field("default", kind="bool", default="false", read_only=True)
        menu.builtin = True
        menu.rows = [{".id": "*0", **{n: f.default for n, f in fields.items()
                                      if f.default is not None},
                      "name": "default", "default": "true"}]
    if menu.single_value:
        menu.rows = [{n: f.default for n, f in fields.items() if f.default is not None}]
    return menu


def build_menus(identity: str = "MikroTik", version: str = ROUTEROS_VERSION
                ) -> dict[str, Menu]:
    from .certificates import CertificateMenu
    from .files import FileMenu

    menus = {path: _schema_menu(path) for path in SCHEMA_MENUS}
    menus["/system/identity"].rows[0]["name"] = identity
    resource = {"version": version, "board-name": "CHR", "platform": "MikroTik",
                "architecture-name": "x86_64", "cpu": "captiva-sim", "cpu-count": "1",
                "uptime": "0s", "cpu-load": "0", "free-memory": "0", "total-memory": "0"}
    menus["/system/resource"] = Menu(
        "/system/resource", {n: Field(n, read_only=True) for n in resource},
        single_value=True, read_only=True, rows=[resource])
    active = {n: Field(n, default=ACTIVE_DEFAULTS.get(n)) for n in ACTIVE_FIELDS}
    active["user"].required = True
    active["address"].required = True
    # The Acct-Session-Id the router sent in accounting: RouterOS does not print it here, the
    # Disconnect listener matches on it (server: /captiva-sim/active/add =session-id=...).
    for name in ACTIVE_HIDDEN:
        active[name] = Field(name)
    menus["/ip/hotspot/active"] = Menu("/ip/hotspot/active", active, api_add=False,
                                       hidden=frozenset(ACTIVE_HIDDEN))
    # /ip/hotspot/cookie: read-only, entries come from cookie logins; they can be removed.
    cookie = {n: Field(n) for n in ("user", "domain", "mac-address", "expires-in", "token")}
    menus["/ip/hotspot/cookie"] = Menu("/ip/hotspot/cookie", cookie, api_add=False,
                                       hidden=frozenset({"token"}))
    menus["/file"] = FileMenu()
    menus["/certificate"] = CertificateMenu()
    return menus


from .query import query_matches  # noqa: E402,F401  (server.py's model.query_matches)
