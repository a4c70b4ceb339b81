"""Drift detection (issue 15): tools/captiva-drift exits like terraform plan
-detailed-exitcode (0 in sync, 2 drift, 1 error), writes a Markdown report and Prometheus
textfile metrics; a change made by hand in Captiva's RADIUS rows moves the metric."""

import json
import subprocess
import sys

from ansible_run import ROOT, ansible_playbook
from test_radius_module import write_inventory

DRIFT = ROOT / "tools" / "captiva-drift"


def drift(inventory, tmp_path):
    result = subprocess.run(
        [sys.executable.replace("python3", "python"), str(DRIFT), str(inventory),
         "--report", str(tmp_path / "report"), "--metrics", str(tmp_path / "drift.prom"),
         "--playbook", str(ROOT / "playbooks" / "reconcile.yml")],
        capture_output=True, text=True, check=False, timeout=600)
    return result


def metrics(tmp_path):
    values = {}
    for line in (tmp_path / "drift.prom").read_text().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def test_in_sync_then_a_change_by_hand_is_drift_then_an_error(tmp_path, radius_db):
    inventory = write_inventory(tmp_path, radius_db, ["alice01", "bob0002"])
    applied = ansible_playbook(inventory, "reconcile.yml")
    assert applied.returncode == 0, applied.stdout

    in_sync = drift(inventory, tmp_path)
    assert in_sync.returncode == 0, in_sync.stdout + in_sync.stderr
    assert "captiva-drift: in sync" in in_sync.stdout
    first = metrics(tmp_path)
    assert first["captiva_drift_status"] == 0
    assert first['captiva_drift_changes{kind="users",action="changed"}'] == 0
    assert "in sync, no change" in (tmp_path / "report.md").read_text()

    # Someone edits a Captiva-owned row by hand: bob's group membership.
    with radius_db.connect() as conn:
        conn.execute("UPDATE radusergroup SET groupname = 'by-hand' "
                     "WHERE username = 'bob0002' AND managed_by = 'captiva'")
    drifted = drift(inventory, tmp_path)
    assert drifted.returncode == 2, drifted.stdout + drifted.stderr
    assert "captiva-drift: DRIFT: users +0 ~1 -0" in drifted.stdout
    moved = metrics(tmp_path)
    assert moved["captiva_drift_status"] == 2
    assert moved['captiva_drift_changes{kind="users",action="changed"}'] == 1
    report = (tmp_path / "report.md").read_text()
    assert "| users | 0 | 1 | 0 |" in report
    assert "test-reconcile-password" not in report
    assert json.loads((tmp_path / "report.json").read_text())["mode"] == "plan"
    # Drift detection never repairs: the row is still as the admin left it.
    with radius_db.connect() as conn:
        assert conn.execute("SELECT groupname FROM radusergroup WHERE username = 'bob0002' "
                            "AND managed_by = 'captiva'").fetchone()[0] == "by-hand"

    # A row added by hand for a Captiva user (no managed_by label) is drift too; labelled as
    # the admin's own, it is not.
    with radius_db.connect() as conn:
        conn.execute("UPDATE radusergroup SET groupname = 'etudiant-standard' "
                     "WHERE username = 'bob0002' AND managed_by = 'captiva'")
        conn.execute("INSERT INTO radreply (username, attribute, op, value) "
                     "VALUES ('alice01', 'Session-Timeout', ':=', '60')")
    foreign = drift(inventory, tmp_path)
    assert foreign.returncode == 2, foreign.stdout + foreign.stderr
    assert "foreign_rows +1" in foreign.stdout
    assert "Rows not owned by Captiva" in (tmp_path / "report.md").read_text()
    with radius_db.connect() as conn:
        conn.execute("UPDATE radreply SET managed_by = 'admin' WHERE username = 'alice01'")
    assert drift(inventory, tmp_path).returncode == 0
    synced = metrics(tmp_path)

    # The database is unreachable: an error, not "in sync"; the last success time is kept.
    roster = inventory / "group_vars" / "all" / "roster.yml"
    roster.write_text(roster.read_text().replace(f"port: {radius_db.server.port}", "port: 9"))
    broken = drift(inventory, tmp_path)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    after_error = metrics(tmp_path)
    assert after_error["captiva_drift_status"] == 1
    assert (after_error["captiva_drift_last_success_timestamp_seconds"]
            == synced["captiva_drift_last_success_timestamp_seconds"])
