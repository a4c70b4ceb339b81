"""Reconcile what Captiva owns on a MikroTik router: read once, plan, apply (RouterOS API).

Pure Python, no Ansible imports: ``plan()`` is a function of the desired state and what was
read, so pytest drives it with plain dicts; ``apply()`` runs the plan through a client object
(``RouterOSClient`` over librouteros, or any object with the same four methods).

Ownership (Captiva never changes or removes an entry it did not create):
- menus with a ``comment`` field (``/radius``, walled garden): Captiva's entries carry
  ``comment=<marker>`` (``captiva``); every other entry is foreign.
- menus without one (``/ip/hotspot/profile``, ``/ip/hotspot/user/profile``): an ownership
  ledger on the router itself, ``/system/script`` entries named ``<marker>-ledger-N`` with
  ``comment=<marker>`` whose source lists ``# <menu> <name>`` for each entry Captiva created.
  A desired name that exists on the router but is not in the ledger is a conflict: the run
  fails before any write.
- settings menus (``/radius/incoming``, ``/system/identity``): only the fields given are set.
- ``/certificate`` (the hotspot's TLS certificate): imported from a file, never edited, named
  after its fingerprint and listed in the ledger (``captiva_routeros_certificates``). Imports
  run before every other write, so the hotspot profile can name the new certificate; removals
  of the ones it replaces run after.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.captiva.campus.plugins.module_utils import (
    captiva_routeros_certificates as certificates,
)
from ansible_collections.captiva.campus.plugins.module_utils.captiva_prune import (
    DEFAULT_MAX_COUNT,
    DEFAULT_MAX_RATIO,
    PruneRefused,
    check_prune,
)
from ansible_collections.captiva.campus.plugins.module_utils.captiva_units import (
    UnitError,
    parse_duration,
    parse_rate,
)

DEFAULT_MARKER = "captiva"
LEDGER_MENU = "/system/script"
LEDGER_CHUNK_CHARS = 4000  # RouterOS handles longer sources, but 4 KiB is safe everywhere
LEDGER_HEADER = ("# Captiva ownership ledger: menu entries Captiva created. Edited by Captiva "
                 "only; removing a line here makes Captiva treat that entry as foreign.")
MASK = "********"


@dataclass(frozen=True)
class MenuSpec:
    path: str
    key: tuple[str, ...] = ()  # fields that identify an entry; () for settings menus
    ownership: str = "comment"  # comment | ledger | settings
    secrets: frozenset[str] = frozenset()


MENUS: dict[str, MenuSpec] = {spec.path: spec for spec in (
    MenuSpec(certificates.CERTIFICATE_MENU, ("name",), "ledger", frozenset({"key"})),
    MenuSpec("/radius", ("service", "address"), secrets=frozenset({"secret"})),
    MenuSpec("/radius/incoming", ownership="settings"),
    MenuSpec("/system/identity", ownership="settings"),
    MenuSpec("/ip/hotspot/profile", ("name",), "ledger", frozenset({"mac-auth-password"})),
    MenuSpec("/ip/hotspot/user/profile", ("name",), "ledger"),
    MenuSpec("/ip/hotspot/walled-garden",
             ("server", "src-address", "dst-host", "dst-port", "path", "method")),
    MenuSpec("/ip/hotspot/walled-garden/ip",
             ("server", "src-address", "src-address-list", "dst-address", "dst-address-list",
              "dst-host", "protocol", "dst-port")),
)}
REFUSED = {
    "/ip/hotspot/user": "Captiva never creates local hotspot users: the router consults its "
                        "local users before RADIUS, so they would shadow the RADIUS users",
}

# How values compare. RouterOS prints canonical forms (true, 1h, 10M) whatever was written.
BOOL_FIELDS = {"disabled", "use-radius", "radius-accounting", "accept", "accounting-backup",
               "install-hotspot-queue", "split-user-domain", "add-mac-cookie",
               "transparent-proxy", "advertise", "dont-require-permissions"}
INT_FIELDS = {"authentication-port", "accounting-port", "port", "shared-users",
              "addresses-per-mac"}
DURATION_FIELDS = {"timeout", "idle-timeout", "session-timeout", "keepalive-timeout",
                   "login-timeout", "radius-interim-update", "http-cookie-lifetime",
                   "trial-uptime-limit", "trial-uptime-reset", "mac-cookie-timeout",
                   "status-autorefresh", "advertise-timeout", "limit-uptime"}
RATE_FIELDS = {"rate-limit"}
SET_FIELDS = {"login-by", "service", "policy"}

# RouterOS prints durations its own ways too: "01:00:00", "1d02:00:00", "300ms", "1s500ms".
_CLOCK = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(\d+):(\d\d):(\d\d)(?:\.(\d{1,3}))?$")
_MILLIS = re.compile(r"^(.*?)(\d+)ms$")


class RouterOSError(Exception):
    """A failure meant for the admin (bad input, conflict, guard, router error)."""


# ----------------------------------------------------------------------------------------------
# Values


def duration_ms(text: str) -> int | None:
    """Milliseconds; the roster's duration forms come from captiva_units, the clock and
    millisecond forms RouterOS adds are handled here."""
    clock = _CLOCK.match(text)
    if clock:
        weeks, days, hours, minutes, seconds, frac = clock.groups()
        return (((int(weeks or 0) * 7 + int(days or 0)) * 86400 + int(hours) * 3600
                 + int(minutes) * 60 + int(seconds)) * 1000 + int((frac or "0").ljust(3, "0")))
    millis = _MILLIS.match(text)
    rest, extra = (millis.group(1), int(millis.group(2))) if millis else (text, 0)
    if not rest:
        return extra if millis else None
    try:
        return parse_duration(rest) * 1000 + extra
    except UnitError:
        return None


def _rate_bits(text: str) -> int | None:
    try:
        return parse_rate(text)
    except UnitError:
        return None


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value).strip()


def normalise(name: str, value: Any) -> Any:
    """A comparable form of one field's value: ``10M`` == ``10000000``, ``1h`` == ``01:00:00``,
    ``yes`` == ``true``, ``https,cookie`` == ``cookie,https``."""
    text = _as_text(value)
    if name in BOOL_FIELDS or text in ("yes", "no"):
        lowered = text.lower()
        if lowered in ("yes", "true"):
            return True
        if lowered in ("no", "false"):
            return False
    if name in INT_FIELDS and text.isdigit():
        return int(text)
    if name in DURATION_FIELDS:
        millis = duration_ms(text)
        return ("duration", millis) if millis is not None else text
    if name in RATE_FIELDS:
        # rx/tx [burst-rate [burst-threshold [burst-time [priority [min-rate]]]]]
        parts = []
        for position, part in enumerate(text.split()):
            parse = duration_ms if position == 3 else _rate_bits
            parts.append(tuple(p if parse(p) is None else parse(p) for p in part.split("/")))
        return tuple(parts)
    if name in SET_FIELDS:
        return tuple(sorted(p.strip() for p in text.split(",") if p.strip()))
    return text


def wire_value(value: Any) -> str:
    """A desired value as an API word value (booleans as RouterOS input accepts them)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def _display(spec: MenuSpec, fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (MASK if k in spec.secrets and v not in (None, "") else v)
            for k, v in sorted(fields.items())}


