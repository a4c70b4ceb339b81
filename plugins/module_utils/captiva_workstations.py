"""Public workstations (docs/workstations.md): the roster's PCs and each site's session rules.

Pure Python, no Ansible imports beyond the schema checkers: pytest imports this file directly;
``captiva_roster.validate`` calls :func:`validate_workstations` and
``captiva_roster_compile.compile_radius`` calls :func:`compile_workstations`.

In the roster::

    captiva_workstations:
      - name: BIB-PC-01            # unique
        site: campus-ndogbong      # a declared site; the IP must lie in one of its networks
        mac: "02:00:5e:10:00:01"   # unique; FreeRADIUS accepts the PC's codes only from it
        ip: 10.5.60.11             # unique; the kiosk page recognises the PC by it
        room: Bibliotheque
        maintenance: false         # the console can also set (and clear) maintenance
    captiva_workstation_rules:
      - site: campus-ndogbong
        opening_hours: {monday: "08:00-18:00", saturday: "09:00-13:00"}  # other days closed
        default_session: 1h        # what "issue" grants unless the operator says otherwise
        max_session: 2h            # cap of one session, added time included
        daily_sessions: 3          # per member and day (omit: no limit)
        daily_time: 3h             # per member and day, granted time (omit: no limit)
        warnings: [5m, 2m, 1m, 30s, 10s]
        guest_retention_days: 90   # walk-in guests' data is erased this long after last use

Sites without rules get the defaults below (open every day 08:00-20:00, 1 h, at most 2 h,
3 sessions a day). Days are in the site's timezone.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster_schema import (
    INVALID,
    WEEKDAYS,
    Field,
    RosterError,
    address,
    boolean,
    duration,
    fail,
    integer,
    list_of,
    name,
    positive,
    record,
    suggest,
    text,
    type_name,
    unique_records,
)

WORKSTATIONS_KEY = "captiva_workstations"
RULES_KEY = "captiva_workstation_rules"
DEFAULT_WARNINGS = [300, 120, 60, 30, 10]
DEFAULT_RULES = {
    "opening_hours": dict.fromkeys(WEEKDAYS, (8 * 60, 20 * 60)),
    "default_session": 3600,
    "max_session": 7200,
    "daily_sessions": 3,
    "daily_time": None,
    "warnings": DEFAULT_WARNINGS,
    "guest_retention_days": 90,
}
_MAC = re.compile(r"^([0-9A-Fa-f]{2})([:-]?)([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})\2"
                  r"([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})$")
# A session code as FreeRADIUS normalises it (roles/freeradius vars, __freeradius_workstation_code):
# P + 15 digits, typed P-48291-37502-46813 or compact.
SESSION_CODE = re.compile(r"^\s*[Pp][- ]?[0-9]{5}[- ]?[0-9]{5}[- ]?[0-9]{5}\s*$")
_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def mac(value, path, errors):
    """A MAC address in the form RouterOS sends as Calling-Station-Id: AA:BB:CC:DD:EE:FF."""
    match = _MAC.match(value) if isinstance(value, str) else None
    if not match:
        return fail(errors, path, f"invalid MAC address {value!r}: expected AA:BB:CC:DD:EE:FF")
    return ":".join(match.group(i) for i in (1, 3, 4, 5, 6, 7)).upper()


def network(value, path, errors):
    """An IP network in CIDR form (host bits zero), normalised."""
    try:
        return str(ipaddress.ip_network(str(value), strict=True))
    except ValueError as exc:
        return fail(errors, path, f"invalid network {value!r}: {exc} (expected e.g. "
                                   "10.5.60.0/24)")


def opening(value, path, errors):
    """``"08:00-18:00"`` -> (480, 1080) minutes of the day; ``closed`` -> None."""
    if value in ("closed", False):
        return None
    match = _HOURS.match(value) if isinstance(value, str) else None
    if not match:
        return fail(errors, path, f"invalid opening hours {value!r}: expected HH:MM-HH:MM "
                                   "(e.g. 08:00-18:00) or closed")
    opens = int(match.group(1)) * 60 + int(match.group(2))
    closes = int(match.group(3)) * 60 + int(match.group(4))
    if closes > 24 * 60 or closes <= opens:
        return fail(errors, path, f"{value!r}: closing time must be after opening time, the "
                                   "same day (24:00 at the latest)")
    return opens, closes


def hours(value, path, errors):
    if not isinstance(value, dict):
        return fail(errors, path, f"expected a mapping of weekday: HH:MM-HH:MM, got "
                                   f"{type_name(value)}")
    out = {}
    for day, span in value.items():
        if not isinstance(day, str) or day.lower() not in WEEKDAYS:
            fail(errors, f"{path}.{day}", "unknown weekday" + suggest(day, WEEKDAYS))
            continue
        out[day.lower()] = opening(span, f"{path}.{day}", errors)
    return out


WORKSTATION = record({
    "name": Field(name, required=True),
    "site": Field(name, required=True),
    "mac": Field(mac, required=True),
    "ip": Field(address, required=True),
    "room": Field(text, default=""),
    "maintenance": Field(boolean, default=False),
})
RULES = record({
    "site": Field(name, required=True),
    "opening_hours": Field(hours),
    "default_session": Field(positive(duration, "session length")),
    "max_session": Field(positive(duration, "session length")),
    "daily_sessions": Field(integer(1, 100)),
    "daily_time": Field(positive(duration, "daily time")),
    "warnings": Field(list_of(positive(duration, "warning"), unique=True)),
    "guest_retention_days": Field(integer(1, 3650)),
})


def validate_workstations(variables: Mapping[str, Any], sites: Mapping[str, Mapping]
                          ) -> tuple[list[dict], dict[str, dict], list[RosterError]]:
    """Workstations and rules by site, or the errors (YAML path + reason).

    ``sites`` maps site names to the validated site records (their ``networks``)."""
    errors: list[RosterError] = []
    workstations: list[dict] = []
    seen: dict[str, dict[str, str]] = {"name": {}, "mac": {}, "ip": {}}
    raw = variables.get(WORKSTATIONS_KEY) or []
    if not isinstance(raw, list):
        fail(errors, WORKSTATIONS_KEY, f"expected a list, got {type_name(raw)}")
        raw = []
    for i, item in enumerate(raw):
        path = f"{WORKSTATIONS_KEY}[{i}]"
        ws = WORKSTATION(item, path, errors)
        if ws is INVALID:
            continue
        for field in ("name", "mac", "ip"):
            value = ws[field]
            if value is INVALID:
                continue
            folded = value.lower() if isinstance(value, str) else value
            if folded in seen[field]:
                fail(errors, f"{path}.{field}", f"duplicate workstation {field} {value!r} "
                                                f"(already used by {seen[field][folded]})")
            else:
                seen[field][folded] = path
        site = sites.get(ws["site"]) if isinstance(ws["site"], str) else None
        if isinstance(ws["site"], str) and site is None:
            fail(errors, f"{path}.site", f"unknown site {ws['site']!r}" + suggest(ws["site"],
                                                                                 sites))
        elif site is not None and ws["ip"] is not INVALID:
            networks = [n for n in (site.get("networks") or []) if n is not INVALID]
            ip = ipaddress.ip_address(ws["ip"])
            if not networks:
                fail(errors, f"{path}.ip", f"site {ws['site']!r} declares no networks: add "
                                           "the workstations' network to its networks list")
            elif not any(ip in ipaddress.ip_network(n) for n in networks):
                fail(errors, f"{path}.ip", f"{ws['ip']} is not in a network of site "
                                           f"{ws['site']!r} ({', '.join(networks)})")
        workstations.append(ws)

    rules: dict[str, dict] = {}
    raw_rules = variables.get(RULES_KEY) or []
    if not isinstance(raw_rules, list):
        fail(errors, RULES_KEY, f"expected a list, got {type_name(raw_rules)}")
        raw_rules = []
    for _, path, rule in unique_records(raw_rules, RULES_KEY, RULES, "site", errors,
                                        "rules for site"):
        if rule["site"] not in sites:
            fail(errors, f"{path}.site", f"unknown site {rule['site']!r}"
                 + suggest(rule["site"], sites))
        merged = {k: (DEFAULT_RULES[k] if rule.get(k) is None else rule[k])
                  for k in DEFAULT_RULES}
        if rule.get("opening_hours") is not None and rule["opening_hours"] is not INVALID:
            merged["opening_hours"] = {day: rule["opening_hours"].get(day) for day in WEEKDAYS}
        if INVALID in merged.values():
            continue
        if merged["default_session"] > merged["max_session"]:
            fail(errors, f"{path}.default_session", "the default session is longer than "
                                                    "max_session")
        if merged["daily_time"] is not None and merged["default_session"] > merged["daily_time"]:
            fail(errors, f"{path}.default_session", "the default session is longer than "
                                                    "daily_time")
        rules[rule["site"]] = merged
    for site in sites:
        rules.setdefault(site, dict(DEFAULT_RULES))
    # FreeRADIUS takes such a username for a workstation's session code.
    for i, user in enumerate(variables.get("captiva_users") or []):
        if isinstance(user, dict) and isinstance(user.get("username"), str) \
                and SESSION_CODE.match(user["username"]):
            fail(errors, f"captiva_users[{i}].username",
                 f"{user['username']!r} has the shape of a public workstation's session code "
                 "(P + 15 digits): choose another username")
    return workstations, rules, errors


def compile_workstations(workstations: list[dict], rules: Mapping[str, Mapping]
                         ) -> dict[str, list[dict]]:
    """Rows of captiva_workstation, captiva_workstation_rules, captiva_workstation_hours."""
    hours_rows = []
    rule_rows = []
    for site, rule in sorted(rules.items()):
        rule_rows.append({
            "site": site, "default_seconds": rule["default_session"],
            "max_seconds": rule["max_session"], "daily_sessions": rule["daily_sessions"],
            "daily_seconds": rule["daily_time"],
            "warnings": sorted(rule["warnings"], reverse=True),
            "guest_retention_days": rule["guest_retention_days"]})
        for i, day in enumerate(WEEKDAYS):
            span = rule["opening_hours"].get(day)
            if span is not None:
                hours_rows.append({"site": site, "weekday": i + 1, "opens_minute": span[0],
                                   "closes_minute": span[1]})
    return {
        "captiva_workstation": [
            {"name": w["name"], "site": w["site"], "mac": w["mac"], "ip": w["ip"],
             "room": w["room"], "maintenance": w["maintenance"]} for w in workstations],
        "captiva_workstation_rules": rule_rows,
        "captiva_workstation_hours": hours_rows,
    }
