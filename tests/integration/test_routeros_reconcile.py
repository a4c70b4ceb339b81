"""captiva_routeros against tools/routeros-sim: the planner through librouteros, and the module
through ansible-playbook. Round trips are measured with the simulator's counters."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import socket
import subprocess
from pathlib import Path

import pytest
from ansible_collections.captiva.campus.plugins.module_utils.captiva_routeros import (
    RouterOSClient,
    RouterOSError,
    reconcile,
)
from processes import free_port
from routeros_fixtures import ROOT, routeros_sim, start_sim, stop_sim  # noqa: F401

DESIRED = {
    "/radius": [{"service": "hotspot", "address": "10.89.0.10", "secret": "radius-S3cret",
                 "timeout": "2s", "authentication-port": 1812, "accounting-port": 1813,
                 "require-message-auth": "yes-for-request-resp"}],
    "/radius/incoming": {"accept": True, "port": 3799},
    "/ip/hotspot/profile": [{"name": "captiva", "use-radius": True,
                             "radius-interim-update": "5m", "login-by": "https,cookie",
                             "dns-name": "login.campus.example"}],
    "/ip/hotspot/user/profile": [
        {"name": "etudiant-standard", "rate-limit": "2M/10M", "shared-users": 1,
         "session-timeout": "8h", "idle-timeout": "10m"},
        {"name": "personnel", "rate-limit": "10000000/50M", "shared-users": "unlimited",
         "session-timeout": "01:00:00"},
    ],
    "/ip/hotspot/walled-garden": [{"dst-host": "portal.campus.example", "action": "allow"}],
    "/ip/hotspot/walled-garden/ip": [{"dst-address": "10.89.0.12", "action": "accept"}],
}


def writes(sim) -> int:
    return sim.stats()["writes"]


def by_name(sim, path):
    return {r["name"]: r for r in sim.rows(path)}


def test_create_from_empty_then_noop(routeros_sim):  # noqa: F811
    first = routeros_sim.reconcile(DESIRED)
    assert first["changed"]
    assert first["counts"] == {"create": 6, "set": 1}
    # 7 entry writes + 1 ledger chunk for the two menus without a comment field
    assert writes(routeros_sim) == 8
    profiles = by_name(routeros_sim, "/ip/hotspot/user/profile")
    assert profiles["personnel"]["rate-limit"] == "10M/50M"
    assert profiles["personnel"]["session-timeout"] == "1h"
    assert [r["comment"] for r in routeros_sim.rows("/radius")] == ["captiva"]
    assert routeros_sim.rows("/radius/incoming") == [{"accept": True, "port": 3799}]

    second = routeros_sim.reconcile(DESIRED)
    assert not second["changed"] and second["actions"] == []
    stats = routeros_sim.stats()
    assert stats["writes"] == 0
    assert stats["prints"] == len(DESIRED) + 1  # one print per menu, plus the ledger


def test_changed_profile_costs_one_write(routeros_sim):  # noqa: F811
    routeros_sim.reconcile(DESIRED)
    desired = copy.deepcopy(DESIRED)
    desired["/ip/hotspot/user/profile"][0]["rate-limit"] = "4M/20M"
    result = routeros_sim.reconcile(desired, check_mode=False)
    assert result["actions"] == [{"menu": "/ip/hotspot/user/profile", "action": "update",
                                  "entry": "name=etudiant-standard",
                                  "fields": {"rate-limit": "4M/20M"}}]
    assert writes(routeros_sim) == 1
    assert by_name(routeros_sim, "/ip/hotspot/user/profile")[
        "etudiant-standard"]["rate-limit"] == "4M/20M"


def test_removed_profile_is_pruned_and_released(routeros_sim):  # noqa: F811
    routeros_sim.reconcile(DESIRED)
    desired = copy.deepcopy(DESIRED)
    del desired["/ip/hotspot/user/profile"][1]
    result = routeros_sim.reconcile(desired)
    assert result["counts"] == {"delete": 1}
    assert writes(routeros_sim) == 2  # the remove, then the ledger line
    # The router's built-in "default" profile is not Captiva's: it stays.
    assert set(by_name(routeros_sim, "/ip/hotspot/user/profile")) == {"default",
                                                                    "etudiant-standard"}
    (ledger,) = routeros_sim.rows("/system/script")
    assert "personnel" not in ledger["source"]
    assert not routeros_sim.reconcile(desired)["changed"]


def test_prune_off_keeps_entries(routeros_sim):  # noqa: F811
    routeros_sim.reconcile(DESIRED)
    result = routeros_sim.reconcile({"/ip/hotspot/user/profile": []}, prune=False)
    assert not result["changed"]
    assert len(routeros_sim.rows("/ip/hotspot/user/profile")) == 3  # with the built-in default


def test_mass_prune_is_refused_without_allow(routeros_sim):  # noqa: F811
    routeros_sim.reconcile(DESIRED)
    emptied = {**DESIRED, "/ip/hotspot/user/profile": [], "/radius": [],
               "/ip/hotspot/walled-garden": [], "/ip/hotspot/walled-garden/ip": []}
    with pytest.raises(RouterOSError, match="refusing to remove 5 of the 6 entries"):
        routeros_sim.reconcile(emptied)
    assert writes(routeros_sim) == 0
    result = routeros_sim.reconcile(emptied, allow_mass_prune=True)
    assert result["counts"] == {"delete": 5}
    assert set(by_name(routeros_sim, "/ip/hotspot/user/profile")) == {"default"}  # built-in


def test_foreign_entries_are_never_touched(routeros_sim):  # noqa: F811
    api = routeros_sim.connect()
    api.path("ip", "hotspot", "user", "profile").add(name="admin-vip", **{"rate-limit": "1M/1M"})
    api.path("radius").add(service="login", address="10.0.0.1", secret="admins-own")
    api.path("ip", "hotspot", "walled-garden").add(**{"dst-host": "portal.campus.example"})
    api.close()
    foreign_before = {p: routeros_sim.rows(p) for p in
                      ("/ip/hotspot/user/profile", "/radius", "/ip/hotspot/walled-garden")}
    result = routeros_sim.reconcile(DESIRED)
    # A foreign entry with the same match fields as a desired one: Captiva adds its own.
    assert any("walled-garden" in w for w in result["warnings"])
    desired = copy.deepcopy(DESIRED)
    desired["/ip/hotspot/user/profile"] = []
    desired["/radius"] = []
    routeros_sim.reconcile(desired, allow_mass_prune=True)
    for path, rows in foreign_before.items():
        now = {r[".id"]: r for r in routeros_sim.rows(path)}
        for row in rows:
            assert now[row[".id"]] == row, path


def test_desired_name_owned_by_someone_else_fails_before_any_write(routeros_sim):  # noqa: F811
    api = routeros_sim.connect()
    api.path("ip", "hotspot", "user", "profile").add(name="personnel", **{"rate-limit": "1M/1M"})
    api.close()
    with pytest.raises(RouterOSError, match=r"did not create.*personnel"):
        routeros_sim.reconcile(DESIRED)
    assert writes(routeros_sim) == 0
    assert by_name(routeros_sim, "/ip/hotspot/user/profile")["personnel"]["rate-limit"] == "1M/1M"


def test_check_mode_sends_no_write(routeros_sim):  # noqa: F811
    result = routeros_sim.reconcile(DESIRED, check_mode=True)
    assert result["changed"] and result["counts"] == {"create": 6, "set": 1}
    assert writes(routeros_sim) == 0
    assert set(by_name(routeros_sim, "/ip/hotspot/user/profile")) == {"default"}  # built-in
    routeros_sim.reconcile(DESIRED)
    desired = copy.deepcopy(DESIRED)
    desired["/ip/hotspot/profile"][0]["dns-name"] = "wifi.campus.example"
    result = routeros_sim.reconcile(desired, check_mode=True)
    assert result["diff"]["after"] == {
        "/ip/hotspot/profile": {"name=captiva": {"dns-name": "wifi.campus.example"}}}
    assert writes(routeros_sim) == 0


def test_secrets_are_masked_in_actions_and_diff(routeros_sim):  # noqa: F811
    result = routeros_sim.reconcile(DESIRED)
    desired = copy.deepcopy(DESIRED)
    desired["/radius"][0]["secret"] = "rotated-S3cret"
    changed = routeros_sim.reconcile(desired)
    text = json.dumps([result, changed])
    assert "S3cret" not in text
    assert changed["diff"]["after"]["/radius"] == {
        "service=hotspot,address=10.89.0.10": {"secret": "********"}}
    (row,) = routeros_sim.rows("/radius")
    assert row["secret"] == "rotated-S3cret"


def test_unknown_field_is_rejected_before_any_write(routeros_sim):  # noqa: F811
    desired = copy.deepcopy(DESIRED)
    desired["/ip/hotspot/user/profile"][0]["colour"] = "blue"
    where = r"desired\[/ip/hotspot/user/profile\]\[0\]"
    with pytest.raises(RouterOSError, match=where + ": unknown field 'colour'"):
        routeros_sim.reconcile(desired)
    assert writes(routeros_sim) == 0


def test_local_hotspot_users_are_refused(routeros_sim):  # noqa: F811
    with pytest.raises(RouterOSError, match="never creates local hotspot users"):
        routeros_sim.reconcile({"/ip/hotspot/user": [{"name": "alice", "password": "x"}]})


def test_unreachable_router_fails_clearly():
    port = free_port()
    with pytest.raises(RouterOSError, match=rf"cannot reach router at api://127.0.0.1:{port}"):
        RouterOSClient("127.0.0.1", "captiva", "x", port=port, tls=False, timeout=2)


def test_wrong_password_fails_clearly(routeros_sim):  # noqa: F811
    with pytest.raises(RouterOSError, match="cannot log in .*invalid user name or password"):
        RouterOSClient(routeros_sim.host, routeros_sim.user, "wrong", port=routeros_sim.port,
                       tls=False)


# ----------------------------------------------------------------------------------------------
# API-SSL


@pytest.fixture
def tls_sim(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "router.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "router.pem", tmp_path / "router.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    sim = start_sim(tmp_path, "--tls-cert", str(cert_file), "--tls-key", str(key_file))
    yield sim, cert_file
    stop_sim(sim)


def test_api_ssl_verifies_the_certificate(tls_sim):
    sim, ca = tls_sim
    with pytest.raises(RouterOSError, match="TLS failure|certificate verify failed"):
        RouterOSClient("localhost", sim.user, sim.password, port=sim.port, tls=True)
    client = RouterOSClient("localhost", sim.user, sim.password, port=sim.port, tls=True,
                            ca_path=str(ca))
    try:
        assert reconcile(client, {"/system/identity": {"name": "gw-tls"}})["changed"]
    finally:
        client.close()
    unverified = RouterOSClient("127.0.0.1", sim.user, sim.password, port=sim.port, tls=True,
                                validate_certs=False)
    unverified.close()


def test_command_timeout_is_enforced():
    with socket.socket() as server:  # accepts, answers the login, then never replies again
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        import threading

        def serve():
            conn, _ = server.accept()
            conn.recv(4096)
            conn.sendall(b"\x05!done\x00")
            threading.Event().wait(5)
            conn.close()

        threading.Thread(target=serve, daemon=True).start()
        client = RouterOSClient("127.0.0.1", "u", "p", port=server.getsockname()[1],
                                tls=False, command_timeout=0.5)
        with pytest.raises(RouterOSError, match="timed out"):
            client.print("/radius")


# ----------------------------------------------------------------------------------------------
# Through Ansible: the module and the role, with ansible.cfg from the repository root


def ansible_playbook(tmp_path: Path, sim, desired, *args: str,
                     tls: bool | None = False) -> subprocess.CompletedProcess:
    host = {
        "ansible_host": sim.host, "ansible_connection": "local",
        "ansible_python_interpreter": str(ROOT / ".venv" / "bin" / "python"),
        "mikrotik_api_port": sim.port,
        "mikrotik_api_username": sim.user, "mikrotik_api_password": sim.password,
        "mikrotik_desired": desired, "mikrotik_no_log": False}
    if tls is not None:  # None: the role's default
        host["mikrotik_api_tls"] = tls
    inventory = {"routers": {"hosts": {"gw1": host}}}
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: routers\n  gather_facts: false\n"
        "  roles: [{role: captiva.campus.mikrotik}]\n")
    env = {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "json", "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(tmp_path / "inventory.json"),
         str(playbook), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def task_result(proc) -> dict:
    out = json.loads(proc.stdout)
    return out["plays"][0]["tasks"][-1]["hosts"]["gw1"]  # [0] is the argument spec check


@pytest.mark.slow
def test_role_runs_the_module_through_ansible(tmp_path, routeros_sim):  # noqa: F811
    checked = ansible_playbook(tmp_path, routeros_sim, DESIRED, "--check", "--diff")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    result = task_result(checked)
    assert result["changed"] and result["counts"] == {"create": 6, "set": 1}
    assert "radius-S3cret" not in checked.stdout
    assert writes(routeros_sim) == 0
    # The plain API is an opt-in the plan warns about.
    assert any("plain RouterOS API without TLS" in w for w in result["warnings"])

    applied = ansible_playbook(tmp_path, routeros_sim, DESIRED)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert task_result(applied)["changed"]
    assert "radius-S3cret" not in applied.stdout
    again = ansible_playbook(tmp_path, routeros_sim, DESIRED)
    assert not task_result(again)["changed"]

    bad = copy.deepcopy(DESIRED)
    bad["/ip/hotspot/profile"][0]["colour"] = "blue"
    failed = ansible_playbook(tmp_path, routeros_sim, bad, "--check")
    assert failed.returncode != 0
    assert "unknown field 'colour'" in task_result(failed)["msg"]


@pytest.mark.slow
def test_role_fails_the_host_of_an_unreachable_router(tmp_path):
    class Gone:
        host, port, user, password = "127.0.0.1", free_port(), "captiva", "x"

    proc = ansible_playbook(tmp_path, Gone, DESIRED)
    assert proc.returncode != 0
    result = task_result(proc)
    assert result["failed"]
    assert f"cannot reach router at api://127.0.0.1:{Gone.port}" in result["msg"]


@pytest.mark.slow
def test_role_defaults_to_api_ssl(tmp_path, routeros_sim):  # noqa: F811
    # The simulator speaks the plain API: with the defaults the role insists on TLS.
    proc = ansible_playbook(tmp_path, routeros_sim, DESIRED, "--check", tls=None)
    assert proc.returncode != 0
    result = task_result(proc)
    assert f"api-ssl://{routeros_sim.host}:{routeros_sim.port}" in result["msg"]
    assert not result.get("warnings")
    assert writes(routeros_sim) == 0


@pytest.mark.slow
def test_module_defaults_to_api_ssl(tmp_path, routeros_sim):  # noqa: F811
    playbook = tmp_path / "module.yml"
    playbook.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [{
        "captiva.campus.captiva_routeros": {"host": routeros_sim.host, "port": routeros_sim.port,
                             "username": routeros_sim.user, "password": routeros_sim.password,
                             "desired": {"/radius/incoming": {"accept": True}}}}]}]))
    env = {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "json", "ANSIBLE_NOCOLOR": "1"}
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", f"ansible_python_interpreter={ROOT / '.venv' / 'bin' / 'python'}",
         str(playbook)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert f"api-ssl://{routeros_sim.host}:{routeros_sim.port}" in result["msg"]