def _label(spec: MenuSpec, entry: Mapping[str, Any]) -> str:
    if spec.ownership == "settings":
        return "settings"
    shown = [f"{k}={_as_text(entry.get(k))}" for k in spec.key if _as_text(entry.get(k))]
    return ",".join(shown) or "(all)"


def _key(spec: MenuSpec, entry: Mapping[str, Any]) -> tuple:
    return tuple(normalise(k, entry.get(k)) for k in spec.key)


def secret_values(desired: Mapping[str, Any]) -> set[str]:
    """The secret strings in ``desired``, for the caller to mask wherever they would show."""
    found = set()
    for path, value in desired.items() if isinstance(desired, Mapping) else ():
        spec = MENUS.get(path)
        if spec is None or not spec.secrets:
            continue
        for entry in [value] if isinstance(value, Mapping) else value or ():
            if isinstance(entry, Mapping):
                found.update(str(entry[k]) for k in spec.secrets if entry.get(k))
    return found


# ----------------------------------------------------------------------------------------------
# Desired state: shape and field checks


def schema_fields(path: str, version: str = "7.16") -> dict[str, bool] | None:
    """Writable fields of a menu from community.routeros's schema: {name: read_only}.

    None when the collection is not installed; the router then has the last word."""
    try:
        from ansible_collections.community.routeros.plugins.module_utils._api_data import (
            PATHS,
        )
    except ImportError:
        return None
    api_data = PATHS.get(tuple(path.strip("/").split("/")))
    if api_data is None:
        return None
    api_data.provide_version(version)
    return {name: bool(info.read_only) for name, info in api_data.get_data().fields.items()}


