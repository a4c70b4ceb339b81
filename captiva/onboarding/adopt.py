"""Adopt an existing FreeRADIUS database (daloRADIUS, a hand-made app, radcheck typed by hand)
into a Captiva roster: a read-only scan that writes the equivalent YAML and a report of
everything it could not map, and why. Nothing in the database is changed here; taking
ownership is a later, explicit apply (``captiva_adopt``, see docs/onboarding.md).

Groups become profiles (rate limit, session and idle timeouts, Simultaneous-Use, a total data
limit), users get their group, password (Cleartext or sha512-crypt) and Expiration.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.captiva.campus.plugins.module_utils import captiva_routeros, captiva_units

from captiva.onboarding import inventory
from captiva.passwords import sha512_crypt

# Rows Captiva already owns are not adopted again.
UNOWNED = "managed_by IS DISTINCT FROM 'captiva'"
# Expiration as FreeRADIUS's rlm_expiration accepts it and daloRADIUS writes it.
EXPIRATION_FORMATS = ("%d %b %Y %H:%M:%S", "%d %b %Y %H:%M", "%d %b %Y", "%B %d %Y %H:%M:%S",
                      "%b %d %Y %H:%M:%S", "%b %d %Y", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S")
_RATE = re.compile(r"^\s*(\d+[kKMG]?)(?:/(\d+[kKMG]?))?")
_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@functools.cache
def default_interim_interval() -> tuple[str, int]:
    """captiva_interim_interval's default as group_vars/captiva_defaults.yml writes it, and in
    seconds."""
    text = str(inventory.load_plain(inventory.DEFAULTS)["captiva_interim_interval"])
    return text, captiva_units.parse_duration(text)


@dataclasses.dataclass(frozen=True)
class Unmapped:
    table: str
    owner: str          # username or groupname
    attribute: str
    value: str
    reason: str


@dataclasses.dataclass
class Adoption:
    profiles: list[dict]
    users: list[dict]
    unmapped: list[Unmapped]
    # (table, id) of every row the roster now declares: what an adopting apply takes over.
    rows: list[tuple[str, int]]

    def summary(self) -> str:
        return (f"adopt: {len(self.profiles)} profiles, {len(self.users)} users, "
                f"{len(self.unmapped)} attributes not mapped")


def read_database(conn) -> dict[str, list[dict]]:
    """The unowned rows of the five policy tables (a read-only scan)."""
    tables = {}
    columns = {"radcheck": "id, username AS owner, attribute, op, value",
               "radreply": "id, username AS owner, attribute, op, value",
               "radgroupcheck": "id, groupname AS owner, attribute, op, value",
               "radgroupreply": "id, groupname AS owner, attribute, op, value"}
    has_managed_by = {r[0] for r in conn.execute(
        "SELECT table_name FROM information_schema.columns WHERE column_name = 'managed_by' "
        "AND table_schema = current_schema()")}
    for table, cols in columns.items():
        where = f" WHERE {UNOWNED}" if table in has_managed_by else ""
        cursor = conn.execute(f"SELECT {cols} FROM {table}{where} ORDER BY id")  # noqa: S608
        tables[table] = [dict(zip(("id", "owner", "attribute", "op", "value"), r, strict=True))
                         for r in cursor]
    where = f" WHERE {UNOWNED}" if "radusergroup" in has_managed_by else ""
    id_column = "id" if conn.execute(
        "SELECT 1 FROM information_schema.columns WHERE table_name = 'radusergroup' "
        "AND column_name = 'id'").fetchone() else "NULL"
    tables["radusergroup"] = [
        {"id": r[0], "owner": r[1], "groupname": r[2], "priority": r[3]}
        for r in conn.execute(f"SELECT {id_column}, username, groupname, priority "  # noqa: S608
                              f"FROM radusergroup{where} ORDER BY username, priority")]
    return tables


def _rate(value: str) -> tuple[str, str] | None:
    """``Mikrotik-Rate-Limit`` ``rx/tx`` (router's side: rx is the client's upload)."""
    match = _RATE.match(value)
    if not match:
        return None
    upload, download = match.group(1), match.group(2) or match.group(1)
    return upload.replace("K", "k"), download.replace("K", "k")


def _expiration(value: str) -> dt.date | None:
    text = value.strip()
    if text.isdigit():
        return dt.datetime.fromtimestamp(int(text), dt.UTC).date()
    for fmt in EXPIRATION_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def profile_name(group: str) -> str:
    """The group's own name when the roster accepts it (so an adopting apply takes over the
    group's rows in place), else the closest valid name."""
    name = _NAME.sub("-", group).strip("-._")[:64] or "profile"
    return f"adopted-{name}"[:64] if name.lower().startswith("captiva-") else name


