"""captiva_migrate run by ansible-playbook against the ephemeral server, as roles/postgres
runs it: the migrations and the SQL functions read on the controller with the file lookup."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.captiva.campus.plugins.module_utils.captiva_migrations import (
    load_functions,
    load_migrations,
)
from pg_fixtures import FUNCTIONS_DIR, MIGRATIONS_DIR

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = """
- name: Migrate
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Apply the migrations
      captiva.campus.captiva_migrate:
        login_db: "{{ db }}"
        login_unix_socket: "{{ socket_dir }}"
        login_port: "{{ port | int }}"
        migrations: >-
          {{ dict(__files | map('ansible.builtin.basename')
                          | zip(query('ansible.builtin.file', *__files, rstrip=false))) }}
        functions: >-
          {{ dict(__functions | map('ansible.builtin.basename')
                              | zip(query('ansible.builtin.file', *__functions, rstrip=false))) }}
        path: "{{ path | default(omit) }}"
      vars:
        __files: "{{ query('ansible.builtin.fileglob', migrations_dir ~ '/*.sql') }}"
        __functions: "{{ query('ansible.builtin.fileglob', functions_dir ~ '/*.sql') }}"
      register: result
    - name: Save the result
      ansible.builtin.copy:
        content: "{{ result | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
      check_mode: false
"""


def run_playbook(tmp_path, db, *args, migrations_dir=MIGRATIONS_DIR,
                 functions_dir=FUNCTIONS_DIR):
    playbook = tmp_path / "migrate.yml"
    playbook.write_text(PLAYBOOK)
    out = tmp_path / "result.json"
    out.unlink(missing_ok=True)
    extra = {"db": db.name, "socket_dir": str(db.server.socket_dir), "port": db.server.port,
             "migrations_dir": str(migrations_dir), "functions_dir": str(functions_dir),
             "out": str(out)}
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
         "-c", "local", "-e", json.dumps(extra), "-e",
         f"ansible_python_interpreter={sys.executable}", *args, str(playbook)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )
    return proc, (json.loads(out.read_text()) if out.exists() else None)


def one_migration_applied(tmp_path, db, filename: str, sql: str) -> Path:
    """A migrations directory of one file (and no function), applied: a test's start."""
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / filename).write_text(sql)
    proc, _ = run_playbook(tmp_path, db, migrations_dir=migrations,
                           functions_dir=tmp_path / "none")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return migrations