def validate_desired(desired: Mapping[str, Any], schema=schema_fields) -> list[str]:
    """Every problem in ``desired``, each naming its place; [] when it is usable."""
    errors = []
    if not isinstance(desired, Mapping):
        return [f"desired must be a dict keyed by menu path, got {type(desired).__name__}"]
    for path, value in desired.items():
        if path in REFUSED:
            errors.append(f"desired[{path}]: {REFUSED[path]}")
            continue
        spec = MENUS.get(path)
        if spec is None:
            errors.append(f"desired[{path}]: unsupported menu path; supported: "
                          + ", ".join(sorted(MENUS)))
            continue
        if path == certificates.CERTIFICATE_MENU:
            errors.extend(certificates.validate_entries(value))
            continue
        entries = [value] if spec.ownership == "settings" else value
        if spec.ownership == "settings" and not isinstance(value, Mapping):
            errors.append(f"desired[{path}]: a settings menu takes a dict of fields")
            continue
        if spec.ownership != "settings" and not isinstance(value, list):
            errors.append(f"desired[{path}]: expected a list of entries")
            continue
        fields = schema(path)
        seen: dict[tuple, int] = {}
        for index, entry in enumerate(entries):
            where = f"desired[{path}]" + ("" if spec.ownership == "settings" else f"[{index}]")
            if not isinstance(entry, Mapping):
                errors.append(f"{where}: expected a dict of RouterOS fields")
                continue
            for name in entry:
                if name == ".id" or (fields is not None and name not in fields):
                    errors.append(f"{where}: unknown field {name!r}")
                elif fields is not None and fields[name]:
                    errors.append(f"{where}: field {name!r} is read-only")
                elif name == "comment" and spec.ownership == "comment":
                    errors.append(f"{where}: 'comment' holds Captiva's ownership "
                                  "marker on this menu and cannot be set")
            if spec.ownership == "settings":
                continue
            if "name" in spec.key and not _as_text(entry.get("name")):
                errors.append(f"{where}: 'name' is required")
            key = _key(spec, entry)
            if key in seen:
                errors.append(f"{where}: same {'/'.join(spec.key)} as entry "
                              f"{seen[key]} ({_label(spec, entry)})")
            seen[key] = index
    return errors


# ----------------------------------------------------------------------------------------------
# Ownership ledger


@dataclass
class LedgerChunk:
    name: str
    id: str | None
    lines: list[str]


