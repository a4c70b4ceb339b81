"""The portal role's preflight refuses missing or shared secrets before touching a host.

Runs the role's real tasks/preflight.yml with ansible-playbook on the controller (no host)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "captiva_db_passwords": {"portal": "portal-db-password-0123456789abcdef"},
    "captiva_portal_radius_secret": "portal-radius-secret-0123456789abcdef",
    "captiva_portal_session_secret": "a-session-secret-of-its-own-0123456789",
    "portal_quota_jobs_enabled": False,
}
PLAY = """\
- name: Preflight only
  hosts: localhost
  gather_facts: false
  tasks:
    - name: The portal role's checks
      ansible.builtin.include_role:
        name: portal
        tasks_from: preflight.yml
"""


def preflight(tmp_path, **overrides) -> subprocess.CompletedProcess:
    variables = {**SECRETS, **overrides}
    variables = {k: v for k, v in variables.items() if v is not None}
    (tmp_path / "play.yml").write_text(PLAY)
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        [str(ROOT / ".venv/bin/ansible-playbook"), "-i", "localhost,", "-c", "local",
         str(tmp_path / "play.yml"), "-e", f"@{tmp_path / 'vars.json'}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


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