def _profile(group: str, rows: Iterable[dict], table: str, profile: dict,
             unmapped: list[Unmapped], taken: list[tuple[str, int]]) -> None:
    for row in rows:
        attribute, value = row["attribute"], str(row["value"])
        key = attribute.lower()
        if key == "mikrotik-rate-limit" and (rate := _rate(value)):
            profile["bandwidth"] = {"upload": rate[0], "download": rate[1]}
        elif key == "session-timeout" and value.isdigit():
            profile["session_timeout"] = int(value)
        elif key == "idle-timeout" and value.isdigit():
            profile["idle_timeout"] = int(value)
        elif key == "simultaneous-use" and value.isdigit():
            profile["simultaneous_use"] = int(value)
        elif key in ("mikrotik-total-limit", "max-all-traffic") and value.isdigit():
            profile.setdefault("quota", {})["total"] = \
                profile.get("quota", {}).get("total", 0) + int(value)
        elif key == "mikrotik-total-limit-gigawords" and value.isdigit():
            profile.setdefault("quota", {})["total"] = \
                profile.get("quota", {}).get("total", 0) + (int(value) << 32)
        elif key == "mikrotik-group":
            pass  # Captiva sets it itself: the profile's own name
        elif key == "acct-interim-interval":
            # Captiva sends one interval to every profile: another one is replaced, so say so.
            default, seconds = default_interim_interval()
            if value.strip() != str(seconds):
                unmapped.append(Unmapped(table, group, attribute, value, (
                    "Captiva sends one interval for every profile, captiva_interim_interval "
                    f"(default {default} = {seconds} s): the adopting apply replaces "
                    f"this one; set captiva_interim_interval: {value.strip()} to keep it")))
        else:
            reason = ("a time counter (sqlcounter): Captiva quotas are data per period, set "
                      "one by hand" if key.startswith("max-") else
                      f"no Captiva profile setting for {attribute}")
            unmapped.append(Unmapped(table, group, attribute, value, reason))
            continue
        taken.append((table, row["id"]))


def adopt(tables: Mapping[str, list[dict]], *, default_profile: str | None = None) -> Adoption:
    """The roster equivalent of the scanned rows (pure)."""
    unmapped: list[Unmapped] = []
    taken: list[tuple[str, int]] = []
    groups: dict[str, dict] = {}
    by_group: dict[str, dict[str, list]] = defaultdict(lambda: {"check": [], "reply": []})
    for row in tables.get("radgroupcheck", []):
        by_group[row["owner"]]["check"].append(row)
    for row in tables.get("radgroupreply", []):
        by_group[row["owner"]]["reply"].append(row)
    memberships: dict[str, list[dict]] = defaultdict(list)
    for row in tables.get("radusergroup", []):
        memberships[row["owner"]].append(row)
        by_group.setdefault(row["groupname"], {"check": [], "reply": []})
    for group in sorted(by_group):
        profile: dict[str, Any] = {"name": profile_name(group),
                                   "description": f"adopted from RADIUS group {group}"}
        _profile(group, by_group[group]["check"], "radgroupcheck", profile, unmapped, taken)
        _profile(group, by_group[group]["reply"], "radgroupreply", profile, unmapped, taken)
        groups[group] = profile

    checks: dict[str, list[dict]] = defaultdict(list)
    for row in tables.get("radcheck", []):
        checks[row["owner"]].append(row)
    replies: dict[str, list[dict]] = defaultdict(list)
    for row in tables.get("radreply", []):
        replies[row["owner"]].append(row)

    users = []
    for username in sorted(set(checks) | set(memberships), key=str.lower):
        user: dict[str, Any] = {"username": username}
        member = sorted(memberships.get(username, []), key=lambda r: r["priority"] or 0)
        if member:
            user["profile"] = groups[member[0]["groupname"]]["name"]
            if member[0]["id"] is not None:
                taken.append(("radusergroup", member[0]["id"]))
            for extra in member[1:]:
                unmapped.append(Unmapped("radusergroup", username, "group", extra["groupname"],
                                         "a Captiva user has one profile: kept the group of "
                                         f"lowest priority ({member[0]['groupname']})"))
        elif default_profile:
            user["profile"] = default_profile
        for row in checks.get(username, []):
            attribute, value = row["attribute"], str(row["value"])
            key = attribute.lower()
            if key == "cleartext-password":
                user["password"] = value
            elif key == "crypt-password" and value.startswith("$6$"):
                user["password_hash"] = value
            elif key == "auth-type" and value.lower() == "reject":
                user["enabled"] = False
            elif key == "expiration" and (day := _expiration(value)):
                user["expires"] = day
            else:
                reason = {
                    "crypt-password": "not sha512-crypt ($6$): give the user a new password",
                    "md5-password": "MD5 hashes are not accepted: give the user a new password",
                    "nt-password": "NT hashes are not accepted: give the user a new password",
                    "expiration": f"unreadable date {value!r}",
                }.get(key, f"no Captiva user setting for {attribute}")
                unmapped.append(Unmapped("radcheck", username, attribute, value, reason))
                continue
            taken.append(("radcheck", row["id"]))
        if "password" not in user and "password_hash" not in user:
            unmapped.append(Unmapped("radcheck", username, "password", "",
                                     "no usable password: the user needs a new one"))
        for row in replies.get(username, []):
            unmapped.append(Unmapped("radreply", username, row["attribute"], str(row["value"]),
                                     "per-user reply attributes stay the admin's own rows "
                                     "(Captiva never edits them)"))
        users.append(user)
    return Adoption(list(groups.values()), users, unmapped, taken)


