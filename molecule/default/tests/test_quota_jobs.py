"""The quota jobs run on the RADIUS host (the address the routers accept Disconnect-Requests
from) as their own account, captiva-jobs, whose configuration no other account can read."""

from __future__ import annotations

import pytest

testinfra_hosts = ["podman://captiva-mol-radius"]

JOBS = ["enforce", "close-stale", "retention"]  # alerts needs an SMTP relay (off here)
CONFIG = "/etc/captiva/quota.toml"


@pytest.mark.parametrize("job", JOBS)
def test_quota_timer_enabled_and_job_succeeds(host, job):
    timer = host.service(f"captiva-quota-{job}.timer")
    assert timer.is_enabled
    assert timer.is_running
    run = host.run(f"systemctl start captiva-quota@{job}.service")
    assert run.rc == 0, run.stderr
    result = host.run(f"systemctl show -p Result --value captiva-quota@{job}.service")
    assert result.stdout.strip() == "success"


def test_jobs_run_as_their_own_account(host):
    shown = host.run("systemctl show -p User -p Group --value captiva-quota@enforce.service")
    assert shown.stdout.split() == ["captiva-jobs", "captiva-jobs"]
    assert host.user("captiva-jobs").groups == ["captiva-jobs"]


def test_only_the_jobs_read_their_configuration(host):
    config = host.file(CONFIG)
    assert (config.user, config.group, config.mode) == ("root", "captiva-jobs", 0o640)
    assert host.run(f"runuser -u captiva-jobs -- head -c0 {CONFIG}").rc == 0
    denied = host.run(f"runuser -u nobody -- cat {CONFIG}")
    assert denied.rc != 0 and "Permission denied" in denied.stderr


def test_the_jobs_commands_run_as_documented(host):
    """docs/vouchers.md's `captiva-vouchers revoke CODE` on the jobs' host, as written (issue 26:
    the command was only in the virtualenv, on no account's PATH): as root from a login shell,
    and as the jobs' account with the PATH login.defs gives every account."""
    for command in ("captiva-quota", "captiva-vouchers", "captiva-workstations"):
        link = host.file(f"/usr/local/bin/{command}")
        assert link.is_symlink and link.linked_to == f"/opt/captiva/venv/bin/{command}"
    as_root = host.run("bash -lc 'captiva-vouchers revoke ZZZZ-ZZZZ-ZZ --reason molecule'")
    assert as_root.rc == 1 and "ZZZZ-ZZZZ-ZZ: not a voucher code" in as_root.stderr
    as_jobs = host.run("runuser -u captiva-jobs -- env -i PATH=/usr/local/bin:/usr/bin:/bin "
                       "captiva-vouchers revoke ZZZZ-ZZZZ-ZZ --reason molecule")
    assert as_jobs.rc == 1 and "ZZZZ-ZZZZ-ZZ: not a voucher code" in as_jobs.stderr
