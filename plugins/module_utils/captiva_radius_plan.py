"""Reconcile the compiled roster into the RADIUS database: read, plan, apply.

No Ansible imports: ``plugins/modules/captiva_radius.py`` is a thin wrapper and pytest
drives these functions directly against a real PostgreSQL.

- **Ownership.** Only rows with ``managed_by = 'captiva'`` in the FreeRADIUS policy tables
  are read, changed or deleted; every other row belongs to someone else. Captiva's own
  ``captiva_*`` tables are wholly Captiva's.
- **One plan.** :func:`plan` compares the current and desired rows once; ``changed``, the
  counts, the diff and the statements all come from that plan.
- **One transaction.** :func:`reconcile` takes a transaction-scoped advisory lock (two
  applies are serialised), reads the state, plans and applies with set-based statements
  (COPY and array-driven UPDATE/DELETE), then commits; any failure rolls everything back.
  Check mode plans inside the same kind of transaction and rolls back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import time
from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.captiva.campus.plugins.module_utils.captiva_prune import (
    DEFAULT_MAX_COUNT,
    DEFAULT_MAX_RATIO,
    check_prune,
)
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster import (
    MANAGED_BY,
    PASSWORD_ATTRIBUTES,
)
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster_compile import (
    compile_radius,
)

ADVISORY_LOCK_KEY = 0x43415054  # "CAPT": serialises Captiva reconciles on one database
MASK = "********"
DIFF_LIMIT = 200  # entries shown in a diff; the counts always cover everything
# Personal data: masked in diffs (they end up in merge-request CI logs) unless shown on purpose.
PERSONAL_COLUMNS = frozenset({"first_name", "last_name", "email"})


@dataclasses.dataclass(frozen=True)
class TableSpec:
    """How one table is reconciled: its natural key, compared columns, surrogate id."""

    name: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    id_column: str | None = None  # FreeRADIUS tables: rows are updated/deleted by id
    managed: bool = False  # FreeRADIUS tables: only managed_by = 'captiva' rows are ours


POLICY_TABLES = (
    TableSpec("radgroupcheck", ("groupname", "attribute"), ("op", "value"), "id", True),
    TableSpec("radgroupreply", ("groupname", "attribute"), ("op", "value"), "id", True),
    TableSpec("radcheck", ("username", "attribute"), ("op", "value"), "id", True),
    TableSpec("radusergroup", ("username",), ("groupname", "priority"), "id", True),
)
# In dependency order: routers reference sites.
ROSTER_TABLES = (
    # One row (id = true): the campus calendar of quota periods for users without a NAS.
    TableSpec("captiva_quota_settings", ("id",), ("timezone", "week_start", "month_start_day")),
    TableSpec("captiva_site", ("name",), ("timezone", "week_start", "month_start_day")),
    TableSpec("captiva_router", ("name",), ("site", "nasipaddress", "coa_port",
                                            "hotspot_dns_name")),
    TableSpec("captiva_profile", ("name",), (
        "rate_upload", "rate_download", "quota_daily", "quota_weekly", "quota_monthly",
        "quota_total", "session_timeout", "idle_timeout", "simultaneous_use", "validity_days",
        "alert_quota_percent", "alert_expiry_days")),
    TableSpec("captiva_promotion", ("name",), ("profile", "wifi_enabled")),
    TableSpec("captiva_user", ("username",), (
        "first_name", "last_name", "email", "language", "promotion", "own_profile", "profile",
        "enabled", "status", "expires_at", "activated_on")),
    # The portal's staff and their role (migration 0110): who may use the console.
    TableSpec("captiva_staff", ("username",), ("role", "sites")),
    # Vouchers (migration 0080, docs/vouchers.md): batches, their codes, the roster's
    # revocations. Urgent revocations (source 'urgent') are kept until the roster lists them.
    TableSpec("captiva_voucher_batch", ("name",), (
        "profile", "time_credit", "window_after_first_use", "starts_at", "ends_at", "data_cap",
        "simultaneous_use", "sites", "language", "count")),
    TableSpec("captiva_voucher", ("code",), ("batch", "index")),
    TableSpec("captiva_voucher_revocation", ("code",), ("source",)),
    # Public workstations and their sites' session rules (migration 0120, docs/workstations.md)
    TableSpec("captiva_workstation", ("name",), ("site", "mac", "ip", "room", "maintenance")),
    TableSpec("captiva_workstation_rules", ("site",), (
        "default_seconds", "max_seconds", "daily_sessions", "daily_seconds", "warnings",
        "guest_retention_days")),
    TableSpec("captiva_workstation_hours", ("site", "weekday"), ("opens_minute",
                                                                 "closes_minute")),
)
TABLES = {spec.name: spec for spec in (*POLICY_TABLES, *ROSTER_TABLES)}
# The roster's other kinds, counted in the plan's summary beside users, groups and vouchers,
# and the tables that hold each: one entity per value of their first key column (a site's
# workstation rules and opening hours count once, for the site).
KINDS = {
    "settings": ("captiva_quota_settings",),
    "sites": ("captiva_site",),
    "routers": ("captiva_router",),
    "profiles": ("captiva_profile",),
    "promotions": ("captiva_promotion",),
    "staff": ("captiva_staff",),
    "voucher_batches": ("captiva_voucher_batch",),
    "workstations": ("captiva_workstation",),
    "workstation_rules": ("captiva_workstation_rules", "captiva_workstation_hours"),
}


def _typed(column: str, value: Any) -> Any:
    """A compiled value in the Python type psycopg reads back, so rows compare directly.

    (Aware datetimes compare as instants whatever their timezone.)
    """
    if value is None:
        return None
    if column in ("expires_at", "starts_at", "ends_at") and isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    if column == "activated_on" and isinstance(value, str):
        return dt.date.fromisoformat(value)
    if column == "nasipaddress":
        return ipaddress.ip_address(value)
    return value


# --------------------------------------------------------------------------------------------
# Reading


@dataclasses.dataclass
class State:
    """Current rows per table: natural key -> (ids, values)."""

    rows: dict[str, dict[tuple, tuple[list[int], tuple]]]

    def activations(self) -> dict[str, dt.date]:
        return {key[0]: values[-1] for key, (_ids, values) in self.rows["captiva_user"].items()}


def read_state(cur) -> State:
    rows: dict[str, dict] = {}
    for spec in (*POLICY_TABLES, *ROSTER_TABLES):
        columns = [*(spec.id_column and [spec.id_column] or []), *spec.key, *spec.columns]
        where = " WHERE managed_by = %s" if spec.managed else ""
        order = f" ORDER BY {spec.id_column}" if spec.id_column else ""
        cur.execute(f"SELECT {', '.join(columns)} FROM {spec.name}{where}{order}",  # noqa: S608
                    (MANAGED_BY,) if spec.managed else ())
        table: dict[tuple, tuple[list[int], tuple]] = {}
        offset = 1 if spec.id_column else 0
        split = offset + len(spec.key)
        for record in cur.fetchall():
            key = record[offset:split]
            if key in table:  # duplicates of one key: keep the first, the rest get deleted
                table[key][0].append(record[0])
                continue
            table[key] = ([record[0]] if offset else [], record[split:])
        rows[spec.name] = table
    return State(rows)


# --------------------------------------------------------------------------------------------
# Desired rows


def _crypt(password: str, existing: str | None) -> str:
    """sha512-crypt with 5,000 rounds, as the runtime's captiva.passwords writes it; keeps the
    stored hash when the password still matches it (idempotence). passlib hashes through
    crypt(3) where Python has it, and in pure Python where it does not (3.13 and later)."""
    from passlib.hash import sha512_crypt

    if existing and existing.startswith("$6$"):
        try:
            if sha512_crypt.verify(password, existing):
                return existing
        except ValueError:  # not a well-formed sha512-crypt hash: replaced, as any other
            pass
    return sha512_crypt.using(rounds=5000).hash(password)


def desired_rows(compiled: Mapping[str, Any], state: State) -> dict[str, dict[tuple, tuple]]:
    """Compiled roster -> rows per table, keyed like :class:`State`."""
    radius = compiled["radius"]
    out: dict[str, dict[tuple, tuple]] = {spec.name: {} for spec in TABLES.values()}
    for group, rows in radius["groups"].items():
        for table, kind in (("radgroupcheck", "check"), ("radgroupreply", "reply")):
            for attribute, op, value in rows[kind]:
                out[table][(group, attribute)] = (op, value)
    current_check = state.rows["radcheck"]
    for username, user in radius["users"].items():
        password = user["password"]
        if password["scheme"] == "cleartext":
            out["radcheck"][(username, "Cleartext-Password")] = (":=", password["value"])
        else:
            value = password["value"]
            if password["scheme"] == "crypt":
                existing = current_check.get((username, "Crypt-Password"))
                value = _crypt(value, existing[1][1] if existing else None)
            out["radcheck"][(username, "Crypt-Password")] = (":=", value)
        for attribute, op, value in user["check"]:
            out["radcheck"][(username, attribute)] = (op, value)
        out["radusergroup"][(username,)] = (user["group"], 1)
    for spec in ROSTER_TABLES:
        for row in compiled["tables"][spec.name]:
            key = tuple(row[k] for k in spec.key)
            out[spec.name][key] = tuple(_typed(c, row[c]) for c in spec.columns)
    return out





# --------------------------------------------------------------------------------------------
# Rows that are not Captiva's but touch what it manages: reported (drift), or adopted


def _claims(desired: Mapping[str, Mapping[tuple, tuple]]) -> dict[str, tuple[str, list, list]]:
    """Per policy table: the owner column and the (owner, attribute) pairs Captiva declares.
    A user's password attributes are all claimed, so that adopting a user also takes over a
    stored password of another scheme (and the plan replaces it)."""
    users = sorted({k[0] for k in desired["radusergroup"]})
    claims = {}
    for table, owner in (("radgroupcheck", "groupname"), ("radgroupreply", "groupname"),
                         ("radcheck", "username")):
        pairs = set(desired[table])
        if table == "radcheck":
            pairs |= {(u, a) for u in users for a in PASSWORD_ATTRIBUTES}
        pairs = sorted(pairs)
        claims[table] = (owner, [p[0] for p in pairs], [p[1] for p in pairs])
    return claims


def foreign_rows(cur, desired: Mapping[str, Mapping[tuple, tuple]]) -> dict[str, int]:
    """Unlabelled rows (``managed_by`` NULL) for the users and groups Captiva manages: a row
    added by hand, or one an adoption has yet to take over. Captiva never edits them; drift
    detection reports them. Rows an admin keeps on purpose carry another label (e.g.
    ``managed_by = 'admin'``) and are not reported."""
    users = sorted({k[0] for k in desired["radusergroup"]})
    groups = sorted({k[0] for t in ("radgroupcheck", "radgroupreply") for k in desired[t]})
    counts = {}
    for table, owner, names in (("radcheck", "username", users), ("radreply", "username", users),
                                ("radusergroup", "username", users),
                                ("radgroupcheck", "groupname", groups),
                                ("radgroupreply", "groupname", groups)):
        cur.execute(f"SELECT count(*) FROM {table} WHERE managed_by IS NULL "  # noqa: S608
                    f"AND {owner} = ANY(%s)", (names,))
        count = cur.fetchone()[0]
        if count:
            counts[table] = count
    return counts


def adopt_rows(cur, desired: Mapping[str, Mapping[tuple, tuple]]) -> dict[str, int]:
    """Take ownership, in place, of exactly the unowned rows that the roster declares: the
    same (user or group, attribute), a user's stored password of any scheme, a user's group
    membership of lowest priority. The plan that follows then updates their values by id,
    so no row is duplicated and FreeRADIUS sees the old rows or the new ones, never none."""
    adopted = {}
    for table, (owner, names, attributes) in _claims(desired).items():
        cur.execute(
            f"UPDATE {table} t SET managed_by = %s FROM unnest(%s::text[], %s::text[]) "  # noqa: S608
            f"AS c(owner, attribute) WHERE t.managed_by IS NULL AND t.{owner} = c.owner "
            f"AND t.attribute = c.attribute "
            f"AND NOT EXISTS (SELECT 1 FROM {table} o WHERE o.managed_by = %s "
            f"AND o.{owner} = t.{owner} AND o.attribute = t.attribute)",
            (MANAGED_BY, names, attributes, MANAGED_BY))
        if cur.rowcount:
            adopted[table] = cur.rowcount
    users = sorted({k[0] for k in desired["radusergroup"]})
    cur.execute(
        "UPDATE radusergroup t SET managed_by = %s FROM ("
        " SELECT DISTINCT ON (username) id FROM radusergroup"
        " WHERE managed_by IS NULL AND username = ANY(%s)"
        " AND username NOT IN (SELECT username FROM radusergroup WHERE managed_by = %s)"
        " ORDER BY username, priority, id) c WHERE t.id = c.id",
        (MANAGED_BY, users, MANAGED_BY))
    if cur.rowcount:
        adopted["radusergroup"] = cur.rowcount
    return adopted


def active_grants(cur, now: dt.datetime) -> dict[str, int]:
    """Quota grants of the console in force (runtime data, not roster): reported by plan and
    drift so that they are visible, never silent."""
    cur.execute("SELECT count(*), count(DISTINCT username) FROM captiva_quota_grant"
                " WHERE starts_at <= %s AND expires_at > %s", (now, now))
    count, users = cur.fetchone()
    return {"count": count, "users": users}


def student_passwords(cur, desired: Mapping[str, Mapping[tuple, tuple]],
                      actor: str | None) -> dict[str, int]:
    """Passwords students set on the portal (migration 0190): the database keeps each one
    whose roster password row is still the one it was set over, and deletes (and audits) the
    others: a new ``password`` or ``password_hash`` in the roster is an admin reset. Compared
    with the rows this plan writes; in check mode the transaction is rolled back."""
    rows = [(key[0], key[1], values[1]) for key, values in desired["radcheck"].items()
            if key[1] in PASSWORD_ATTRIBUTES]
    cur.execute("SELECT kept, replaced FROM captiva_student_credentials_roster("
                "%s::text[], %s::text[], %s::text[], %s)",
                ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], actor))
    kept, replaced = cur.fetchone()
    return {"kept": kept, "replaced": replaced}


def changed_users(the_plan: Plan) -> dict[str, list[str]]:
    """Usernames added, changed and removed by a plan (for the applied-change log)."""
    added, removed, touched = set(), set(), set()
    for key, before, after in the_plan.tables["captiva_user"].changes:
        (added if before is None else removed if after is None else touched).add(key[0])
    for table in ("radcheck", "radusergroup"):
        touched |= {key[0] for key, _b, _a in the_plan.tables[table].changes}
    return {"added": sorted(added), "changed": sorted(touched - added - removed),
            "removed": sorted(removed)}


def record_change(cur, the_plan: Plan, context: Mapping[str, Any], counts: Mapping) -> None:
    from psycopg.types.json import Jsonb

    cur.execute(
        "INSERT INTO captiva_change_log (applied_by, ci_job, git_commit, git_branch, git_dirty,"
        " inventory, summary, counts, users) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (context.get("user") or "unknown", context.get("ci_job"), context.get("commit"),
         context.get("branch"), context.get("dirty"), context.get("inventory"),
         the_plan.summary(), Jsonb(dict(counts)), Jsonb(changed_users(the_plan))))


# --------------------------------------------------------------------------------------------
# Planning


@dataclasses.dataclass
class TablePlan:
    inserts: list[tuple] = dataclasses.field(default_factory=list)  # key + values
    updates: list[tuple] = dataclasses.field(default_factory=list)  # (ids|key) + values
    deletes: list[Any] = dataclasses.field(default_factory=list)  # ids or keys
    changes: list[tuple[tuple, tuple | None, tuple | None]] = dataclasses.field(
        default_factory=list)  # (key, before, after) for the diff

    @property
    def count(self) -> int:
        return len(self.inserts) + len(self.updates) + len(self.deletes)


@dataclasses.dataclass
class Plan:
    tables: dict[str, TablePlan]
    users: dict[str, int]
    groups: dict[str, int]
    diff: str
    vouchers: dict[str, int] | None = None  # None: no voucher declared, none in the database
    # Urgent revocations not yet in the roster, as "batch#index" (never the code)
    urgent_revocations: list[str] = dataclasses.field(default_factory=list)
    # KINDS: added, changed, removed of each
    kinds: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    # Passwords students set on the portal: kept, and replaced by an admin reset in the
    # roster (student_passwords()); never compared with the roster otherwise
    student_passwords: dict[str, int] = dataclasses.field(
        default_factory=lambda: {"kept": 0, "replaced": 0})

    @property
    def changed(self) -> bool:
        return (any(t.count for t in self.tables.values())
                or self.student_passwords["replaced"] > 0)

    def summary(self) -> str:
        def part(name, c):
            return f"{name}: +{c['added']} ~{c['changed']} -{c['removed']}"
        text = f"{part('users', self.users)} | {part('groups', self.groups)}"
        if self.vouchers is not None:
            text += f" | {part('vouchers', self.vouchers)}"
        for kind, counts in self.kinds.items():  # only those that change: every change counted
            if any(counts.values()):
                text += f" | {part(kind, counts)}"
        kept, replaced = self.student_passwords["kept"], self.student_passwords["replaced"]
        if kept or replaced:
            text += f" | {kept} student-set password{'' if kept == 1 else 's'} kept"
            if replaced:
                text += f", {replaced} replaced by an admin reset"
        return text

    def row_counts(self) -> dict[str, dict[str, int]]:
        return {name: {"inserted": len(t.inserts), "updated": len(t.updates),
                       "deleted": len(t.deletes)}
                for name, t in self.tables.items() if t.count}


def plan_table(spec: TableSpec, current: Mapping[tuple, tuple[list[int], tuple]],
               desired: Mapping[tuple, tuple]) -> TablePlan:
    result = TablePlan()
    for key, values in desired.items():
        found = current.get(key)
        if found is None:
            result.inserts.append((*key, *values))
            result.changes.append((key, None, values))
            continue
        ids, before = found
        if values != before:
            result.updates.append(((ids[0],) if spec.id_column else key) + tuple(values))
            result.changes.append((key, before, values))
        if len(ids) > 1:
            result.deletes.extend(ids[1:])
    for key, (ids, before) in current.items():
        if key not in desired:
            result.deletes.extend(ids if spec.id_column else [key])
            result.changes.append((key, before, None))
    return result


def plan(state: State, compiled: Mapping[str, Any], *,
         prune_max_ratio: float = DEFAULT_MAX_RATIO, prune_max_count: int = DEFAULT_MAX_COUNT,
         allow_mass_prune: bool = False, show_personal_data: bool = False,
         desired: Mapping[str, Mapping[tuple, tuple]] | None = None) -> Plan:
    if desired is None:
        desired = desired_rows(compiled, state)
    revocations = desired["captiva_voucher_revocation"]
    urgent = [key for key, (_ids, values) in state.rows["captiva_voucher_revocation"].items()
              if values == ("urgent",) and key not in revocations]
    for key in urgent:  # an admin's urgent revocation stays until the roster lists it
        revocations[key] = ("urgent",)
    tables = {name: plan_table(TABLES[name], state.rows[name], desired[name]) for name in TABLES}

    current_users = {key[0] for key in state.rows["captiva_user"]}
    wanted_users = {key[0] for key in desired["captiva_user"]}
    removed = len(current_users - wanted_users)
    check_prune(removed, len(current_users), "users", max_ratio=prune_max_ratio,
                max_count=prune_max_count, allow_mass_prune=allow_mass_prune)

    touched_users = {k[0] for t in ("radcheck", "radusergroup", "captiva_user")
                     for k, _b, _a in tables[t].changes}
    users = {"added": len(wanted_users - current_users), "removed": removed,
             "changed": len(touched_users & current_users & wanted_users)}
    current_groups = {k[0] for t in ("radgroupcheck", "radgroupreply") for k in state.rows[t]}
    wanted_groups = {k[0] for t in ("radgroupcheck", "radgroupreply") for k in desired[t]}
    touched_groups = {k[0] for t in ("radgroupcheck", "radgroupreply")
                      for k, _b, _a in tables[t].changes}
    groups = {"added": len(wanted_groups - current_groups),
              "removed": len(current_groups - wanted_groups),
              "changed": len(touched_groups & current_groups & wanted_groups)}
    current_codes = {k[0] for k in state.rows["captiva_voucher"]}
    wanted_codes = {k[0] for k in desired["captiva_voucher"]}
    # A code is a password: the diff names a voucher by its batch and index.
    labels = {key[0]: f"{batch}#{index}"
              for key, (_ids, (batch, index)) in state.rows["captiva_voucher"].items()}
    labels.update({key[0]: f"{batch}#{index}"
                   for key, (batch, index) in desired["captiva_voucher"].items()})
    vouchers = None
    if current_codes or wanted_codes:
        check_prune(len(current_codes - wanted_codes), len(current_codes), "vouchers",
                    max_ratio=prune_max_ratio, max_count=prune_max_count,
                    allow_mass_prune=allow_mass_prune)
        newly_revoked = {k[0] for k, before, after in tables["captiva_voucher_revocation"].changes
                         if before is None and after == ("roster",)}
        # A batch whose terms changed (profile, validity, limits) changes its codes; one that
        # only grew (count) does not.
        terms = [i for i, c in enumerate(TABLES["captiva_voucher_batch"].columns) if c != "count"]
        changed_batches = {k[0] for k, before, after in tables["captiva_voucher_batch"].changes
                           if before is not None and after is not None
                           and any(before[i] != after[i] for i in terms)}
        vouchers = {"added": len(wanted_codes - current_codes),
                    "removed": len(current_codes - wanted_codes) + len(newly_revoked),
                    "changed": sum(1 for key, values in desired["captiva_voucher"].items()
                                   if values[0] in changed_batches
                                   and key[0] in current_codes)}
    kinds = {kind: _kind_counts(state, desired, tables, names) for kind, names in KINDS.items()}
    return Plan(tables, users, groups, render_diff(tables, show_personal_data, labels),
                vouchers, sorted(labels.get(k[0], "?") for k in urgent), kinds)


def _kind_counts(state: State, desired: Mapping[str, Mapping[tuple, tuple]],
                 tables: Mapping[str, TablePlan], names: tuple[str, ...]) -> dict[str, int]:
    """Entities of one kind added, changed and removed (as groups are counted)."""
    current = {key[0] for name in names for key in state.rows[name]}
    wanted = {key[0] for name in names for key in desired[name]}
    touched = {key[0] for name in names for key, _b, _a in tables[name].changes}
    return {"added": len(wanted - current), "changed": len(touched & current & wanted),
            "removed": len(current - wanted)}


def _shown(attribute: str, value: Any) -> str:
    return MASK if attribute in PASSWORD_ATTRIBUTES else str(value)


def _column(column: str, value: Any, show_personal_data: bool) -> Any:
    if column in PERSONAL_COLUMNS and value and not show_personal_data:
        return MASK
    return value


def render_diff(tables: Mapping[str, TablePlan], show_personal_data: bool = False,
                voucher_labels: Mapping[str, str] | None = None) -> str:
    """Per user and per group, per attribute: ``+`` added, ``-`` removed, ``~`` changed.

    Password attributes are always masked, personal data (PERSONAL_COLUMNS) unless
    ``show_personal_data``. At most DIFF_LIMIT entries are listed.
    """
    entries: dict[tuple[str, str], list[str]] = {}

    codes = voucher_labels or {}

    def add(kind, name, line):
        if kind == "user" and name in codes:
            return  # a voucher's RADIUS rows: its code is its password, shown per batch below
        entries.setdefault((kind, name), []).append(line)

    for table, kind, label in (("radgroupcheck", "group", "check"),
                               ("radgroupreply", "group", "reply"),
                               ("radcheck", "user", "check")):
        for (name, attribute), before, after in tables[table].changes:
            if before is None:
                add(kind, name, f"  + {label} {attribute} {after[0]} {_shown(attribute, after[1])}")
            elif after is None:
                add(kind, name, f"  - {label} {attribute} {_shown(attribute, before[1])}")
            else:
                add(kind, name, f"  ~ {label} {attribute}: {_shown(attribute, before[1])} -> "
                                f"{_shown(attribute, after[1])}")
    for (name,), before, after in tables["radusergroup"].changes:
        sign = "~" if before and after else "+" if after else "-"
        old, new = (before[0] if before else "(none)"), (after[0] if after else "(none)")
        add("user", name, f"  {sign} group: {old} -> {new}")
    per_batch: dict[str, dict[str, int]] = {}
    for _key, before, after in tables["captiva_voucher"].changes:
        counts = per_batch.setdefault((after or before)[0], {"+": 0, "-": 0})
        if before is None:
            counts["+"] += 1
        elif after is None:
            counts["-"] += 1
    for batch, counts in per_batch.items():
        add("voucher_batch", batch, f"  codes: +{counts['+']} -{counts['-']}")
    for (code,), _before, after in tables["captiva_voucher_revocation"].changes:
        label = codes.get(code, "?")
        add("voucher", label, f"  revoked ({after[0]})" if after else "  revocation lifted")
    for spec in ROSTER_TABLES:
        if spec.name in ("captiva_voucher", "captiva_voucher_revocation"):
            continue
        kind = spec.name.removeprefix("captiva_")
        for key, before, after in tables[spec.name].changes:
            name = key[0]
            if before is None:
                add(kind, name, "  + " + ", ".join(
                    f"{c}={_column(c, v, show_personal_data)}"
                    for c, v in zip(spec.columns, after, strict=True) if v is not None))
            elif after is None:
                add(kind, name, "  - (removed)")
            else:
                for column, old, new in zip(spec.columns, before, after, strict=True):
                    if new != old:
                        add(kind, name, f"  ~ {column}: {_column(column, old, show_personal_data)}"
                                        f" -> {_column(column, new, show_personal_data)}")
    lines = []
    for (kind, name), changes in list(entries.items())[:DIFF_LIMIT]:
        lines.append(f"{kind} {name}")
        lines.extend(changes)
    if len(entries) > DIFF_LIMIT:
        lines.append(f"... and {len(entries) - DIFF_LIMIT} more entries (counts cover all)")
    return "\n".join(lines) + ("\n" if lines else "")


# --------------------------------------------------------------------------------------------
# Applying


def _copy(cur, table: str, columns: Iterable[str], rows: list[tuple]) -> None:
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def apply_table(cur, spec: TableSpec, table_plan: TablePlan, *, deletes_only: bool = False,
                skip_deletes: bool = False) -> None:
    if table_plan.deletes and not skip_deletes:
        if spec.id_column:
            cur.execute(f"DELETE FROM {spec.name} WHERE {spec.id_column} = ANY(%s)",  # noqa: S608
                        (table_plan.deletes,))
        else:
            cur.execute(f"DELETE FROM {spec.name} WHERE {spec.key[0]} = ANY(%s)",  # noqa: S608
                        ([k[0] for k in table_plan.deletes],))
    if deletes_only:
        return
    if table_plan.updates:
        ident = (spec.id_column,) if spec.id_column else spec.key
        staged = ", ".join((*ident, *spec.columns))
        cur.execute(f"CREATE TEMP TABLE captiva_stage ON COMMIT DROP AS "  # noqa: S608
                    f"SELECT {staged} FROM {spec.name} WITH NO DATA")
        _copy(cur, "captiva_stage", (*ident, *spec.columns), table_plan.updates)
        assignments = ", ".join(f"{c} = s.{c}" for c in spec.columns)
        if spec.name == "captiva_user":
            assignments += ", updated_at = now()"
        match = " AND ".join(f"t.{c} = s.{c}" for c in ident)
        cur.execute(f"UPDATE {spec.name} t SET {assignments} "  # noqa: S608
                    f"FROM captiva_stage s WHERE {match}")
        cur.execute("DROP TABLE captiva_stage")
    if table_plan.inserts:
        columns = (*spec.key, *spec.columns)
        rows = table_plan.inserts
        if spec.managed:
            columns = (*columns, "managed_by")
            rows = [(*row, MANAGED_BY) for row in rows]
        _copy(cur, spec.name, columns, rows)


def apply(cur, the_plan: Plan) -> None:
    # Deletes first, in reverse dependency order (routers before their sites), so that a
    # unique key freed by one row can be taken by another in the same run.
    order = [*POLICY_TABLES, *ROSTER_TABLES]
    for spec in reversed(order):
        apply_table(cur, spec, the_plan.tables[spec.name], deletes_only=True)
    for spec in order:
        apply_table(cur, spec, the_plan.tables[spec.name], skip_deletes=True)


def reconcile(conn, roster, *, now: dt.datetime, check_mode: bool,
              prune_max_ratio: float = DEFAULT_MAX_RATIO,
              prune_max_count: int = DEFAULT_MAX_COUNT,
              allow_mass_prune: bool = False,
              show_personal_data: bool = False, adopt: bool = False,
              change_context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Lock, read, compile, plan, apply (unless check mode), commit. Returns the result.

    ``adopt``: first take ownership of the unowned rows the roster declares
    (:func:`adopt_rows`). ``change_context`` (who, commit, branch): recorded with the plan's
    counts in ``captiva_change_log`` when the apply changes something."""
    timings = {}
    started = time.monotonic()
    # Binary results: PostgreSQL's own encoding of ints, dates and timestamps parses faster.
    with conn.transaction(force_rollback=check_mode), conn.cursor(binary=True) as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
        state = read_state(cur)
        timings["read"] = time.monotonic() - started
        compiled = compile_radius(roster, now, state.activations())
        desired = desired_rows(compiled, state)
        adopted = {}
        if adopt:
            adopted = adopt_rows(cur, desired)
            if adopted:  # the adopted rows are now Captiva's: plan against them
                state = read_state(cur)
                desired = desired_rows(compiled, state)
        the_plan = plan(state, compiled, desired=desired, prune_max_ratio=prune_max_ratio,
                        prune_max_count=prune_max_count, allow_mass_prune=allow_mass_prune,
                        show_personal_data=show_personal_data)
        the_plan.student_passwords = student_passwords(
            cur, desired, (change_context or {}).get("user"))
        timings["plan"] = time.monotonic() - started - timings["read"]
        changed = the_plan.changed or bool(adopted)
        counts = {"users": the_plan.users, "groups": the_plan.groups,
                  "vouchers": the_plan.vouchers, "kinds": the_plan.kinds,
                  "rows": the_plan.row_counts(), "adopted": adopted,
                  "student_passwords": the_plan.student_passwords}
        if changed and not check_mode:
            apply(cur, the_plan)
            record_change(cur, the_plan, change_context or {}, counts)
        foreign = foreign_rows(cur, desired)
        grants = active_grants(cur, now)
        timings["apply"] = time.monotonic() - started - timings["read"] - timings["plan"]
    return {
        "changed": changed,
        "adopted": adopted,
        "foreign_rows": foreign,
        "active_grants": grants,
        "summary": the_plan.summary(),
        "vouchers": the_plan.vouchers or {"added": 0, "changed": 0, "removed": 0},
        "urgent_revocations": the_plan.urgent_revocations,
        "users": the_plan.users,
        "groups": the_plan.groups,
        "kinds": the_plan.kinds,
        "student_passwords": the_plan.student_passwords,
        "rows": the_plan.row_counts(),
        "roster": compiled["summary"],  # users by status, with their real activation days
        "diff": the_plan.diff,
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
