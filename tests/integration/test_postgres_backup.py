"""The dump script (roles/postgres/templates/captiva-pg-backup.j2, rendered by Ansible) and the
restore procedure of docs/postgres.md, against the ephemeral server."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from pg_fixtures import PG_BIN

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "roles" / "postgres" / "templates" / "captiva-pg-backup.j2"
RENDER = """
- name: Render the dump script
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Render
      ansible.builtin.template:
        src: "{{ template }}"
        dest: "{{ dest }}"
        mode: "0755"
"""


def render_script(tmp_path, db, backup_dir, retention_days, keep_min):
    playbook = tmp_path / "render.yml"
    playbook.write_text(RENDER)
    script = tmp_path / "captiva-pg-backup"
    extra = {"template": str(TEMPLATE), "dest": str(script),
             "postgres_backup_dir": str(backup_dir), "postgres_database": db.name,
             "postgres_port": db.server.port, "postgres_backup_retention_days": retention_days,
             "postgres_backup_keep_min": keep_min, "__postgres_bin_dir": str(PG_BIN),
             "postgres_patroni_enabled": False}
    subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", json.dumps(extra), "-e", f"ansible_python_interpreter={sys.executable}",
         str(playbook)],
        cwd=ROOT, env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg")),
        check=True, capture_output=True, text=True,
    )
    return script


def run_script(script, db):
    env = dict(os.environ, PGHOST=str(db.server.socket_dir), PGUSER="postgres")
    return subprocess.run([str(script)], env=env, check=True, capture_output=True, text=True)


def age(path, days):
    then = time.time() - days * 86400
    os.utime(path, (then, then))


SEED = """
INSERT INTO radcheck (username, attribute, op, value, managed_by) VALUES
    ('alice', 'Cleartext-Password', ':=', 'a-secret', 'captiva'),
    ('bob', 'Cleartext-Password', ':=', 'b-secret', 'captiva'),
    ('admin-test', 'Cleartext-Password', ':=', 'manual', NULL);
INSERT INTO radpostauth (username, pass, reply) VALUES ('alice', '', 'Access-Accept');
"""


def test_dump_retention_and_restore(radius_db, tmp_path):
    backups = tmp_path / "backups"
    backups.mkdir()
    with radius_db.connect() as conn:
        conn.execute(SEED)
    # Three old dumps (10, 9, 8 days) and an interrupted one; retention 7 days, keep 2.
    old = []
    for days in (10, 9, 8):
        path = backups / f"{radius_db.name}-2020010{days - 7}T000000Z.dump"
        path.write_bytes(b"old")
        age(path, days)
        old.append(path)
    partial = backups / f"{radius_db.name}-20200101T000000Z.dump.partial"
    partial.write_bytes(b"half")
    age(partial, 2)
    other = backups / "unrelated.dump"
    other.write_bytes(b"not ours")
    age(other, 30)

    script = render_script(tmp_path, radius_db, backups, retention_days=7, keep_min=2)
    result = run_script(script, radius_db)
    assert "dumped" in result.stdout

    dumps = sorted(p.name for p in backups.iterdir())
    new = [n for n in dumps if n not in {p.name for p in old} | {other.name}]
    assert len(new) == 1 and new[0].endswith(".dump")
    # The newest two dumps are kept (the new one and the 8-day-old one); older ones go.
    assert old[2].exists() and not old[1].exists() and not old[0].exists()
    assert not partial.exists()
    assert other.exists()
    dump = backups / new[0]
    assert oct(dump.stat().st_mode & 0o777) == "0o600"

    # Disaster: rows lost.
    with radius_db.connect() as conn:
        conn.execute("DELETE FROM radcheck")
        conn.execute("DELETE FROM radpostauth")

    # Restore, exactly as docs/postgres.md says.
    subprocess.run(
        [str(PG_BIN / "pg_restore"), "--clean", "--if-exists", "--single-transaction",
         "--exit-on-error", "--host", str(radius_db.server.socket_dir),
         "--port", str(radius_db.server.port), "--username", "postgres",
         "--dbname", radius_db.name, str(dump)],
        check=True, capture_output=True, text=True,
    )
    with radius_db.connect() as conn:
        assert conn.execute("SELECT username, managed_by FROM radcheck ORDER BY username"
                            ).fetchall() == [("admin-test", None), ("alice", "captiva"),
                                             ("bob", "captiva")]
        assert conn.execute("SELECT username, reply FROM radpostauth").fetchall() == [
            ("alice", "Access-Accept")]
        assert conn.execute("SELECT count(*) FROM captiva_schema_migrations").fetchone()[0] >= 4
    # Privileges came back with the tables.
    with radius_db.connect("freeradius") as conn:
        assert conn.execute("SELECT count(*) FROM radcheck").fetchone()[0] == 3
    with radius_db.connect("portal") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT * FROM radcheck")
    # Sequences too: new rows do not collide with restored ones.
    with radius_db.connect("reconcile") as conn:
        conn.execute("INSERT INTO radcheck (username, attribute, op, value) "
                     "VALUES ('carol', 'Cleartext-Password', ':=', 'c')")


def test_a_failing_dump_fails_the_script_and_leaves_no_dump(radius_db, tmp_path):
    backups = tmp_path / "backups"
    backups.mkdir()
    script = render_script(tmp_path, radius_db, backups, retention_days=7, keep_min=2)
    broken = script.read_text().replace(f"database={radius_db.name}",
                                        f"database={radius_db.name}_missing")
    script.write_text(broken)
    with pytest.raises(subprocess.CalledProcessError):
        run_script(script, radius_db)
    assert [p for p in backups.iterdir() if p.name.endswith(".dump")] == []
