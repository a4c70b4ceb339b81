"""The documented GitOps pipeline (docs/gitops.md), driven for real: a bare repository, a
branch that changes the roster, plan (and its report), merge, apply on main, then drift 0, a
change by hand, drift 2. The same make targets a pipeline runs; no hosted CI. A change of the
roster only takes the daily path (make plan-roster / apply-roster); a setting, the full one."""

import os
import subprocess

import yaml
from ansible_run import ROOT
from test_radius_module import write_inventory

GIT_ENV = {"GIT_AUTHOR_NAME": "admin", "GIT_AUTHOR_EMAIL": "admin@univ.test",
           "GIT_COMMITTER_NAME": "admin", "GIT_COMMITTER_EMAIL": "admin@univ.test"}


def git(cwd, *args):
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True,
                          text=True, env={**os.environ, **GIT_ENV}).stdout.strip()


def make(cwd, target, *args):
    # The project's virtualenv; requirements.txt made older than its stamp so that make does
    # not reinstall it for this clone.
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(cwd), target, "INVENTORY=inventories/campus",
         f"VENV={ROOT / '.venv'}", *args],
        capture_output=True, text=True, timeout=600, check=False,
        env={k: v for k, v in os.environ.items() if k != "MAKEFLAGS"})


def test_branch_plan_merge_apply_then_drift(tmp_path, radius_db):
    bare = tmp_path / "captiva.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(ROOT), str(bare)], check=True)
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(bare), str(work)], check=True)
    os.utime(work / "requirements.txt", (0, 0))
    inventory = write_inventory(work / "inventories", radius_db, ["alice01", "bob0002"])
    inventory.rename(work / "inventories" / "campus")
    git(work, "checkout", "-q", "-B", "main")
    git(work, "add", "inventories/campus")
    git(work, "commit", "-qm", "campus roster")
    git(work, "push", "-q", "origin", "main")
    first = make(work, "apply")
    assert first.returncode == 0, first.stdout + first.stderr

    # A merge request: a branch adds a student; validate and plan show it, nothing applied.
    git(work, "checkout", "-q", "-b", "add-carol")
    roster_file = work / "inventories" / "campus" / "group_vars" / "all" / "roster.yml"
    roster = yaml.safe_load(roster_file.read_text())
    roster["captiva_users"].append({"username": "carol003", "password": "carol003-secret",
                                    "promotion": "L3", "email": "carol@univ.test"})
    roster_file.write_text(yaml.safe_dump(roster))
    git(work, "commit", "-qam", "add carol003")
    git(work, "push", "-q", "origin", "add-carol")
    assert make(work, "validate").returncode == 0
    # The pipeline's plan: only the roster changed since main, so the daily path.
    daily = make(work, "plan-changed", "BASE=main")
    assert daily.returncode == 0, daily.stdout + daily.stderr
    assert "make plan-roster: the changes since main need the roster path" in daily.stdout
    assert "playbooks/roster.yml --check --diff" in daily.stdout
    assert "Captiva plan: users: +1 ~0 -0" in " ".join(daily.stdout.split())
    plan = make(work, "plan-report", f"REPORT={tmp_path / 'plan'}")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "users: +1 ~0 -0" in plan.stdout
    report = (tmp_path / "plan.md").read_text()
    assert "| users | 1 | 0 | 0 |" in report
    assert "carol@univ.test" not in report and "carol003-secret" not in report
    with radius_db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM captiva_user").fetchone()[0] == 2

    # Merged: main applies, and records which commit did it.
    git(work, "checkout", "-q", "main")
    last_applied = git(work, "rev-parse", "HEAD")
    git(work, "merge", "-q", "--no-ff", "-m", "Merge add-carol", "add-carol")
    git(work, "push", "-q", "origin", "main")
    merge_commit = git(work, "rev-parse", "HEAD")
    applied = make(work, "apply-changed", f"BASE={last_applied}")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "make apply-roster: the changes since" in applied.stdout
    with radius_db.connect() as conn:
        logged = conn.execute("SELECT git_commit, git_branch, users FROM captiva_change_log "
                              "ORDER BY id DESC LIMIT 1").fetchone()
    assert logged == (merge_commit, "main",
                      {"added": ["carol003"], "changed": [], "removed": []})

    # Drift: none after the apply; then a hand change on the database.
    in_sync = make(work, "drift")
    assert in_sync.returncode == 0, in_sync.stdout + in_sync.stderr
    assert "captiva-drift: in sync" in in_sync.stdout
    with radius_db.connect() as conn:
        conn.execute("DELETE FROM radusergroup WHERE username = 'carol003'")
    drifted = make(work, "drift")
    assert drifted.returncode == 2, drifted.stdout + drifted.stderr
    assert "captiva-drift: DRIFT: users +0 ~1 -0" in drifted.stdout
    exact = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "tools/captiva-drift",
                            "inventories/campus"], cwd=work, capture_output=True, text=True,
                           check=False)
    assert exact.returncode == 2, exact.stdout + exact.stderr

    # A setting changes: the full path, which converges the hosts too.
    settings = yaml.safe_load(roster_file.read_text())
    settings["captiva_language"] = "en"
    roster_file.write_text(yaml.safe_dump(settings))
    git(work, "commit", "-qam", "English by default")
    full = make(work, "plan-changed", "BASE=HEAD~1")
    assert full.returncode == 0, full.stdout + full.stderr
    assert "make plan: the changes since HEAD~1 need the hosts path" in full.stdout
    assert "playbooks/site.yml --check --diff" in full.stdout