# Connection parameters that are secrets: never in a DSN given on the command line.
SECRET_DSN_KEYS = ("password", "sslpassword")


class SecretInDsn(ValueError):
    pass


def scan_source(dsn: str) -> str:
    """The database a scan reads, as the report names it: the DSN's parameters (keyword or
    URI form) written back as ``key=value`` pairs.

    A DSN holding a password is refused (:class:`SecretInDsn`): a command line is seen by
    every user of the host (``ps``), kept in the shell's history, and was copied into the
    report. libpq takes the password from ``PGPASSWORD`` or ``~/.pgpass`` instead, and
    ``adopt-db --password-file`` reads it from a file.
    """
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        params = conninfo_to_dict(dsn)
    except ProgrammingError as exc:
        raise ValueError(f"--dsn is not a libpq connection string: {exc}") from None
    found = [key for key in SECRET_DSN_KEYS if params.get(key)]
    if found:
        raise SecretInDsn(
            f"--dsn holds a {found[0]}: a command line is visible to every user of this host "
            "and kept in the shell's history. Remove it from --dsn and give it in the "
            "PGPASSWORD environment variable or with --password-file FILE")
    return make_conninfo("", **params)


def report(adoption: Adoption, source: str) -> str:
    lines = [f"# Adoption report: {source}", "", adoption.summary(), ""]
    if adoption.unmapped:
        lines += ["| table | user or group | attribute | value | why it is not mapped |",
                  "|---|---|---|---|---|"]
        for u in adoption.unmapped:
            value = "********" if "password" in u.attribute.lower() else u.value
            lines.append(f"| {u.table} | {u.owner} | {u.attribute} | {value} | {u.reason} |")
    else:
        lines.append("Every attribute was mapped.")
    lines += ["", "Rows an adopting apply takes over (`captiva_adopt: true`): "
              f"{len(adoption.rows)}.", ""]
    return "\n".join(lines)


def roster_documents(adoption: Adoption, *, hash_passwords: bool) -> dict[str, Any]:
    """``profiles.yml`` and ``users.yml`` documents; cleartext passwords become sha512-crypt
    hashes (PAP keeps working) unless the caller vaults them."""
    profiles = inventory.CommentedMap()
    profiles["captiva_profiles"] = adoption.profiles
    users_doc = inventory.CommentedMap()
    users = []
    for user in adoption.users:
        user = dict(user)
        if hash_passwords and "password" in user:
            user["password_hash"] = sha512_crypt(user.pop("password"))
        if isinstance(user.get("expires"), dt.date):
            user["expires"] = user["expires"].isoformat()
        users.append(user)
    users_doc["captiva_users"] = users
    return {"profiles.yml": profiles, "users.yml": users_doc}


# --------------------------------------------------------------------------------------------
# RouterOS: /ip/hotspot/user and /ip/hotspot/user/profile, read over the API