def parse_ledger(rows: Iterable[Mapping[str, Any]], marker: str) -> list[LedgerChunk]:
    prefix = f"{marker}-ledger-"
    chunks = []
    for row in rows:
        name = _as_text(row.get("name"))
        if _as_text(row.get("comment")) != marker or not name.startswith(prefix):
            continue
        lines = [line[2:] for line in _as_text(row.get("source")).splitlines()
                 if line.startswith("# /")]
        chunks.append(LedgerChunk(name, row.get(".id"), lines))
    return sorted(chunks, key=lambda c: (len(c.name), c.name))


def ledger_owned(chunks: Iterable[LedgerChunk]) -> dict[str, set[str]]:
    owned: dict[str, set[str]] = {}
    for chunk in chunks:
        for line in chunk.lines:
            path, _, name = line.partition(" ")
            owned.setdefault(path, set()).add(name)
    return owned


def ledger_source(lines: Iterable[str]) -> str:
    return "\n".join([LEDGER_HEADER, *(f"# {line}" for line in lines)]) + "\n"


def ledger_changes(chunks: list[LedgerChunk], add: Iterable[str], drop: Iterable[str],
                   marker: str) -> list[LedgerChunk]:
    """The ledger after adding and dropping lines, touching as few chunks as it can: lines stay
    in their chunk, new lines fill the last chunk, then new ones. Returns the new chunk list;
    a chunk with no lines is to be removed."""
    drop = set(drop)
    result = [LedgerChunk(c.name, c.id, [line for line in c.lines if line not in drop])
              for c in chunks]
    known = {line for c in result for line in c.lines}
    numbers = [int(c.name.rsplit("-", 1)[1]) for c in chunks
               if c.name.rsplit("-", 1)[1].isdigit()]
    next_number = max(numbers, default=0) + 1
    for line in add:
        if line in known:
            continue
        known.add(line)
        last = result[-1] if result else None
        if last is None or len(ledger_source([*last.lines, line])) > LEDGER_CHUNK_CHARS:
            last = LedgerChunk(f"{marker}-ledger-{next_number}", None, [])
            next_number += 1
            result.append(last)
        last.lines.append(line)
    return result


def _ledger_ops(before: list[LedgerChunk], after: list[LedgerChunk]) -> list[Action]:
    old = {c.name: c for c in before}
    ops = []
    for chunk in after:
        previous = old.get(chunk.name)
        if previous is not None and previous.lines == chunk.lines:
            continue
        op = "delete" if not chunk.lines else "create" if previous is None else "update"
        if op == "delete" and previous is None:
            continue
        ops.append(Action(LEDGER_MENU, op, f"name={chunk.name}", chunk.id,
                          write={} if op == "delete" else {"source": ledger_source(chunk.lines)},
                          before=None if previous is None else {"lines": len(previous.lines)},
                          after=None if op == "delete" else {"lines": len(chunk.lines)}))
    return ops


# ----------------------------------------------------------------------------------------------
# Plan


@dataclass
class Action:
    menu: str
    op: str  # create | update | delete | set
    label: str
    id: str | None = None
    write: dict[str, str] = field(default_factory=dict)  # fields sent to the router
    before: dict[str, Any] | None = None  # for the diff, secrets masked
    after: dict[str, Any] | None = None
    shown: dict[str, Any] | None = None  # what the summary shows instead of ``write``

    def summary(self) -> dict[str, Any]:
        spec = MENUS.get(self.menu)
        shown = self.shown if self.shown is not None else _display(spec, self.write) if spec \
            else {k: ("(ledger)" if k == "source" else v) for k, v in self.write.items()}
        out = {"menu": self.menu, "action": self.op, "entry": self.label}
        if self.op != "delete":
            out["fields"] = shown
        return out


@dataclass
class Plan:
    actions: list[Action] = field(default_factory=list)  # entry actions, in apply order
    ledger_claims: list[Action] = field(default_factory=list)  # before the entry actions
    ledger_release: list[Action] = field(default_factory=list)  # after them
    owned: int = 0  # entries Captiva owns now, in the menus read
    warnings: list[str] = field(default_factory=list)

    @property
    def writes(self) -> list[Action]:
        return [*self.ledger_claims, *self.actions, *self.ledger_release]

    @property
    def changed(self) -> bool:
        return bool(self.writes)

    def deletions(self) -> int:
        return sum(1 for a in self.actions if a.op == "delete")


