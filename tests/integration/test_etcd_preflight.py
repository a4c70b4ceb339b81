"""roles/etcd serves TLS with client certificates, and roles/postgres has Patroni talk to it
with its client certificate, unless the inventory opts in to plain HTTP; every run (make plan
included) warns about that opt-in.

Runs each role's real tasks/preflight.yml with ansible-playbook on the controller (no host),
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


# Patroni's side (roles/postgres): the same default and the same opt-in.
PATRONI = {
    "ansible_facts": {"os_family": "Debian", "distribution": "Debian", "service_mgr": "systemd"},
    "captiva_db_passwords": {role: f"{role}-db-password-0123456789"
                             for role in ("reconcile", "freeradius", "portal", "jobs")},
    "postgres_patroni_enabled": True, "postgres_patroni_address": "127.0.0.1",
    "postgres_patroni_members": ["localhost", "m2"],
    "postgres_patroni_etcd_hosts": ["10.0.0.1:2379", "10.0.0.2:2379", "10.0.0.3:2379"],
    "postgres_patroni_passwords": {name: f"patroni-{name}-password"
                                   for name in ("superuser", "replication", "rewind", "restapi")},
    "postgres_tls_enabled": True, "postgres_tls_server_names": ["localhost"],
    "postgres_tls_cert": "/pki/db.crt", "postgres_tls_key": "/pki/db.key",
    "postgres_patroni_ca_file": "/pki/ca.crt",
}
PATRONI_TLS = {"postgres_patroni_etcd_ca_file": "/pki/ca.crt",
               "postgres_patroni_etcd_cert": "/pki/patroni.crt",
               "postgres_patroni_etcd_key": "/pki/patroni.key"}
PATRONI_WARNING = "Patroni talks to etcd in plain HTTP with no authentication"


def patroni_preflight(tmp_path, **variables) -> subprocess.CompletedProcess:
    return role_tasks(tmp_path, "postgres", {**PATRONI, **variables}, "--check", "--diff")


def test_patroni_with_etcd_tls_files_passes_without_a_warning(tmp_path):
    run = patroni_preflight(tmp_path, **PATRONI_TLS)
    assert run.returncode == 0, run.stdout
    assert "[WARNING]" not in run.stdout, run.stdout


def test_patroni_without_etcd_tls_files_stops_and_says_how_to_opt_in(tmp_path):
    run = patroni_preflight(tmp_path)
    assert run.returncode != 0
    assert "Patroni talks to etcd over TLS with a client certificate: set" in run.stdout
    assert "postgres_patroni_etcd_plaintext: true" in run.stdout


def test_patroni_in_plain_http_is_an_explicit_opt_in_that_the_plan_warns_about(tmp_path):
    run = patroni_preflight(tmp_path, postgres_patroni_etcd_plaintext=True)
    assert run.returncode == 0, run.stdout
    assert f"[WARNING]: localhost: {PATRONI_WARNING}" in run.stdout, run.stdout
    refused = patroni_preflight(tmp_path, postgres_patroni_etcd_plaintext=True, **PATRONI_TLS)
    assert refused.returncode != 0
    assert "postgres_patroni_etcd_plaintext is true: leave" in refused.stdout