def _duration(value: str) -> int | None:
    """RouterOS prints ``8h``, ``1d2h``, ``00:10:00`` or ``none``; seconds, or None."""
    if not value or value in ("none", "0s"):
        return None
    millis = captiva_routeros.duration_ms(value)
    return None if millis is None else millis // 1000


# Fields of /ip/hotspot/user/profile that Captiva's reconcile sets itself or that carry no
# user policy: not reported.
ROUTER_PROFILE_FIELDS = {"keepalive-timeout", "status-autorefresh", "open-status-page",
                         "mac-cookie-timeout", "add-mac-cookie", "transparent-proxy",
                         "insert-queue-before", "parent-queue", "queue-type", "address-pool",
                         "comment"}
# Per-user values on /ip/hotspot/user that mean "no limit, no binding".
UNSET_USER_VALUES = {"0", "0s", "all", "none", "0.0.0.0", "00:00:00:00:00:00"}  # noqa: S104


def adopt_routeros(profiles: Iterable[Mapping[str, str]], users: Iterable[Mapping[str, str]],
                   router: str) -> Adoption:
    """The roster equivalent of a router's local hotspot users and user profiles (pure).
    Values as librouteros returns them (booleans and integers decoded) or as RouterOS prints
    them (text)."""
    def text(entry):
        return {k: ("true" if v is True else "false" if v is False else str(v))
                for k, v in entry.items()}

    profiles = [text(e) for e in profiles]
    users = [text(e) for e in users]
    unmapped: list[Unmapped] = []
    mapped_profiles: dict[str, dict] = {}
    for entry in profiles:
        source = entry.get("name", "")
        profile: dict[str, Any] = {"name": profile_name(f"router-{source}" if source == "default"
                                                        else source),
                                   "description": f"adopted from {router} user profile {source}"}
        for field, value in entry.items():
            if field in (".id", "name", "default", "dynamic", "invalid") or value in ("", None):
                continue
            if field == "rate-limit" and (rate := _rate(value)):
                profile["bandwidth"] = {"upload": rate[0], "download": rate[1]}
            elif field in ("session-timeout", "idle-timeout"):
                seconds = _duration(value)
                if seconds:
                    profile[field.replace("-", "_")] = seconds
            elif field == "shared-users":
                profile["simultaneous_use"] = "unlimited" if value == "unlimited" else int(value)
            elif field in ROUTER_PROFILE_FIELDS or value in ("false", "none", "no"):
                continue  # set by Captiva's own hotspot user profile, or off
            else:
                unmapped.append(Unmapped("/ip/hotspot/user/profile", source, field, value,
                                         f"no Captiva profile setting for {field}"))
        mapped_profiles[source] = profile

    roster_users = []
    for entry in users:
        name = entry.get("name", "")
        if not name or entry.get("default") == "true":
            continue
        user: dict[str, Any] = {"username": name}
        if entry.get("profile") in mapped_profiles:
            user["profile"] = mapped_profiles[entry["profile"]]["name"]
        if entry.get("disabled") == "true":
            user["enabled"] = False
        if entry.get("email"):
            user["email"] = entry["email"]
        if entry.get("password"):
            user["password"] = entry["password"]
        else:
            reason = ("the router did not return it (the API user lacks the 'sensitive' "
                      "policy)" if "password" not in entry else "empty on the router")
            unmapped.append(Unmapped("/ip/hotspot/user", name, "password", "",
                                     f"{reason}: the user needs a new password"))
        for field in ("limit-uptime", "limit-bytes-in", "limit-bytes-out", "limit-bytes-total",
                      "mac-address", "address", "routes", "server"):
            value = entry.get(field)
            if value and value not in UNSET_USER_VALUES:
                unmapped.append(Unmapped("/ip/hotspot/user", name, field, value,
                                         "per-user router limit: give the user a personal "
                                         "profile with the equivalent quota"
                                         if field.startswith("limit-") else
                                         "per-user router binding: not a Captiva setting"))
        roster_users.append(user)
    unmapped.append(Unmapped("/ip/hotspot/user", "*", "(all)", "",
                             "local hotspot users shadow RADIUS: once the adopted roster is "
                             "applied and tested, remove them from the router"))
    used = {u.get("profile") for u in roster_users}
    kept = [p for p in mapped_profiles.values() if p["name"] in used]
    return Adoption(kept, roster_users, unmapped, [])
