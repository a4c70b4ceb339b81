"""The hotspot's TLS certificate through captiva_routeros into tools/routeros-sim: imported
from a file that does not stay, named after its fingerprint, rotated, and only Captiva's own
certificates ever removed. The router is read back over the API (librouteros)."""

from __future__ import annotations

import hashlib
import ssl
import subprocess

import pytest
from ansible_collections.captiva.campus.plugins.module_utils.captiva_routeros import (
    RouterOSError,
)
from ansible_collections.captiva.campus.plugins.module_utils.captiva_routeros_certificates import (
    desired_entries,
)
from roster_base import hotspot_tls
from routeros_fixtures import routeros_sim, start_sim, stop_sim  # noqa: F401
from test_routeros_reconcile import ansible_playbook, task_result

DNS_NAME = "login.campus.test"
FIRST = hotspot_tls(DNS_NAME)
SECOND = hotspot_tls(DNS_NAME, days=800)  # the renewed certificate, another key


def fingerprint(pem: str) -> str:
    """SHA-256 of the DER form (the standard library's reading), as RouterOS prints it."""
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def name_of(tls) -> str:
    return "captiva-hotspot-" + fingerprint(tls["certificate"])[:12]


def desired(tls):
    """What the roster compiles for one router (captiva_roster_compile.routeros_desired)."""
    return {
        "/certificate": desired_entries(tls) if tls else [],
        "/ip/hotspot/profile": [{
            "name": "captiva", "use-radius": True, "login-by": "https,cookie",
            "dns-name": DNS_NAME, "html-directory": "flash/hotspot",
            "ssl-certificate": name_of(tls) if tls else "none"}],
    }


def certificates(sim) -> dict[str, dict]:
    return {r["name"]: r for r in sim.rows("/certificate")}


def profile(sim) -> dict:
    return {r["name"]: r for r in sim.rows("/ip/hotspot/profile")}["captiva"]


def key_lines(tls) -> list[str]:
    return tls["key"].strip().splitlines()[1:-1]


def ledger(sim) -> str:
    return "".join(r.get("source", "") for r in sim.rows("/system/script"))


def test_the_certificate_is_imported_with_its_key_and_the_uploaded_file_removed(
        routeros_sim):  # noqa: F811
    result = routeros_sim.reconcile(desired(FIRST))
    assert result["changed"]
    # One print per menu and the ledger; the import adds two: a file left by an interrupted
    # run, and the imported certificate read back.
    assert routeros_sim.stats()["prints"] == len(desired(FIRST)) + 1 + 2
    # imported first, so that the profile can name it
    assert [(a["menu"], a["action"]) for a in result["actions"]][1:3] == [
        ("/certificate", "create"), ("/ip/hotspot/profile", "create")]
    cert = certificates(routeros_sim)[name_of(FIRST)]
    assert cert["fingerprint"] == fingerprint(FIRST["certificate"])
    assert cert["private-key"] is True  # librouteros reads "true" as True
    assert profile(routeros_sim)["ssl-certificate"] == name_of(FIRST)
    assert profile(routeros_sim)["html-directory"] == "flash/hotspot"
    # the file that carried the key is gone
    assert [f["name"] for f in routeros_sim.rows("/file") if f["name"].endswith(".pem")] == []
    assert f"# /certificate {name_of(FIRST)}" in ledger(routeros_sim)
    # the key shows nowhere in what the module returns
    assert not any(line in str(result) for line in key_lines(FIRST))

    again = routeros_sim.reconcile(desired(FIRST))
    assert not again["changed"] and again["actions"] == []
    assert routeros_sim.stats()["writes"] == 0
    assert routeros_sim.stats()["prints"] == len(desired(FIRST)) + 1


def test_check_mode_on_a_fresh_router_changes_nothing(routeros_sim):  # noqa: F811
    result = routeros_sim.reconcile(desired(FIRST), check_mode=True)
    assert result["changed"]
    (imported,) = [a for a in result["actions"] if a["menu"] == "/certificate"]
    assert imported["fields"]["fingerprint"] == fingerprint(FIRST["certificate"])
    assert imported["fields"]["private-key"] == "yes"  # said, never shown
    assert not any(line in str(result) for line in key_lines(FIRST))
    stats = routeros_sim.stats()
    assert stats["writes"] == 0
    assert certificates(routeros_sim) == {}
    assert [f for f in routeros_sim.rows("/file") if f["name"].endswith(".pem")] == []