def test_check_mode_reports_then_a_run_applies_then_nothing_changes(empty_db, tmp_path):
    every = [m.version for m in load_migrations(MIGRATIONS_DIR)]

    proc, result = run_playbook(tmp_path, empty_db, "--check", "--diff")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result["changed"] is True
    assert [m["version"] for m in result["applied"]] == every
    with empty_db.connect() as conn:
        assert conn.execute("SELECT to_regclass('captiva_schema_migrations')").fetchone()[0] \
            is None

    proc, result = run_playbook(tmp_path, empty_db)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result["changed"] is True
    assert result["version"] == every[-1]

    # Checksums of the lookup's text equal those of the files: nothing pending, not changed.
    for args in (["--check"], []):
        proc, result = run_playbook(tmp_path, empty_db, *args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert result["changed"] is False
        assert result["pending"] == []


def test_a_changed_migration_fails_the_task(empty_db, tmp_path):
    migrations = one_migration_applied(tmp_path, empty_db, "0001_t.sql",
                                       "CREATE TABLE t (a int);\n")
    (migrations / "0001_t.sql").write_text("CREATE TABLE t (a bigint);\n")
    proc, result = run_playbook(tmp_path, empty_db, migrations_dir=migrations,
                                functions_dir=tmp_path / "none")
    assert proc.returncode != 0
    assert result is None
    assert "0001_t.sql was applied but its file changed" in proc.stdout


@pytest.mark.parametrize("mode", [["--check"], []])
def test_path_and_migrations_are_exclusive(empty_db, tmp_path, mode):
    proc, _ = run_playbook(tmp_path, empty_db, "-e", "path=/nonexistent", *mode)
    assert proc.returncode != 0
    assert "mutually exclusive" in proc.stdout


def test_functions_apply_after_the_migrations_only_when_a_file_changed(empty_db, tmp_path):
    every = [f.filename for f in load_functions(FUNCTIONS_DIR)]
    functions = tmp_path / "functions"
    shutil.copytree(FUNCTIONS_DIR, functions)

    proc, result = run_playbook(tmp_path, empty_db, "--check", functions_dir=functions)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result["changed"] is True and result["functions_applied"] == every
    with empty_db.connect() as conn:
        assert conn.execute("SELECT to_regclass('captiva_schema_functions')").fetchone()[0] \
            is None

    proc, result = run_playbook(tmp_path, empty_db, functions_dir=functions)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result["functions_applied"] == every
    for args in (["--check"], []):
        proc, result = run_playbook(tmp_path, empty_db, *args, functions_dir=functions)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert (result["changed"], result["functions_applied"]) == (False, [])

    # A fixed function: no new migration, the file changes and is applied on the next run.
    usage = functions / "30_usage.sql"
    usage.write_text(usage.read_text().replace(
        "CREATE OR REPLACE FUNCTION captiva_period_name",
        "CREATE OR REPLACE FUNCTION captiva_test_marker() RETURNS int LANGUAGE sql\n"
        "AS $$ SELECT 42 $$;\nCREATE OR REPLACE FUNCTION captiva_period_name"))
    proc, result = run_playbook(tmp_path, empty_db, "--check", "--diff",
                                functions_dir=functions)
    assert (result["changed"], result["functions_applied"]) == (True, ["30_usage.sql"])
    assert result["diff"]["before"]["functions"] != result["diff"]["after"]["functions"]
    with empty_db.connect() as conn:
        assert conn.execute("SELECT to_regproc('captiva_test_marker')").fetchone()[0] is None
    proc, result = run_playbook(tmp_path, empty_db, functions_dir=functions)
    assert (result["changed"], result["functions_applied"]) == (True, ["30_usage.sql"])
    with empty_db.connect() as conn:
        assert conn.execute("SELECT captiva_test_marker()").fetchone()[0] == 42
    proc, result = run_playbook(tmp_path, empty_db, functions_dir=functions)
    assert result["changed"] is False


def test_a_failed_migration_reports_no_row_value(empty_db, tmp_path):
    """psycopg's str(exc) carries DETAIL ("Key (code)=(...) is duplicated.") and CONTEXT;
    the task says which file failed, the SQLSTATE and the primary message only."""
    value = "VOUCHER-CODE-7Q4K2M"  # a row's value, in no migration's text
    migrations = one_migration_applied(tmp_path, empty_db, "0001_codes.sql",
                                       "CREATE TABLE codes (code text NOT NULL);\n")
    with empty_db.connect() as conn:
        conn.execute("INSERT INTO codes VALUES (%s), (%s)", (value, value))
    (migrations / "0002_unique.sql").write_text(
        "ALTER TABLE codes ADD CONSTRAINT codes_unique UNIQUE (code);\n")
    for args in ([], ["-vvv"]):
        proc, result = run_playbook(tmp_path, empty_db, *args, migrations_dir=migrations,
                                    functions_dir=tmp_path / "none")
        output = proc.stdout + proc.stderr
        assert proc.returncode != 0 and result is None
        assert ("0002_unique.sql failed and was rolled back: 23505: could not create unique "
                "index") in output and "codes_unique" in output, output
        assert value not in output
        assert "DETAIL" not in output and "is duplicated" not in output
    with empty_db.connect() as conn:
        assert conn.execute("SELECT max(version) FROM captiva_schema_migrations").fetchone() \
            == (1,)
