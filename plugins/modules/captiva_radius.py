#!/usr/bin/python
"""Ansible module: reconcile the roster into the FreeRADIUS SQL tables."""

from __future__ import annotations

DOCUMENTATION = r"""
module: captiva_radius
short_description: Make the FreeRADIUS policy tables and Captiva's tables match the roster
description:
  - Takes the whole roster in one call and makes the database match it exactly, in one
    transaction under a PostgreSQL advisory lock. The roster is the one C(captiva_roster)
    validated in this run (O(roster_file)); this module never validates one itself.
  - Writes one RADIUS group per profile (C(radgroupcheck), C(radgroupreply)), one group
    membership per user (C(radusergroup)), per-user check rows (password, C(Expiration)) and
    Captiva's own tables (C(captiva_site), C(captiva_router), C(captiva_profile),
    C(captiva_promotion), C(captiva_user)). Inactive users join a status group that rejects
    them with a clear Reply-Message.
  - Only rows with C(managed_by = 'captiva') are read, changed or deleted in the FreeRADIUS
    tables; an admin's own rows are never touched.
  - Users removed from the roster are removed, within the prune guard (README, "Prune guard",
    the same rule as C(captiva_routeros)'s) a run may remove at most
    C(min(prune_max_count, max(1, ceil(prune_max_ratio x users)))) users; a plan that removes
    more fails and changes nothing, unless O(allow_mass_prune=true).
  - Every password, hash and secret read from the roster is masked in the output; a
    database error reports only its SQLSTATE and primary message (its DETAIL and CONTEXT
    may quote a row, password included).
  - First names, last names and emails are masked in the diff unless O(show_personal_data=true).
options:
  roster:
    description:
      - The validated roster without secrets, as C(roster_to_data) in captiva_roster_io.py
        gives it; use O(roster_file) instead in playbooks.
    type: dict
  credentials:
    description: Passwords and secrets of the roster; required with O(roster).
    type: dict
  roster_file:
    description:
      - A JSON file with keys C(roster) and C(credentials), read instead of O(roster), on
        the controller; in playbooks C(captiva_compiled.roster_file), which C(captiva_roster)
        (playbooks/validate.yml) writes once a run. The action plugin copies it into the
        task's private temporary directory.
    type: path
  login_host:
    description: Database host.
    type: str
    required: true
  login_port:
    description: Database port.
    type: int
    default: 5432
  login_user:
    description: Database role; Captiva's reconcile writer role.
    type: str
    default: captiva_reconcile
  login_password:
    description: Password of O(login_user).
    type: str
    required: true
  login_db:
    description: Database name.
    type: str
    default: radius
  ssl_mode:
    description: libpq C(sslmode).
    type: str
    default: prefer
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  ca_cert:
    description: CA certificate file used to verify the server with O(ssl_mode=verify-full).
    type: path
  show_personal_data:
    description:
      - Show first names, last names and emails in the diff. They are masked by default,
        since plan output ends up in merge-request CI logs.
    type: bool
    default: false
  adopt:
    description:
      - First take ownership, in place, of the rows without C(managed_by) that the roster
        declares (same user or group and attribute, a user's stored password of any scheme,
        a user's group membership of lowest priority), then reconcile them like Captiva's
        own; see docs/onboarding.md, "Adopt an existing setup".
    type: bool
    default: false
  change_context:
    description:
      - Who applies and from which commit (keys C(user), C(ci_job), C(commit), C(branch),
        C(dirty), C(inventory)), recorded in C(captiva_change_log) by an apply that changes
        something. The action plugin fills it on the controller.
    type: dict
  now:
    description: The instant the roster is evaluated at (ISO 8601, for tests); default now.
    type: str
attributes:
  check_mode:
    support: full
    description: Plans inside a transaction that is rolled back; nothing is written.
  diff_mode:
    support: full
    description: Per user and per group, per attribute; passwords and personal data masked.
author: Captiva contributors (@captiva)
extends_documentation_fragment:
  - captiva.campus.prune_guard
"""

EXAMPLES = r"""
- name: Reconcile the roster (read from the inventory's variables) into RADIUS
  captiva_radius:
    login_host: "{{ captiva_database.host }}"
    login_password: "{{ captiva_db_passwords.reconcile }}"
    roster_file: "{{ captiva_compiled.roster_file }}"
    prune_max_ratio: "{{ captiva_prune_max_ratio }}"
"""