def plan(desired: Mapping[str, Any], current: Mapping[str, list[Mapping[str, Any]]],
         ledger: list[LedgerChunk] | None = None, *, marker: str = DEFAULT_MARKER,
         prune: bool = True) -> Plan:
    """Create / update / delete actions that bring the router to ``desired``.

    ``current`` maps each desired menu path to the rows its print returned; ``ledger`` holds
    the ownership ledger chunks read from /system/script. Raises RouterOSError on conflicts.
    """
    ledger = ledger or []
    owned_names = ledger_owned(ledger)
    result = Plan()
    claims: list[str] = []
    releases: list[str] = []
    conflicts = []
    certificate_conflicts: list[str] = []
    imports: list[Action] = []  # certificates: before every other write
    removals: list[Action] = []  # certificates: after every other write
    for path, value in desired.items():
        spec = MENUS[path]
        rows = current.get(path, [])
        if path == certificates.CERTIFICATE_MENU:
            names = owned_names.get(path, set())
            wanted = certificates.plan(value, rows, names, prune=prune)
            certificate_conflicts = wanted.conflicts
            result.warnings.extend(wanted.warnings)
            result.owned += wanted.owned
            present = {_as_text(r.get("name")) for r in rows}
            wanted_names = {_as_text(e.get("name")) for e in value}
            # Lines whose certificate is gone (removed by hand) and not wanted again.
            releases.extend(f"{path} {n}" for n in sorted(names - present - wanted_names))
            for entry in wanted.create:
                claims.append(f"{path} {entry['name']}")
                shown = certificates.describe(entry)
                imports.append(Action(path, "create", f"name={entry['name']}", None,
                                      dict(entry), None, shown, shown))
            for row in wanted.delete:
                releases.append(f"{path} {_as_text(row.get('name'))}")
                removals.append(Action(
                    path, "delete", f"name={_as_text(row.get('name'))}", row.get(".id"), {},
                    {k: _as_text(row.get(k)) for k in ("name", "fingerprint", "common-name")
                     if row.get(k) is not None}, None))
            continue
        if spec.ownership == "settings":
            row = rows[0] if rows else {}
            changes = {k: v for k, v in value.items()
                       if normalise(k, v) != normalise(k, row.get(k))}
            if changes:
                result.actions.append(Action(
                    path, "set", "settings", None, {k: wire_value(v) for k, v in changes.items()},
                    _display(spec, {k: row.get(k) for k in changes}), _display(spec, changes)))
            continue
        if spec.ownership == "comment":
            mine = [r for r in rows if _as_text(r.get("comment")) == marker]
            foreign = [r for r in rows if _as_text(r.get("comment")) != marker]
        else:
            names = owned_names.get(path, set())
            mine = [r for r in rows if _as_text(r.get("name")) in names]
            foreign = [r for r in rows if _as_text(r.get("name")) not in names]
            present = {_as_text(r.get("name")) for r in rows}
            wanted = {_as_text(e.get("name")) for e in value}
            # Lines whose entry is gone (removed by hand) and not wanted again: forget them.
            releases.extend(f"{path} {n}" for n in sorted(names - present - wanted))
        result.owned += len(mine)
        by_key: dict[tuple, list] = {}
        for row in mine:
            by_key.setdefault(_key(spec, row), []).append(row)
        leftovers = []
        foreign_keys = {_key(spec, r): r for r in foreign}
        for entry in value:
            key = _key(spec, entry)
            label = _label(spec, entry)
            matches = by_key.pop(key, [])
            if not matches:
                if key in foreign_keys:
                    if spec.ownership == "ledger":
                        conflicts.append(f"{path} {label}")
                        continue
                    result.warnings.append(
                        f"{path} {label}: an entry Captiva does not own has the same "
                        f"{'/'.join(spec.key)}; Captiva adds its own and leaves that one alone")
                write = {k: wire_value(v) for k, v in entry.items()}
                if spec.ownership == "comment":
                    write["comment"] = marker
                else:
                    claims.append(f"{path} {_as_text(entry['name'])}")
                result.actions.append(Action(path, "create", label, None, write, None,
                                             _display(spec, entry)))
                continue
            row = matches[0]
            leftovers.extend(matches[1:])  # owned duplicates: the first one is kept
            changes = {k: v for k, v in entry.items()
                       if normalise(k, v) != normalise(k, row.get(k))}
            if changes:
                result.actions.append(Action(
                    path, "update", label, row.get(".id"),
                    {k: wire_value(v) for k, v in changes.items()},
                    _display(spec, {k: row.get(k) for k in changes}), _display(spec, changes)))
        if prune:
            for row in [*leftovers, *(r for rows_ in by_key.values() for r in rows_)]:
                result.actions.append(Action(
                    path, "delete", _label(spec, row), row.get(".id"), {},
                    _display(spec, {k: v for k, v in row.items() if k != ".id"}), None))
                if spec.ownership == "ledger":
                    releases.append(f"{path} {_as_text(row.get('name'))}")
    result.actions = [*imports, *result.actions, *removals]
    if certificate_conflicts:
        raise RouterOSError("the hotspot certificate cannot be installed: "
                            + "; ".join(certificate_conflicts))
    if conflicts:
        raise RouterOSError(
            "entries exist on the router that Captiva did not create (not in its ownership "
            "ledger), so it will not change them: " + "; ".join(conflicts)
            + ". Rename them in the roster, or remove or rename them on the router.")
    # Claim names before creating them and release them after deleting, so that an
    # interrupted run never leaves a Captiva entry the ledger does not list.
    claimed = ledger_changes(ledger, claims, (), marker)
    result.ledger_claims = _ledger_ops(ledger, claimed)
    final = ledger_changes(claimed, (), releases, marker)
    result.ledger_release = _ledger_ops(claimed, final)
    return result