def test_a_new_certificate_is_imported_switched_to_then_the_old_one_removed(
        routeros_sim):  # noqa: F811
    routeros_sim.reconcile(desired(FIRST))
    result = routeros_sim.reconcile(desired(SECOND))
    assert [(a["menu"], a["action"], a["entry"]) for a in result["actions"]
            if a["menu"] != "/system/script"] == [
        ("/certificate", "create", f"name={name_of(SECOND)}"),
        ("/ip/hotspot/profile", "update", "name=captiva"),
        ("/certificate", "delete", f"name={name_of(FIRST)}")]
    assert list(certificates(routeros_sim)) == [name_of(SECOND)]
    assert profile(routeros_sim)["ssl-certificate"] == name_of(SECOND)
    assert f"# /certificate {name_of(FIRST)}" not in ledger(routeros_sim)
    assert result["diff"]["before"]["/certificate"][f"name={name_of(FIRST)}"]["fingerprint"] \
        == fingerprint(FIRST["certificate"])
    assert not routeros_sim.reconcile(desired(SECOND))["changed"]


def test_a_certificate_captiva_did_not_import_is_never_touched(routeros_sim):  # noqa: F811
    other = hotspot_tls("vpn.campus.test")
    routeros_sim.command("/file/add", name="admin.pem",
                         contents=other["certificate"] + other["key"])
    routeros_sim.command("/certificate/import", **{"file-name": "admin.pem", "name": "vpn",
                                                   "passphrase": ""})
    routeros_sim.reconcile(desired(FIRST))
    routeros_sim.reconcile(desired(SECOND))
    # and the roster drops HTTPS: the profile names none, Captiva's certificate goes
    result = routeros_sim.reconcile(desired(None))
    assert profile(routeros_sim)["ssl-certificate"] == "none"
    assert list(certificates(routeros_sim)) == ["vpn"]
    assert certificates(routeros_sim)["vpn"]["private-key"] is True
    assert [a["entry"] for a in result["actions"] if a["action"] == "delete"] == [
        f"name={name_of(SECOND)}"]


def test_the_same_certificate_imported_by_hand_fails_before_any_write(routeros_sim):  # noqa: F811
    routeros_sim.command("/file/add", name="by-hand.pem",
                         contents=FIRST["certificate"] + FIRST["key"])
    routeros_sim.command("/certificate/import", **{"file-name": "by-hand.pem",
                                                   "name": "by-hand", "passphrase": ""})
    with pytest.raises(RouterOSError, match=r"the hotspot certificate cannot be installed: "
                                            r"/certificate captiva-hotspot-\w+: the router "
                                            r"already holds this certificate as 'by-hand'"):
        routeros_sim.reconcile(desired(FIRST))
    assert routeros_sim.stats()["writes"] == 0


@pytest.mark.slow
def test_the_key_stays_out_of_the_roles_output_even_with_diff_and_verbose(
        tmp_path, routeros_sim):  # noqa: F811
    planned = ansible_playbook(tmp_path, routeros_sim, desired(FIRST), "--check", "--diff",
                               "-vvv")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    applied = ansible_playbook(tmp_path, routeros_sim, desired(FIRST), "--diff")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert task_result(applied)["changed"]
    for output in (planned.stdout + planned.stderr, applied.stdout + applied.stderr):
        assert not any(line in output for line in key_lines(FIRST))
    # the verbose plan shows the module's arguments: the certificate, not its key
    assert FIRST["certificate"].splitlines()[1] in planned.stdout
    again = ansible_playbook(tmp_path, routeros_sim, desired(FIRST))
    assert not task_result(again)["changed"]


def test_the_https_login_presents_the_hotspot_certificate_alone_not_its_chain(tmp_path):
    """Whether RouterOS's HTTPS login sends the chain certificates it holds is not documented:
    the simulator sends the certificate ssl-certificate names, alone (docs/routeros.md,
    Conformance), so nothing here counts on a router sending the chain."""
    chained = {"certificate": FIRST["certificate"] + hotspot_tls("Campus CA", ca=True)[
        "certificate"], "key": FIRST["key"]}
    wanted = {**desired(FIRST), "/certificate": desired_entries(chained)}
    sim = start_sim(tmp_path, hotspot_tls=True)
    try:
        assert sim.reconcile(wanted)["changed"]
        assert len(certificates(sim)) == 2  # the hotspot's, with its key, and the chain's
        sim.command("/ip/hotspot/add", name="hotspot1", interface="ether2", profile="captiva")
        shown = subprocess.run(
            ["openssl", "s_client", "-showcerts", "-connect", f"127.0.0.1:{sim.hotspot_tls_port}",
             "-servername", DNS_NAME], input="", capture_output=True, text=True, timeout=30,
            check=False)
    finally:
        stop_sim(sim)
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    assert shown.stdout.count(begin) == 1, shown.stdout + shown.stderr
    pem = shown.stdout[shown.stdout.index(begin):shown.stdout.index(end) + len(end)]
    assert fingerprint(pem) == fingerprint(FIRST["certificate"])
