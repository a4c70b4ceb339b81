"""Apply (the reconcile) while the primary fails over (docs/ha.md): the run completes on the
new primary or fails cleanly, and a rerun converges."""

from __future__ import annotations

import os
import subprocess
import threading

from conftest import report

import lab

RECONCILE_TASK = "TASK [Make the RADIUS policy tables and Captiva's tables match the roster]"


def reconcile(extra_env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [str(lab.ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(lab.INVENTORY),
         "--vault-id", lab.VAULT_ID, str(lab.ROOT / "playbooks" / "reconcile.yml")],
        cwd=lab.ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "ANSIBLE_CONFIG": str(lab.ROOT / "ansible.cfg"),
             "ANSIBLE_FORCE_COLOR": "0", **(extra_env or {})})


def test_a_reconcile_during_a_failover_completes_or_fails_cleanly_and_a_rerun_converges(
        healthy_lab):
    old = lab.wait_until(lab.primaries, 60, 1, "a primary")[0]
    run = reconcile()
    output, stopper = [], None
    for line in run.stdout:
        output.append(line)
        if stopper is None and line.startswith(RECONCILE_TASK):
            # The reconcile connects now: the primary goes away under it.
            stopper = threading.Thread(target=lab.stop, args=(old,))
            stopper.start()
    run.wait()
    assert stopper is not None, "".join(output[-40:])
    stopper.join()
    first = "".join(output)
    lab.wait_until(lambda: [h for h in lab.primaries() if h != old], 60, 0.5, "a new primary")
    rerun = reconcile()
    second = rerun.communicate()[0]
    figures = {"stopped": old.name, "first_run_rc": run.returncode,
               "rerun_rc": rerun.returncode,
               "first_run_failure": next(("".join(output[i:i + 4]).strip()
                                          for i, line in enumerate(output)
                                          if line.startswith("fatal:")), None)}
    report("apply_during_failover", figures)
    # Clean: a success, or a failure Ansible reports on the task (no traceback, no hang).
    assert run.returncode in (0, 2), first[-3000:]
    assert "Traceback" not in first, first[-3000:]
    assert rerun.returncode == 0, second[-3000:]
    assert "localhost                  : ok=" in second and "failed=0" in second, second[-2000:]