def check_prune_guard(result: Plan, *, prune_max_ratio: float = DEFAULT_MAX_RATIO,
                      prune_max_count: int = DEFAULT_MAX_COUNT,
                      allow_mass_prune: bool = False) -> None:
    """The prune guard (captiva_prune) over the entries Captiva owns on this router."""
    try:
        check_prune(result.deletions(), result.owned, "entries Captiva owns on this router",
                    max_ratio=prune_max_ratio, max_count=prune_max_count,
                    allow_mass_prune=allow_mass_prune)
    except PruneRefused as exc:
        raise RouterOSError(str(exc)) from exc


def diff(result: Plan) -> dict[str, dict[str, Any]]:
    """Ansible diff: per menu, per entry, the managed fields before and after."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for action in result.actions:
        if action.before is not None:
            before.setdefault(action.menu, {})[action.label] = action.before
        if action.after is not None:
            after.setdefault(action.menu, {})[action.label] = action.after
    return {"before": before, "after": after}


# ----------------------------------------------------------------------------------------------
# Read and apply through a client


def read(client, desired: Mapping[str, Any], marker: str = DEFAULT_MARKER):
    """One print per desired menu (plus one for the ledger when a ledger menu is desired)."""
    current = {path: client.print(path) for path in desired}
    ledger: list[LedgerChunk] = []
    if any(MENUS[p].ownership == "ledger" for p in desired):
        ledger = parse_ledger(client.print(LEDGER_MENU, f"?=comment={marker}"), marker)
    return current, ledger


def apply(client, result: Plan, marker: str = DEFAULT_MARKER) -> list[dict[str, Any]]:
    """Run the plan's writes in order; deletions of one menu go in one remove command."""
    done: list[dict[str, Any]] = []
    ledger_ids: dict[str, str] = {}

    def run(action: Action) -> None:
        try:
            if action.menu == LEDGER_MENU:
                name = action.label.split("=", 1)[1]
                action.id = action.id or ledger_ids.get(name)
                if action.op == "create":
                    ledger_ids[name] = client.add(LEDGER_MENU, {
                        "name": name, "comment": marker, "policy": "read",
                        **action.write})
                    return
            if action.menu == certificates.CERTIFICATE_MENU and action.op == "create":
                certificates.install(client, action.write)
            elif action.op == "create":
                action.id = client.add(action.menu, action.write)
            elif action.op in ("update", "set"):
                client.set(action.menu, action.id, action.write)
        except Exception as exc:
            raise RouterOSError(f"{action.menu} {action.op} {action.label}: {exc}") from exc

    for action in result.ledger_claims:
        run(action)
        done.append(action.summary())
    deletes: dict[str, list[Action]] = {}
    for action in result.actions:
        if action.op == "delete":
            deletes.setdefault(action.menu, []).append(action)
            continue
        run(action)
        done.append(action.summary())
    for menu, actions in deletes.items():
        try:
            client.remove(menu, [a.id for a in actions])
        except Exception as exc:
            raise RouterOSError(f"{menu} remove {', '.join(a.label for a in actions)}: "
                                f"{exc}") from exc
        done.extend(a.summary() for a in actions)
    for action in result.ledger_release:
        if action.op == "delete":
            action.id = action.id or ledger_ids.get(action.label.split("=", 1)[1])
            client.remove(LEDGER_MENU, [action.id])
        else:
            run(action)
        done.append(action.summary())
    return done


