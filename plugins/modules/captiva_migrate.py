#!/usr/bin/python
"""Ansible module: apply Captiva's ordered SQL migrations (see captiva_migrations)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: captiva_migrate
short_description: Apply Captiva's versioned SQL migrations to a PostgreSQL database
description:
  - Applies the pending migrations C(NNNN_<name>.sql) in version order, each in its own
    transaction together with its record in C(captiva_schema_migrations).
  - A PostgreSQL advisory lock serialises concurrent runs.
  - Refuses to run (and fails) when an applied migration's text changed, its file is missing or
    renamed, or a pending migration is numbered below the newest applied one (unless
    O(allow_out_of_order=true)).
  - Never re-runs an applied migration.
  - The logic lives in C(module_utils/captiva_migrations.py); this module is a thin wrapper.
version_added: "1.0.0"
author: Captiva
requirements:
  - psycopg >= 3.1 (Debian package C(python3-psycopg)) on the host that runs the module
attributes:
  check_mode:
    support: full
    description: Reports the pending migrations and whether the applied ones are intact.
  diff_mode:
    support: full
    description: Shows the schema version and the applied migrations before and after.
options:
  migrations:
    description:
      - The migrations as a dict of file name (C(NNNN_<name>.sql)) to SQL text, usually read on
        the controller with the C(file) lookup, so check mode sees exactly what a real run
        would apply.
      - Mutually exclusive with O(path).
    type: dict
  path:
    description:
      - Directory on the managed host holding the C(NNNN_<name>.sql) files.
      - Mutually exclusive with O(migrations).
    type: path
  allow_out_of_order:
    description: Apply a pending migration numbered below the newest applied one.
    type: bool
    default: false
  lock_timeout:
    description: Seconds to wait for another migration runner to finish.
    type: float
    default: 300
  login_db:
    description: Database to migrate.
    type: str
    required: true
    aliases: [db]
  login_user:
    description: Role to connect as; it must own the schema or be a superuser.
    type: str
    default: postgres
  login_password:
    description: Password of O(login_user); empty for peer authentication over the socket.
    type: str
    default: ""
  login_host:
    description: Host to connect to; empty to use O(login_unix_socket).
    type: str
    default: ""
  login_unix_socket:
    description: Directory of the server's unix socket; empty for libpq's default.
    type: str
    default: ""
  login_port:
    description: Server port (also names the unix socket).
    type: int
    default: 5432
    aliases: [port]
"""

EXAMPLES = r"""
- name: Apply the role's migrations as postgres over the unix socket
  become: true
  become_user: postgres
  captiva_migrate:
    login_db: radius
    migrations: >-
      {{ dict(__files | map('ansible.builtin.basename')
                      | zip(query('ansible.builtin.file', *__files, rstrip=false))) }}
  vars:
    __files: "{{ query('ansible.builtin.fileglob', role_path ~ '/files/migrations/*.sql') }}"

- name: Apply migrations from a directory on the database host
  captiva_migrate:
    login_db: radius
    path: /usr/local/share/captiva/migrations

- name: Only list what would be applied
  captiva_migrate:
    login_db: radius
    path: /usr/local/share/captiva/migrations
  check_mode: true
  register: pending
"""

RETURN = r"""
applied:
  description: The migrations applied by this run (in check mode, those that would be).
  returned: always
  type: list
  elements: dict
  sample: [{"version": 5, "name": "usage_views", "checksum": "9f2c..."}]
pending:
  description: The migrations pending before this run.
  returned: always
  type: list
  elements: dict
  sample: [{"version": 5, "name": "usage_views", "checksum": "9f2c..."}]
version:
  description: The newest applied version after this run (predicted in check mode); 0 if none.
  returned: always
  type: int
  sample: 5
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.captiva_migrations import (
    MigrationError,
    load_migrations,
    migrate,
    parse_migrations,
    plan,
    read_applied,
)

try:
    import psycopg
except ImportError:
    psycopg = None
    PSYCOPG_ERROR = traceback.format_exc()
else:
    PSYCOPG_ERROR = None

ARGUMENT_SPEC = {
    "migrations": {"type": "dict"},
    "path": {"type": "path"},
    "allow_out_of_order": {"type": "bool", "default": False},
    "lock_timeout": {"type": "float", "default": 300},
    "login_db": {"type": "str", "required": True, "aliases": ["db"]},
    "login_user": {"type": "str", "default": "postgres"},
    "login_password": {"type": "str", "default": "", "no_log": True},
    "login_host": {"type": "str", "default": ""},
    "login_unix_socket": {"type": "str", "default": ""},
    "login_port": {"type": "int", "default": 5432, "aliases": ["port"]},
}


def connection_kwargs(params: dict) -> dict:
    kwargs = {"dbname": params["login_db"], "user": params["login_user"],
              "port": params["login_port"], "autocommit": True}
    host = params["login_host"] or params["login_unix_socket"]
    if host:
        kwargs["host"] = host
    if params["login_password"]:
        kwargs["password"] = params["login_password"]
    return kwargs


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[("migrations", "path")],
        required_one_of=[("migrations", "path")],
        supports_check_mode=True,
    )
    if psycopg is None:
        module.fail_json(msg=missing_required_lib("psycopg"), exception=PSYCOPG_ERROR)
    params = module.params
    try:
        if params["path"]:
            migrations = load_migrations(params["path"])
        else:
            migrations = parse_migrations(params["migrations"])
        with psycopg.connect(**connection_kwargs(params)) as conn:
            before = [a.version for a in read_applied(conn)]
            pending = plan(conn, migrations, params["allow_out_of_order"])
            if module.check_mode:
                applied = pending
            else:
                applied = migrate(conn, migrations, params["allow_out_of_order"],
                                  params["lock_timeout"])
    except MigrationError as exc:
        module.fail_json(msg=str(exc))
    except psycopg.Error as exc:
        module.fail_json(msg=f"database error: {exc}".strip())
    after = sorted(set(before) | {m.version for m in applied})
    result = {
        "changed": bool(applied),
        "applied": [m.as_dict() for m in applied],
        "pending": [m.as_dict() for m in pending],
        "version": max(after, default=0),
    }
    if module._diff:
        result["diff"] = {
            "before": {"version": max(before, default=0), "applied": before},
            "after": {"version": result["version"], "applied": after},
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
