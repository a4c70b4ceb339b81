#!/usr/bin/python
"""Ansible module: apply Captiva's SQL migrations, then its SQL functions (captiva_migrations)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: captiva_migrate
short_description: Apply Captiva's versioned SQL migrations and SQL functions to a database
description:
  - Applies the pending migrations C(NNNN_<name>.sql) in version order, each in its own
    transaction together with its record in C(captiva_schema_migrations).
  - Then, when O(functions) or O(functions_path) is given and any function file C(NN_<name>.sql)
    is new, changed or gone since the last run (checksums in C(captiva_schema_functions)),
    applies every function file in name order in one transaction. Function files hold
    C(CREATE OR REPLACE) statements; unchanged files are not run again.
  - A PostgreSQL advisory lock serialises concurrent runs.
  - Refuses to run (and fails) when an applied migration's text changed, its file is missing or
    renamed, or a pending migration is numbered below the newest applied one (unless
    O(allow_out_of_order=true)).
  - Never re-runs an applied migration. Reports a change only when something was applied.
  - The logic lives in C(module_utils/captiva_migrations.py); this module is a thin wrapper.
version_added: "1.0.0"
author: Captiva contributors (@captiva)
requirements:
  - psycopg >= 3.1 (Debian package C(python3-psycopg)) on the host that runs the module
attributes:
  check_mode:
    support: full
    description: >-
      Reports the pending migrations, whether the applied ones are intact, and the function
      files that would be applied; writes nothing.
  diff_mode:
    support: full
    description: >-
      Shows the schema version, the applied migrations and the function files' checksums
      before and after.
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
  functions:
    description:
      - The SQL function files as a dict of file name (C(NN_<name>.sql)) to SQL text, read on
        the controller like O(migrations).
      - Mutually exclusive with O(functions_path).
    type: dict
  functions_path:
    description:
      - Directory on the managed host holding the C(NN_<name>.sql) function files.
      - Mutually exclusive with O(functions).
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
    functions: >-
      {{ dict(__functions | map('ansible.builtin.basename')
                          | zip(query('ansible.builtin.file', *__functions, rstrip=false))) }}
  vars:
    __files: "{{ query('ansible.builtin.fileglob', role_path ~ '/files/migrations/*.sql') }}"
    __functions: "{{ query('ansible.builtin.fileglob', role_path ~ '/files/functions/*.sql') }}"

- name: Apply migrations from a directory on the database host
  captiva_migrate:
    login_db: radius
    path: /usr/local/share/captiva/migrations
    functions_path: /usr/local/share/captiva/functions

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
functions_applied:
  description: >-
    The function files new, changed or gone since the last run; every file was applied when
    this list is not empty (in check mode: would be). Empty when no function file was given.
  returned: always
  type: list
  elements: str
  sample: ["30_usage.sql"]
version:
  description: The newest applied version after this run (predicted in check mode); 0 if none.
  returned: always
  type: int
  sample: 5
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.captiva.campus.plugins.module_utils.captiva_db_errors import database_error
from ansible_collections.captiva.campus.plugins.module_utils.captiva_migrations import (
    MigrationError,
    apply_functions,
    load_functions,
    load_migrations,
    migrate,
    parse_functions,
    parse_migrations,
    plan,
    plan_functions,
    read_applied,
    read_function_records,
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
    "functions": {"type": "dict"},
    "functions_path": {"type": "path"},
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
        mutually_exclusive=[("migrations", "path"), ("functions", "functions_path")],
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
        if params["functions_path"]:
            functions = load_functions(params["functions_path"])
        elif params["functions"] is not None:
            functions = parse_functions(params["functions"])
        else:
            functions = None
        with psycopg.connect(**connection_kwargs(params)) as conn:
            before = [a.version for a in read_applied(conn)]
            functions_before = read_function_records(conn)
            pending = plan(conn, migrations, params["allow_out_of_order"])
            if module.check_mode:
                applied = pending
                functions_applied = plan_functions(conn, functions) if functions else []
            else:
                applied = migrate(conn, migrations, params["allow_out_of_order"],
                                  params["lock_timeout"])
                functions_applied = (apply_functions(conn, functions, params["lock_timeout"])
                                     if functions else [])
    except MigrationError as exc:
        module.fail_json(msg=str(exc))
    except psycopg.Error as exc:
        module.fail_json(msg=f"database error: {database_error(exc)}")
    after = sorted(set(before) | {m.version for m in applied})
    functions_after = ({f.filename: f.checksum for f in functions}
                       if functions_applied else functions_before)
    result = {
        "changed": bool(applied or functions_applied),
        "applied": [m.as_dict() for m in applied],
        "functions_applied": functions_applied,
        "pending": [m.as_dict() for m in pending],
        "version": max(after, default=0),
    }
    if module._diff:
        result["diff"] = {
            "before": {"version": max(before, default=0), "applied": before,
                       "functions": functions_before},
            "after": {"version": result["version"], "applied": after,
                      "functions": functions_after},
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