class RouterOSClient:
    """The four calls the planner needs, over librouteros (API or API-SSL)."""

    def __init__(self, host: str, username: str, password: str, *, port: int | None = None,
                 tls: bool = True, validate_certs: bool = True, ca_path: str | None = None,
                 timeout: float = 10, command_timeout: float = 60):
        import ssl
        from functools import partial

        import librouteros
        from librouteros.exceptions import LibRouterosError

        self._errors = (LibRouterosError, OSError)
        wrapper = None
        if tls:
            context = ssl.create_default_context(cafile=ca_path)
            if not validate_certs:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            wrapper = partial(context.wrap_socket, server_hostname=host)
        port = port or (8729 if tls else 8728)
        where = f"{'api-ssl' if tls else 'api'}://{host}:{port}"
        try:
            self.api = librouteros.connect(host=host, username=username, password=password,
                                           port=port, timeout=timeout, ssl_wrapper=wrapper)
        except librouteros.exceptions.TrapError as exc:
            raise RouterOSError(f"cannot log in to {where} as {username!r}: {exc}") from exc
        except ssl.SSLError as exc:
            raise RouterOSError(f"TLS failure with {where}: {exc}") from exc
        except (OSError, LibRouterosError) as exc:
            raise RouterOSError(f"cannot reach router at {where}: {exc}") from exc
        self.api.protocol.transport.sock.settimeout(command_timeout)
        self.where = where

    def _call(self, command: str, *words: str) -> list[dict[str, Any]]:
        try:
            return list(self.api.rawCmd(command, *words))
        except self._errors as exc:
            raise RouterOSError(f"{command} on {self.where}: {exc}") from exc

    def print(self, path: str, *queries: str) -> list[dict[str, Any]]:
        return self._call(f"{path}/print", *queries)

    def command(self, command: str, fields: Mapping[str, str]) -> list[dict[str, Any]]:
        """Any other command, such as ``/certificate/import``, with its arguments."""
        return self._call(command, *(f"={k}={v}" for k, v in fields.items()))

    def add(self, path: str, fields: Mapping[str, str]) -> str:
        rows = self._call(f"{path}/add", *(f"={k}={v}" for k, v in fields.items()))
        return str(rows[0].get("ret", "")) if rows else ""

    def set(self, path: str, entry_id: str | None, fields: Mapping[str, str]) -> None:
        words = [f"={k}={v}" for k, v in fields.items()]
        if entry_id is not None:
            words.insert(0, f"=.id={entry_id}")
        self._call(f"{path}/set", *words)

    def remove(self, path: str, entry_ids: list[str]) -> None:
        self._call(f"{path}/remove", f"=.id={','.join(entry_ids)}")

    def close(self) -> None:
        # Closing a broken socket must not hide the error that broke it.
        with contextlib.suppress(Exception):
            self.api.close()


