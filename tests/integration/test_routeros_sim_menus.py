"""tools/routeros-sim's menus as RouterOS documents them (help.mikrotik.com "Certificates",
"HotSpot - Captive portal", "API"), through librouteros and raw sentences."""

from __future__ import annotations

import hashlib
import socket
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from librouteros.exceptions import TrapError
from routeros_fixtures import PASSWORD, USER, api, make_certificate, routeros_sim  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from routeros_sim import protocol  # noqa: E402


def upload(connection, name: str, contents: str) -> None:
    tuple(connection("/file/add", name=name, contents=contents))


def certificates(connection) -> dict[str, dict]:
    return {row["name"]: row for row in connection("/certificate/print")}


def fingerprint(pem: str) -> str:
    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(Encoding.DER)
    return hashlib.sha256(der).hexdigest()


# -- /certificate -----------------------------------------------------------------------------

def test_import_a_certificate_then_its_key(api):  # noqa: F811
    cert, key = make_certificate("hotspot.campus.test")
    upload(api, "hotspot.crt", cert)
    upload(api, "hotspot.key", key)
    (counts,) = api("/certificate/import", **{"file-name": "hotspot.crt", "name": "hotspot"})
    assert counts == {"certificates-imported": 1, "private-keys-imported": 0,
                      "files-imported": 1, "decryption-failures": 0,
                      "keys-with-no-certificate": 0}
    row = certificates(api)["hotspot"]
    assert row["private-key"] is False and row["trusted"] is True
    assert row["common-name"] == "hotspot.campus.test"
    assert row["subject-alt-name"] == "DNS:hotspot.campus.test,IP:127.0.0.1"
    assert row["fingerprint"] == fingerprint(cert)
    assert row["invalid-after"][:4].isdigit() and row["expired"] is False
    assert row["key-type"] == "ec" and "pem" not in row and "key-pem" not in row
    # The key finds its certificate by the public key: K flag, printed private-key=true.
    (counts,) = api("/certificate/import", **{"file-name": "hotspot.key"})
    assert (counts["certificates-imported"], counts["private-keys-imported"]) == (0, 1)
    assert certificates(api)["hotspot"]["private-key"] is True
    assert list(certificates(api)) == ["hotspot"]


def test_one_file_with_both_and_an_encrypted_key(api):  # noqa: F811
    cert, key = make_certificate("portal.campus.test", passphrase="Vault-Pass-9")
    upload(api, "both.pem", cert + key)
    (counts,) = api("/certificate/import", **{"file-name": "both.pem"})
    # Without the passphrase the key cannot be read: a decryption failure, no K flag.
    assert (counts["certificates-imported"], counts["decryption-failures"]) == (1, 1)
    assert certificates(api)["both.pem_0"]["private-key"] is False  # default name file_N
    (counts,) = api("/certificate/import", **{"file-name": "both.pem",
                                              "passphrase": "wrong"})
    assert (counts["certificates-imported"], counts["private-keys-imported"],
            counts["decryption-failures"]) == (0, 0, 1)
    (counts,) = api("/certificate/import", **{"file-name": "both.pem",
                                              "passphrase": "Vault-Pass-9"})
    assert (counts["certificates-imported"], counts["private-keys-imported"]) == (0, 1)
    assert certificates(api)["both.pem_0"]["private-key"] is True


def test_a_key_without_its_certificate_is_not_kept(api):  # noqa: F811
    cert, _ = make_certificate("a.campus.test")
    _, other_key = make_certificate("b.campus.test")
    upload(api, "a.crt", cert)
    upload(api, "b.key", other_key)
    tuple(api("/certificate/import", **{"file-name": "a.crt", "name": "a"}))
    (counts,) = api("/certificate/import", **{"file-name": "b.key"})
    assert (counts["private-keys-imported"], counts["keys-with-no-certificate"]) == (0, 1)
    assert certificates(api)["a"]["private-key"] is False


def test_names_rotation_set_and_remove(api, routeros_sim):  # noqa: F811
    first, _ = make_certificate("hotspot.campus.test")
    second, _ = make_certificate("hotspot.campus.test")
    upload(api, "old.crt", first)
    upload(api, "new.crt", second)
    tuple(api("/certificate/import", **{"file-name": "old.crt", "name": "hotspot"}))
    routeros_sim.reset_stats()
    tuple(api("/certificate/import", **{"file-name": "new.crt", "name": "hotspot"}))
    assert routeros_sim.stats()["writes"] == 1  # an import is a write
    assert list(certificates(api)) == ["hotspot", "hotspot_1"]
    with pytest.raises(TrapError, match="fingerprint is read-only"):
        tuple(api("/certificate/set", **{"numbers": "hotspot", "fingerprint": "00"}))
    tuple(api("/certificate/set", **{"numbers": "hotspot", "trusted": "no"}))
    assert certificates(api)["hotspot"]["trusted"] is False
    tuple(api("/certificate/remove", numbers="hotspot"))
    assert list(certificates(api)) == ["hotspot_1"]
    with pytest.raises(TrapError, match="no such command"):
        tuple(api("/certificate/add", name="x"))
    with pytest.raises(TrapError, match="no such file"):
        tuple(api("/certificate/import", **{"file-name": "missing.pem"}))