RETURN = r"""
summary:
  description: One line for humans.
  returned: always
  type: str
  sample: "users: +12 ~3 -1 | groups: +0 ~1 -0 | staff: +1 ~0 -0"
users:
  description: Users added, changed and removed.
  returned: always
  type: dict
  sample: {added: 12, changed: 3, removed: 1}
groups:
  description: RADIUS groups added, changed and removed.
  returned: always
  type: dict
  sample: {added: 0, changed: 1, removed: 0}
kinds:
  description:
    - The roster's other kinds (settings, sites, routers, profiles, promotions, staff,
      voucher_batches, workstations, workstation_rules), each added, changed and removed; the
      summary names those that change.
  returned: always
  type: dict
  sample:
    staff: {added: 1, changed: 0, removed: 0}
    workstations: {added: 0, changed: 2, removed: 0}
student_passwords:
  description:
    - Passwords students set on the portal (docs/portal.md) that the reconcile keeps, and those
      replaced because the roster gives the user a new password (an admin reset); the summary
      counts them when there are any.
  returned: always
  type: dict
  sample: {kept: 42, replaced: 1}
rows:
  description: Rows inserted, updated and deleted per table (tables without changes omitted).
  returned: always
  type: dict
  sample: {radcheck: {inserted: 24, updated: 0, deleted: 2}}
adopted:
  description: Rows taken over by O(adopt), per table.
  returned: always
  type: dict
  sample: {radcheck: 3000, radusergroup: 3000}
vouchers:
  description: Voucher codes added, changed (their batch's terms) and removed or revoked.
  returned: always
  type: dict
  sample: {added: 300, changed: 0, removed: 2}
urgent_revocations:
  description:
    - Urgent revocations (made in the database) that the roster does not list yet, as
      C(batch#index); kept by the reconcile, reported by plan and drift.
  returned: always
  type: list
  elements: str
  sample: ["portes-ouvertes-2026#42"]
foreign_rows:
  description:
    - Rows without C(managed_by) on the users and groups Captiva manages (added by hand, or
      not yet adopted), per table. Never changed; drift detection reports them.
  returned: always
  type: dict
  sample: {radreply: 2}
active_grants:
  description:
    - Quota grants of the portal's console in force (runtime data in C(captiva_quota_grant),
      not roster), so that plan and drift show them. Never changed by this module.
  returned: always
  type: dict
  sample: {count: 2, users: 2}
roster:
  description: Users by status as reconciled (with each user's real activation day).
  returned: always
  type: dict
  sample: {users: 60, active: 45, disabled: 6, wifi-off: 7, expired: 2, profiles: 5}
timings:
  description: Seconds spent reading, planning and applying.
  returned: always
  type: dict
  sample: {read: 0.41, plan: 0.52, apply: 0.0}
"""

import datetime as dt
import json

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.captiva.campus.plugins.module_utils.captiva_db_errors import database_error
from ansible_collections.captiva.campus.plugins.module_utils.captiva_prune import (
    ARGUMENT_SPEC as PRUNE_ARGUMENT_SPEC,
)
from ansible_collections.captiva.campus.plugins.module_utils.captiva_prune import PruneRefused
from ansible_collections.captiva.campus.plugins.module_utils.captiva_radius_plan import reconcile
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster_io import (
    roster_from_data,
    secret_values,
)

try:
    import psycopg
except ImportError:  # pragma: no cover - reported through fail_json
    psycopg = None


def argument_spec() -> dict:
    return {
        "roster": {"type": "dict"},
        "credentials": {"type": "dict", "no_log": True},
        "roster_file": {"type": "path"},
        "login_host": {"type": "str", "required": True},
        "login_port": {"type": "int", "default": 5432},
        "login_user": {"type": "str", "default": "captiva_reconcile"},
        "login_password": {"type": "str", "required": True, "no_log": True},
        "login_db": {"type": "str", "default": "radius"},
        "ssl_mode": {"type": "str", "default": "prefer",
                     "choices": ["disable", "allow", "prefer", "require", "verify-ca",
                                 "verify-full"]},
        "ca_cert": {"type": "path"},
        **PRUNE_ARGUMENT_SPEC,
        "show_personal_data": {"type": "bool", "default": False},
        "adopt": {"type": "bool", "default": False},
        "change_context": {"type": "dict"},
        "now": {"type": "str"},
    }


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           required_one_of=[("roster", "roster_file")],
                           mutually_exclusive=[("roster", "roster_file")],
                           required_together=[("roster", "credentials")])
    if psycopg is None:
        module.fail_json(msg=missing_required_lib("psycopg"))
    p = module.params
    now = dt.datetime.fromisoformat(p["now"]) if p["now"] else dt.datetime.now(dt.UTC)
    if p["roster_file"]:
        with open(p["roster_file"], encoding="utf-8") as handle:
            payload = json.load(handle)
        credentials = payload["credentials"]
        roster = roster_from_data(payload["roster"], credentials)
    else:
        credentials = p["credentials"]
        roster = roster_from_data(p["roster"], credentials)
    # Secrets read from a file escape Ansible's masking of no_log arguments: register them.
    module.no_log_values.update(secret_values(credentials))
    connect = {"host": p["login_host"], "port": p["login_port"], "user": p["login_user"],
               "password": p["login_password"], "dbname": p["login_db"],
               "sslmode": p["ssl_mode"], "application_name": "captiva_radius",
               "connect_timeout": 10}
    if p["ca_cert"]:
        connect["sslrootcert"] = p["ca_cert"]
    try:
        with psycopg.connect(**connect) as conn:
            result = reconcile(conn, roster, now=now, check_mode=module.check_mode,
                               prune_max_ratio=p["prune_max_ratio"],
                               prune_max_count=p["prune_max_count"],
                               allow_mass_prune=p["allow_mass_prune"],
                               show_personal_data=p["show_personal_data"],
                               adopt=p["adopt"], change_context=p["change_context"])
    except PruneRefused as exc:
        module.fail_json(msg=str(exc))
    except psycopg.Error as exc:
        module.fail_json(msg=f"database error, nothing was changed: {database_error(exc)}")
    diff = result.pop("diff")
    if module._diff:
        result["diff"] = {"prepared": diff}
    if result.get("urgent_revocations"):
        module.warn("urgent voucher revocations not yet in the roster (kept; add them to "
                    "their batch's revoked list): " + ", ".join(result["urgent_revocations"]))
    if result.get("foreign_rows"):
        module.warn("rows without managed_by on users or groups Captiva manages (never "
                    "changed; label them or adopt them): " + ", ".join(
                        f"{table} {n}" for table, n in sorted(result["foreign_rows"].items())))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
