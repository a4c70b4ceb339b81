"""The portal role's preflight refuses missing or shared secrets before touching a host.

Runs the role's real tasks/preflight.yml with ansible-playbook on the controller (no host)."""

from __future__ import annotations

import subprocess

import pytest
from ansible_run import BIN, ansible_playbook, role_tasks

SECRETS = {
    "captiva_db_passwords": {"portal": "portal-db-password-0123456789abcdef"},
    "captiva_portal_radius_secret": "portal-radius-secret-0123456789abcdef",
    "captiva_portal_session_secret": "a-session-secret-of-its-own-0123456789",
    "portal_quota_jobs_enabled": False,
}


def preflight(tmp_path, **overrides) -> subprocess.CompletedProcess:
    variables = {**SECRETS, **overrides}
    return role_tasks(tmp_path, "portal", {k: v for k, v in variables.items() if v is not None})


def test_preflight_passes_with_its_own_session_secret(tmp_path):
    run = preflight(tmp_path)
    assert run.returncode == 0, run.stdout


@pytest.mark.parametrize("session_secret", [None, "portal-db-password-0123456789abcdef",
                                            "portal-radius-secret-0123456789abcdef"])
def test_no_session_secret_of_its_own_stops_the_role(tmp_path, session_secret):
    # Before: a missing secret was derived from the database password, and the role went on.
    run = preflight(tmp_path, captiva_portal_session_secret=session_secret)
    assert run.returncode != 0
    assert "captiva_portal_session_secret" in run.stdout
    for secret in ("portal-db-password-0123456789abcdef", "portal-radius-secret-0123456789abcdef"):
        assert secret not in run.stdout


@pytest.mark.parametrize(("overrides", "message"), [
    ({"portal_max_failures_per_user_address": 10, "portal_max_failures_per_address": 5},
     "portal_max_failures_per_address must not be lower"),
    ({"portal_max_failures_per_account": 5}, "renamed portal_max_failures_per_user_address"),
])
def test_login_limits_are_checked(tmp_path, overrides, message):
    # A renamed variable would otherwise be ignored without a word.
    run = preflight(tmp_path, **overrides)
    assert run.returncode != 0
    assert message in run.stdout


JOBS_ONLY = {"portal_web_enabled": False, "portal_quota_jobs_enabled": True,
             "captiva_db_passwords": {"jobs": "jobs-db-password-0123456789abcdef"}}


def host_addresses() -> list[str]:
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=True).stdout
    return [a for a in out.split() if ":" not in a]


def jobs_preflight(tmp_path, senders) -> subprocess.CompletedProcess:
    variables = {**JOBS_ONLY, "portal_quota_sender_addresses": senders,
                 "ansible_python_interpreter": str(BIN / "python")}
    return role_tasks(tmp_path, "portal", variables, gather_facts=True)


def test_the_jobs_refuse_a_host_the_routers_would_ignore(tmp_path):
    # RouterOS accepts Disconnect-Requests only from its /radius servers (192.0.2.1 here).
    run = jobs_preflight(tmp_path, ["192.0.2.1"])
    assert run.returncode != 0
    assert "accepted only from the routers' RADIUS servers (192.0.2.1)" in run.stdout


def test_the_jobs_run_on_a_host_that_owns_a_radius_server_address(tmp_path):
    addresses = host_addresses()
    if not addresses:
        pytest.skip("this machine has no IPv4 address besides loopback")
    run = jobs_preflight(tmp_path, ["192.0.2.1", addresses[0]])
    # (A later check may still stop here: this machine need not run systemd.)
    task = run.stdout.split("Check that the jobs send from an address the routers accept", 1)
    assert len(task) == 2, run.stdout
    assert task[1].split("TASK [", 1)[0].strip().splitlines()[1] == "ok: [localhost]", run.stdout


def test_the_jobs_play_targets_one_radius_host_and_the_portal_play_none_of_the_jobs():
    run = ansible_playbook("inventories/example", "portal.yml", "--list-hosts")
    assert run.returncode == 0, run.stdout
    listed = run.stdout
    portal, jobs = listed.split("play #2")
    assert "wifi.univ-exemple.cm" in portal and "radius" not in portal
    assert "radius1.univ-exemple.cm" in jobs and "radius2" not in jobs