def test_the_hotspot_profile_names_an_existing_certificate(api):  # noqa: F811
    profiles = api.path("ip", "hotspot", "profile")
    with pytest.raises(TrapError, match="input does not match any value of ssl-certificate"):
        profiles.add(name="captiva", **{"ssl-certificate": "hotspot"})
    cert, key = make_certificate()
    upload(api, "hs.pem", cert + key)
    tuple(api("/certificate/import", **{"file-name": "hs.pem", "name": "hotspot"}))
    profiles.add(name="captiva", **{"ssl-certificate": "hotspot", "login-by": "https"})
    (row,) = [r for r in profiles if r["name"] == "captiva"]
    assert row["ssl-certificate"] == "hotspot"


# -- built-in entries and documented defaults -------------------------------------------------

def test_every_router_has_default_profiles_that_cannot_be_removed(api):  # noqa: F811
    for path in (("ip", "hotspot", "profile"), ("ip", "hotspot", "user", "profile")):
        menu = api.path(*path)
        (row,) = list(menu)
        assert (row["name"], row["default"]) == ("default", True)
        with pytest.raises(TrapError, match="cannot remove default profile"):
            menu.remove(row[".id"])
        menu.update(**{".id": row[".id"], "rate-limit": "1M/2M"})  # it can be changed
        added = menu.add(name="captiva")
        (mine,) = [r for r in menu if r[".id"] == added]
        assert mine["default"] is False
    (profile,) = [r for r in api.path("ip", "hotspot", "profile") if r["name"] == "captiva"]
    # help.mikrotik.com "HotSpot - Captive portal": html-directory hotspot, no certificate.
    assert (profile["html-directory"], profile["ssl-certificate"]) == ("hotspot", "none")
    assert profile["login-by"] == "cookie,http-chap"


# -- API details ------------------------------------------------------------------------------

class Raw:
    def __init__(self, sim):
        self.sock = socket.create_connection((sim.host, sim.port), timeout=5)

    def read_exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def run(self, *words: str) -> list[list[str]]:
        self.sock.sendall(protocol.encode_sentence(words))
        out = []
        while not out or out[-1][0] not in ("!done", "!fatal"):
            out.append(protocol.read_sentence(self.read_exactly))
        return out


@pytest.fixture
def raw(routeros_sim):  # noqa: F811
    client = Raw(routeros_sim)
    assert client.run("/login", f"=name={USER}", f"=password={PASSWORD}") == [["!done"]]
    yield client
    client.sock.close()


def names(reply: list[list[str]]) -> list[str]:
    return [w[6:] for s in reply if s[0] == "!re" for w in s if w.startswith("=name=")]


def test_query_stack_indexes_count_from_the_top_and_start_true(raw):
    for name, profile in (("alice", "a"), ("bob", "b"), ("carol", "c")):
        raw.run("/ip/hotspot/user/add", f"=name={name}", f"=profile={profile}")
    base = ["/ip/hotspot/user/print", "=.proplist=name"]
    assert names(raw.run(*base, "?profile=a", "?profile=b", "?#|")) == ["alice", "bob"]
    # Stack [a?, b?] (b? on top, index 0): "1|" pushes a copy of a? and ors it with b?,
    # leaving [a?, a? or b?]: alice only (counted from the bottom it would be nobody).
    assert names(raw.run(*base, "?profile=a", "?profile=b", "?#1|")) == ["alice"]
    # An index ending the word replaces the whole stack with that value.
    assert names(raw.run(*base, "?profile=a", "?profile=b", "?#1")) == ["alice"]
    assert names(raw.run(*base, "?profile=a", "?profile=b", "?#0")) == ["bob"]
    # The stack starts as an infinite amount of true: "!" on an empty stack makes false,
    # "|" with nothing below takes true.
    assert names(raw.run(*base, "?#!")) == []
    assert names(raw.run(*base, "?profile=c", "?#|")) == ["alice", "bob", "carol"]
    assert names(raw.run(*base, "?profile=c", "?#.&")) == ["carol"]


def test_traps_carry_their_category(raw):
    assert raw.run("/ip/hotspot/user/add", "=bogus=1")[0] == [
        "!trap", "=category=1", "=message=unknown parameter bogus"]
    assert raw.run("/ip/hotspot/user/remove", "=.id=*99")[0] == [
        "!trap", "=category=0", "=message=no such item"]
    assert raw.run("/nothing/here/print")[0] == [
        "!trap", "=category=0", "=message=no such command prefix"]
    raw.run("/ip/hotspot/user/add", "=name=alice")
    assert raw.run("/ip/hotspot/user/add", "=name=alice")[0] == [
        "!trap", "=category=4", "=message=failure: already have user with such name"]
