"""The hotspot certificate's checks and plan (captiva_routeros_certificates), and its place in
captiva_routeros's plan, with plain dicts as the router's state."""

from __future__ import annotations

import datetime as dt
import hashlib
import ssl

import pytest
from ansible_collections.captiva.campus.plugins.module_utils import captiva_routeros as ros
from ansible_collections.captiva.campus.plugins.module_utils import (
    captiva_routeros_certificates as certs,
)
from roster_base import hotspot_tls

DNS_NAME = "login.campus.test"
TLS = hotspot_tls(DNS_NAME)
OTHER = hotspot_tls(DNS_NAME, days=800)


def fingerprint(pem: str) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


NAME = "captiva-hotspot-" + fingerprint(TLS["certificate"])[:12]
OLD = "captiva-hotspot-" + fingerprint(OTHER["certificate"])[:12]


def row(tls, name, key=True, id_="*1"):
    """A /certificate/print row as librouteros reads it."""
    return {".id": id_, "name": name, "fingerprint": fingerprint(tls["certificate"]),
            "private-key": key, "common-name": DNS_NAME}


# ----------------------------------------------------------------------------------------------
# Checks


@pytest.mark.parametrize(("names", "host", "covered"), [
    (["login.campus.test"], "login.campus.test", True),
    (["LOGIN.campus.test"], "login.campus.test.", True),
    (["*.campus.test"], "login.campus.test", True),
    (["*.campus.test"], "a.login.campus.test", False),  # one label only
    (["*.campus.test"], "campus.test", False),
    (["*.test"], "campus.test", False),  # not a whole public suffix
    (["other.campus.test"], "login.campus.test", False),
])
def test_a_certificate_covers_a_name_as_browsers_check_it(names, host, covered):
    assert certs.covers(names, host) is covered


def test_a_usable_certificate_has_no_problem():
    assert certs.check_hotspot_tls(TLS, [DNS_NAME]) == []


def test_an_encrypted_key_is_refused_with_the_way_out():
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(TLS["key"].encode(), None)
    encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(b"pass")).decode()
    ((field, reason),) = certs.check_hotspot_tls(dict(TLS, key=encrypted), [DNS_NAME])
    assert field == "key"
    assert reason.startswith("the private key is encrypted with a passphrase: give it "
                             "unencrypted and keep it in the vault instead")


def test_a_key_that_does_not_parse_is_never_quoted():
    garbage = "-----BEGIN PRIVATE KEY-----\nTOP-SECRET-MATERIAL\n-----END PRIVATE KEY-----\n"
    ((field, reason),) = certs.check_hotspot_tls(dict(TLS, key=garbage), [DNS_NAME])
    assert (field, reason) == ("key", "the private key does not parse as PEM")


def test_a_certificate_not_yet_valid_is_refused():
    later = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    problems = certs.check_hotspot_tls(TLS, [DNS_NAME], now=later)
    assert [field for field, _ in problems] == ["certificate"]
    assert " is not valid before " in problems[0][1]


def test_a_chain_is_imported_as_separate_certificates_the_servers_first():
    ca = hotspot_tls("Campus CA", ca=True)
    chained = {"certificate": TLS["certificate"] + ca["certificate"], "key": TLS["key"]}
    assert certs.check_hotspot_tls(chained, [DNS_NAME]) == []
    entries = certs.desired_entries(chained)
    assert [(e["name"], "key" in e) for e in entries] == [
        (NAME, True), ("captiva-hotspot-ca-" + fingerprint(ca["certificate"])[:12], False)]
    assert ros.validate_desired({"/certificate": entries}) == []
    # the chain first is the admin's mistake the key check names
    reversed_ = {"certificate": ca["certificate"] + TLS["certificate"], "key": TLS["key"]}
    ((field, reason),) = certs.check_hotspot_tls(reversed_, [])
    assert field == "key" and "put the hotspot's own certificate first" in reason


def test_desired_entries_are_checked_before_anything_is_sent():
    entry = certs.desired_entries(TLS)[0]
    errors = ros.validate_desired({"/certificate": [
        dict(entry, name="hotspot"), dict(entry, key=OTHER["key"]),
        dict(certs.desired_entries(OTHER)[0], colour="x")]})
    assert errors == [
        f"desired[/certificate][0].name: 'hotspot': a certificate Captiva imports is named "
        f"after its fingerprint: {NAME!r}",
        "desired[/certificate][1].key: the key does not belong to the certificate",
        "desired[/certificate][2]: unknown field(s) colour; a certificate entry has name, "
        "certificate, key"]
    assert ros.validate_desired({"/certificate": [entry, entry]}) == [
        f"desired[/certificate][1].name: {NAME!r} is entry 0 already"]


# ----------------------------------------------------------------------------------------------
# Plan


def test_an_absent_certificate_is_imported():
    wanted = certs.plan(certs.desired_entries(TLS), [], set())
    assert [e["name"] for e in wanted.create] == [NAME]
    assert (wanted.delete, wanted.conflicts) == ([], [])


def test_the_imported_certificate_with_its_key_is_no_change():
    wanted = certs.plan(certs.desired_entries(TLS), [row(TLS, NAME)], {NAME})
    assert (wanted.create, wanted.delete, wanted.conflicts, wanted.owned) == ([], [], [], 1)


