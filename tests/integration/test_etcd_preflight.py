"""roles/etcd serves TLS with client certificates, and roles/postgres has Patroni talk to it
with its client certificate, unless the inventory opts in to plain HTTP; every run (make plan
included) warns about that opt-in.

Runs each role's real tasks/preflight.yml with ansible-playbook on the controller (no host),
in check mode and with --diff, as `make plan` does."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

import pytest
from ansible_run import role_tasks


@dataclass(frozen=True)
class Side:
    """One role's side of the etcd link: its variables, and what its preflight says."""

    role: str
    base: dict
    tls: dict  # the CA, certificate and key
    plaintext: str  # the opt-in variable
    missing: str  # the stop without TLS files
    warning: str  # the opt-in's warning
    refused: str  # the opt-in with TLS files

    def preflight(self, tmp_path, **variables) -> subprocess.CompletedProcess:
        return role_tasks(tmp_path, self.role, {**self.base, **variables}, "--check", "--diff")


ETCD = Side(
    "etcd", {"etcd_members": ["localhost", "m2", "m3"], "etcd_address": "127.0.0.1"},
    {"etcd_tls_ca_file": "/pki/ca.crt", "etcd_tls_cert": "/pki/member.crt",
     "etcd_tls_key": "/pki/member.key"},
    "etcd_plaintext", "etcd serves TLS with client certificates: set etcd_tls_ca_file",
    "etcd serves plain HTTP with no authentication",
    "etcd_plaintext is true: leave etcd_tls_ca_file")
# Patroni's side (roles/postgres): the same default and the same opt-in.
PATRONI = Side(
    "postgres", {
        "ansible_facts": {"os_family": "Debian", "distribution": "Debian",
                          "service_mgr": "systemd"},
        "captiva_db_passwords": {role: f"{role}-db-password-0123456789"
                                 for role in ("reconcile", "freeradius", "portal", "jobs")},
        "postgres_patroni_enabled": True, "postgres_patroni_address": "127.0.0.1",
        "postgres_patroni_members": ["localhost", "m2"],
        "postgres_patroni_etcd_hosts": ["10.0.0.1:2379", "10.0.0.2:2379", "10.0.0.3:2379"],
        "postgres_patroni_passwords": {name: f"patroni-{name}-password" for name in (
            "superuser", "replication", "rewind", "restapi")},
        "postgres_tls_enabled": True, "postgres_tls_server_names": ["localhost"],
        "postgres_tls_cert": "/pki/db.crt", "postgres_tls_key": "/pki/db.key",
        "postgres_patroni_ca_file": "/pki/ca.crt"},
    {"postgres_patroni_etcd_ca_file": "/pki/ca.crt",
     "postgres_patroni_etcd_cert": "/pki/patroni.crt",
     "postgres_patroni_etcd_key": "/pki/patroni.key"},
    "postgres_patroni_etcd_plaintext",
    "Patroni talks to etcd over TLS with a client certificate: set",
    "Patroni talks to etcd in plain HTTP with no authentication",
    "postgres_patroni_etcd_plaintext is true: leave")
SIDES = pytest.mark.parametrize("side", [ETCD, PATRONI], ids=["etcd", "patroni"])


@SIDES
def test_tls_files_pass_without_a_warning(tmp_path, side):
    run = side.preflight(tmp_path, **side.tls)
    assert run.returncode == 0, run.stdout
    assert "[WARNING]" not in run.stdout, run.stdout


@SIDES
def test_without_tls_files_the_role_stops_and_says_how_to_opt_in(tmp_path, side):
    run = side.preflight(tmp_path)
    assert run.returncode != 0
    assert side.missing in run.stdout
    assert f"{side.plaintext}: true" in run.stdout


@SIDES
def test_plain_http_is_an_explicit_opt_in_that_the_plan_warns_about(tmp_path, side):
    run = side.preflight(tmp_path, **{side.plaintext: True})
    assert run.returncode == 0, run.stdout
    assert f"[WARNING]: localhost: {side.warning}" in run.stdout, run.stdout


@SIDES
def test_the_opt_in_with_tls_files_is_refused(tmp_path, side):
    run = side.preflight(tmp_path, **{side.plaintext: True}, **side.tls)
    assert run.returncode != 0
    assert side.refused in run.stdout
