"""roles/etcd serves TLS with client certificates unless the inventory opts in to plain
HTTP, and every run (make plan included) warns about that opt-in.

Runs the role's real tasks/preflight.yml with ansible-playbook on the controller (no host),
in check mode and with --diff, as `make plan` does."""

from __future__ import annotations

import subprocess

from ansible_run import role_tasks

MEMBERS = {"etcd_members": ["localhost", "m2", "m3"], "etcd_address": "127.0.0.1"}
TLS = {"etcd_tls_ca_file": "/pki/ca.crt", "etcd_tls_cert": "/pki/member.crt",
       "etcd_tls_key": "/pki/member.key"}
WARNING = "etcd serves plain HTTP with no authentication"


def preflight(tmp_path, **variables) -> subprocess.CompletedProcess:
    return role_tasks(tmp_path, "etcd", {**MEMBERS, **variables}, "--check", "--diff")


def test_tls_files_pass_without_a_warning(tmp_path):
    run = preflight(tmp_path, **TLS)
    assert run.returncode == 0, run.stdout
    assert "[WARNING]" not in run.stdout, run.stdout


def test_without_tls_files_the_role_stops_and_says_how_to_opt_in(tmp_path):
    run = preflight(tmp_path)
    assert run.returncode != 0
    assert "etcd serves TLS with client certificates: set etcd_tls_ca_file" in run.stdout
    assert "etcd_plaintext: true" in run.stdout


def test_plain_http_is_an_explicit_opt_in_that_the_plan_warns_about(tmp_path):
    run = preflight(tmp_path, etcd_plaintext=True)
    assert run.returncode == 0, run.stdout
    assert f"[WARNING]: localhost: {WARNING}" in run.stdout, run.stdout


def test_the_opt_in_with_tls_files_is_refused(tmp_path):
    run = preflight(tmp_path, etcd_plaintext=True, **TLS)
    assert run.returncode != 0
    assert "etcd_plaintext is true: leave etcd_tls_ca_file" in run.stdout
