"""`make plan` and its merge-request report print no secret of the inventory, on the HA lab
(the inventory with Patroni's passwords), with settings changed so that the files holding
secrets are planned again: Patroni's configuration (its four passwords) and FreeRADIUS's
SQL module (the database password).

`make plan-report` runs `make plan`'s playbook with the report callback added: its output
is make plan's, and the report is what a merge request shows. Every vaulted value of
inventories/lab-ha is decrypted with the lab's vault password and looked for in both.
The same check without hosts: tests/integration/test_plan_secrets.py.
"""

from __future__ import annotations

import os
import subprocess

from vault_values import inventory_secrets, leaked

import lab

CHANGES = "-e postgres_patroni_ttl=21 -e freeradius_db_retry_delay=2"
# The hosts whose plan holds those files, and the controller (the roster, the reconcile).
LIMIT = "--limit postgres:freeradius:localhost"


def test_make_plan_and_its_report_print_no_secret(ha_lab, tmp_path):
    report = tmp_path / "plan"
    run = subprocess.run(
        ["make", "--no-print-directory", "plan-report", f"INVENTORY={lab.INVENTORY}",
         f"REPORT={report}", f"ANSIBLE_ARGS={CHANGES} {LIMIT}"],
        cwd=lab.ROOT, capture_output=True, text=True, timeout=2400, check=False,
        env={k: v for k, v in os.environ.items() if k != "MAKEFLAGS"} | {"ANSIBLE_NOCOLOR": "1"})
    output = run.stdout + run.stderr
    (lab.ROOT / "build" / "ha").mkdir(parents=True, exist_ok=True)
    (lab.ROOT / "build" / "ha" / "plan_secrets.log").write_text(output)
    assert run.returncode == 0, output[-3000:]
    secrets = inventory_secrets(lab.INVENTORY)
    assert any(".postgres_patroni_passwords." in where for where in secrets)
    markdown, as_json = (report.with_suffix(".md").read_text(),
                         report.with_suffix(".json").read_text())
    for name, text in (("make plan output", output), ("report", markdown),
                       ("report JSON", as_json)):
        assert leaked(text, secrets) == [], name
    # The plan did reach the secret-bearing file: Patroni's change shows, from the masked copy.
    masked = output.split("(config.masked.yml)", 1)[1].split("TASK [", 1)[0]
    assert "-    ttl: 20" in masked and "+    ttl: 21" in masked, masked