# The connection options every module that talks to a router takes (captiva_routeros,
# captiva_routeros_files), and the client they give.
CONNECTION_ARGUMENT_SPEC = {
    "host": {"type": "str", "required": True},
    "port": {"type": "int"},
    "username": {"type": "str", "required": True},
    "password": {"type": "str", "required": True, "no_log": True},
    "tls": {"type": "bool", "default": True},
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
    "timeout": {"type": "float", "default": 10},
    "command_timeout": {"type": "float", "default": 60},
}
PLAIN_API_WARNING = (
    "{host}:{port}: plain RouterOS API without TLS: the API password and the RADIUS secrets "
    "cross the network in clear. Use API-SSL (the roster's api.tls: true, port 8729) outside "
    "a lab.")


def plain_api_warning(params: Mapping[str, Any]) -> str | None:
    """The warning a module gives when it connects without TLS, else None."""
    if params["tls"]:
        return None
    return PLAIN_API_WARNING.format(host=params["host"], port=params["port"] or 8728)


def client_from_params(params: Mapping[str, Any]) -> RouterOSClient:
    return RouterOSClient(params["host"], params["username"], params["password"],
                          port=params["port"], tls=params["tls"],
                          validate_certs=params["validate_certs"], ca_path=params["ca_path"],
                          timeout=params["timeout"], command_timeout=params["command_timeout"])


def run_connected(module, work: Callable[[RouterOSClient], dict[str, Any]]) -> dict[str, Any]:
    """A RouterOS module's run: the plain API's warning, a client from the module's connection
    options, ``work(client)``'s result; the client is always closed, and a RouterOS error
    fails the module (``module`` is the AnsibleModule, passed in: no Ansible import here)."""
    warning = plain_api_warning(module.params)
    if warning:
        module.warn(warning)
    client = None
    try:
        client = client_from_params(module.params)
        return work(client)
    except RouterOSError as exc:
        module.fail_json(msg=str(exc))
        raise  # fail_json exits; a stand-in module that returns must not go on
    finally:
        if client is not None:
            client.close()


def reconcile(client, desired: Mapping[str, Any], *, marker: str = DEFAULT_MARKER,
              prune: bool = True, prune_max_ratio: float = DEFAULT_MAX_RATIO,
              prune_max_count: int = DEFAULT_MAX_COUNT, allow_mass_prune: bool = False,
              check_mode: bool = False) -> dict[str, Any]:
    """Read, plan, guard, apply (unless check mode). Returns the module's result fields."""
    errors = validate_desired(desired)
    if errors:
        raise RouterOSError("invalid desired state: " + "; ".join(errors))
    current, ledger = read(client, desired, marker)
    result = plan(desired, current, ledger, marker=marker, prune=prune)
    check_prune_guard(result, prune_max_ratio=prune_max_ratio, prune_max_count=prune_max_count,
                      allow_mass_prune=allow_mass_prune)
    actions = ([a.summary() for a in result.writes] if check_mode
               else apply(client, result, marker))
    counts: dict[str, int] = {}
    for action in result.actions:
        counts[action.op] = counts.get(action.op, 0) + 1
    return {"changed": result.changed, "actions": actions, "counts": counts,
            "diff": diff(result), "warnings": result.warnings}
