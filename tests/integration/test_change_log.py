"""The applied-change log (issue 15): each apply that changes something records one row
(who, which commit and branch, counts, the usernames changed); a no-op apply records none;
the log is append-only for the roles that write and read it."""

import subprocess

import psycopg
import pytest
import yaml
from ansible_run import ansible_playbook
from test_radius_module import write_inventory


def git(cwd, *args):
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_each_apply_is_recorded_with_its_commit_and_the_names_it_changed(tmp_path, radius_db):
    inventory = write_inventory(tmp_path, radius_db, ["alice01", "bob0002"])
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "-c", "user.email=a@b", "-c", "user.name=admin", "add", ".")
    git(tmp_path, "-c", "user.email=a@b", "-c", "user.name=admin", "commit", "-qm", "roster")
    commit = git(tmp_path, "rev-parse", "HEAD")

    assert ansible_playbook(inventory, "reconcile.yml").returncode == 0
    again = ansible_playbook(inventory, "reconcile.yml")  # nothing to change: no row
    assert again.returncode == 0
    roster_file = inventory / "group_vars" / "all" / "roster.yml"
    roster = yaml.safe_load(roster_file.read_text())
    roster["captiva_users"][1]["enabled"] = False
    roster["captiva_users"].append({"username": "carol003", "password": "carol003-secret",
                                    "promotion": "L3", "first_name": "Carole"})
    roster_file.write_text(yaml.safe_dump(roster))
    assert ansible_playbook(inventory, "reconcile.yml",
                            env={"CI_JOB_URL": "https://ci.example/job/42"}).returncode == 0

    with radius_db.connect() as conn:
        rows = conn.execute(
            "SELECT applied_by, ci_job, git_commit, git_branch, git_dirty, summary, users, "
            "counts FROM captiva_change_log ORDER BY id").fetchall()
    assert len(rows) == 2
    first, second = rows
    assert first[2:5] == (commit, "main", False)
    assert first[6] == {"added": ["alice01", "bob0002"], "changed": [], "removed": []}
    assert second[1] == "https://ci.example/job/42"
    assert second[4] is True  # the roster was edited after the commit
    assert second[6] == {"added": ["carol003"], "changed": ["bob0002"], "removed": []}
    assert second[5] == "users: +1 ~1 -0 | groups: +0 ~0 -0"
    assert second[7]["users"] == {"added": 1, "changed": 1, "removed": 0}
    # Names only: no personal data, no secret.
    text = str(rows)
    assert "Carole" not in text and "carol003-secret" not in text

    # "When was bob disabled, and by which commit?"
    with radius_db.connect() as conn:
        found = conn.execute("SELECT git_commit FROM captiva_change_log WHERE users @> "
                             "'{\"changed\": [\"bob0002\"]}'").fetchall()
    assert found == [(commit,)]


@pytest.mark.parametrize("role", ["reconcile", "portal"])
def test_the_change_log_is_append_only(radius_db, role):
    with radius_db.connect() as conn:
        conn.execute("INSERT INTO captiva_change_log (applied_by, summary, counts, users) "
                     "VALUES ('admin', 's', '{}', '{}')")
    with psycopg.connect(radius_db.dsns[role], autocommit=True) as conn:
        if role == "portal":  # one user's entries only: the lists name codes (migration 0140)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT count(*) FROM captiva_change_log")
        else:
            assert conn.execute("SELECT count(*) FROM captiva_change_log").fetchone()[0] == 1
        for statement in ("UPDATE captiva_change_log SET summary = 'forged'",
                          "DELETE FROM captiva_change_log",
                          "TRUNCATE captiva_change_log"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