@pytest.mark.parametrize(("rows", "owned", "message"), [
    ([row(TLS, NAME)], set(), "a certificate of that name exists and Captiva did not import it"),
    ([row(OTHER, NAME)], {NAME}, "has fingerprint"),
    ([row(TLS, NAME, key=False)], {NAME}, "without its private key"),
    ([row(TLS, "admins-copy")], set(), "already holds this certificate as 'admins-copy'"),
])
def test_what_captiva_cannot_fix_alone_is_a_conflict(rows, owned, message):
    wanted = certs.plan(certs.desired_entries(TLS), rows, owned)
    assert wanted.create == [] and len(wanted.conflicts) == 1
    assert message in wanted.conflicts[0]


def test_only_certificates_captiva_imported_are_removed():
    rows = [row(OTHER, OLD, id_="*1"), row(TLS, "vpn", id_="*2")]
    wanted = certs.plan([], rows, {OLD})
    assert [r["name"] for r in wanted.delete] == [OLD]
    assert certs.plan([], rows, {OLD}, prune=False).delete == []


def test_rotation_imports_first_switches_the_profile_then_removes_the_old_one():
    desired = {"/certificate": certs.desired_entries(TLS),
               "/ip/hotspot/profile": [{"name": "captiva", "ssl-certificate": NAME}]}
    current = {"/certificate": [row(OTHER, OLD)],
               "/ip/hotspot/profile": [{".id": "*P", "name": "captiva",
                                        "ssl-certificate": OLD}]}
    ledger = [ros.LedgerChunk("captiva-ledger-1", "*L1",
                              ["/ip/hotspot/profile captiva", f"/certificate {OLD}"])]
    plan = ros.plan(desired, current, ledger)
    assert [(a.menu, a.op, a.label) for a in plan.writes] == [
        ("/system/script", "update", "name=captiva-ledger-1"),  # claims the new name
        ("/certificate", "create", f"name={NAME}"),
        ("/ip/hotspot/profile", "update", "name=captiva"),
        ("/certificate", "delete", f"name={OLD}"),
        ("/system/script", "update", "name=captiva-ledger-1")]  # releases the old one
    # what the summary and the diff show of the import: never the key
    summary = plan.writes[1].summary()
    assert summary["fields"]["fingerprint"] == fingerprint(TLS["certificate"])
    assert TLS["key"].splitlines()[1] not in str(summary) + str(ros.diff(plan))
    assert TLS["key"] in ros.secret_values(desired)


# ----------------------------------------------------------------------------------------------
# Install


class Router:
    """A client that records its calls; ``fail_import`` makes the import trap."""

    def __init__(self, fail_import=False, imported=None):
        self.calls = []
        self.fail_import = fail_import
        self.imported = imported or []

    def print(self, path, *queries):
        self.calls.append(("print", path, queries))
        return self.imported if path == "/certificate" else []

    def add(self, path, fields):
        self.calls.append(("add", path, fields["name"]))
        return "*F1"

    def set(self, path, entry_id, fields):
        self.calls.append(("set", path, entry_id))

    def remove(self, path, ids):
        self.calls.append(("remove", path, ids))

    def command(self, command, fields):
        self.calls.append(("command", command, fields))
        if self.fail_import:
            raise ros.RouterOSError("failure: no certificates or keys in the file")
        return []


def test_the_uploaded_key_file_is_removed_even_when_the_import_fails():
    router = Router(fail_import=True)
    with pytest.raises(ros.RouterOSError, match="no certificates or keys"):
        certs.install(router, certs.desired_entries(TLS)[0])
    assert [c[:2] for c in router.calls] == [
        ("print", "/file"), ("add", "/file"), ("command", "/certificate/import"),
        ("remove", "/file")]
    assert router.calls[2][2] == {"file-name": f"{NAME}.pem", "name": NAME, "passphrase": ""}
    assert router.calls[3][2] == ["*F1"]


def test_an_import_the_router_does_not_show_afterwards_fails():
    router = Router(imported=[row(OTHER, NAME)])
    with pytest.raises(certs.CertificateError, match="shows no certificate"):
        certs.install(router, certs.desired_entries(TLS)[0])
    router = Router(imported=[row(TLS, NAME, key=False)])
    with pytest.raises(certs.CertificateError, match="has no private key"):
        certs.install(router, certs.desired_entries(TLS)[0])


def test_a_certificate_removed_by_hand_is_imported_again_and_stays_in_the_ledger():
    desired = {"/certificate": certs.desired_entries(TLS)}
    ledger = [ros.LedgerChunk("captiva-ledger-1", "*L1", [f"/certificate {NAME}"])]
    plan = ros.plan(desired, {"/certificate": []}, ledger)
    assert [(a.menu, a.op) for a in plan.writes] == [("/certificate", "create")]


def test_a_plan_warns_a_month_before_the_certificate_ends():
    soon = hotspot_tls(DNS_NAME, days=20)
    plan = ros.plan({"/certificate": certs.desired_entries(soon)}, {"/certificate": []}, [])
    (warning,) = plan.warnings
    name = "captiva-hotspot-" + fingerprint(soon["certificate"])[:12]
    assert warning.startswith(f"/certificate {name} (CN={DNS_NAME}) ends on ")
    assert "in 19 day(s): renew it in the inventory" in warning
    assert ros.plan({"/certificate": certs.desired_entries(TLS)}, {"/certificate": []},
                    []).warnings == []
