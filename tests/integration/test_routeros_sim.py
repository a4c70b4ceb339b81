"""tools/routeros-sim as a client sees it: librouteros for the API, raw sockets for the wire."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import librouteros
import pytest
from librouteros.exceptions import FatalError, TrapError
from librouteros.query import Key
from routeros_fixtures import PASSWORD, USER, routeros_sim, start_sim, stop_sim  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from routeros_sim import protocol  # noqa: E402


@pytest.fixture
def api(routeros_sim):  # noqa: F811
    connection = routeros_sim.connect()
    yield connection
    connection.close()


class Raw:
    """A bare socket speaking sentences, to see exactly what the server sends."""

    def __init__(self, sim):
        self.sock = socket.create_connection((sim.host, sim.port), timeout=5)

    def send(self, *words: str, raw: bytes | None = None) -> None:
        self.sock.sendall(raw if raw is not None else protocol.encode_sentence(words))

    def read_exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def sentence(self) -> list[str]:
        return protocol.read_sentence(self.read_exactly)

    def until_done(self) -> list[list[str]]:
        out = []
        while True:
            out.append(self.sentence())
            if out[-1][0] in ("!done", "!fatal"):
                return out

    def login(self) -> None:
        self.send("/login", f"=name={USER}", f"=password={PASSWORD}")
        assert self.until_done() == [["!done"]]


@pytest.fixture
def raw(routeros_sim):  # noqa: F811
    client = Raw(routeros_sim)
    yield client
    client.sock.close()


def test_wrong_password_is_refused(routeros_sim):  # noqa: F811
    with pytest.raises(TrapError, match=r"invalid user name or password \(6\)"):
        librouteros.connect(host=routeros_sim.host, port=routeros_sim.port, username=USER,
                            password="wrong", timeout=5)


def test_commands_before_login_are_fatal(raw):
    raw.send("/ip/hotspot/user/print")
    assert raw.sentence() == ["!fatal", "not logged in"]
    with pytest.raises((ConnectionError, OSError)):
        raw.sentence()


def test_system_resource_reports_the_version(api):
    (resource,) = api("/system/resource/print")
    assert resource["version"] == "7.16.1 (stable)"
    with pytest.raises(TrapError, match="no such command"):
        tuple(api("/system/resource/set", version="8"))


def test_add_set_remove_with_routeros_ids_and_values(api):
    profiles = api.path("ip", "hotspot", "user", "profile")
    first = profiles.add(name="etudiant", **{"rate-limit": "2000k/10000000",
                                             "session-timeout": "01:00:00"})
    second = profiles.add(name="personnel")
    assert (first, second) == ("*1", "*2")
    (row,) = [r for r in profiles if r["name"] == "etudiant"]
    assert row["rate-limit"] == "2M/10M"
    assert row["session-timeout"] == "1h"
    assert row["add-mac-cookie"] is True  # default filled on add, printed as true
    assert row["shared-users"] == 1
    profiles.update(**{".id": first, "transparent-proxy": "yes", "shared-users": "unlimited"})
    (row,) = [r for r in profiles if r[".id"] == first]
    assert row["transparent-proxy"] is True and row["shared-users"] == "unlimited"
    profiles.remove(first, second)
    assert list(profiles) == []


def test_schema_rules_are_enforced(api):
    profiles = api.path("ip", "hotspot", "user", "profile")
    profiles.add(name="etudiant")
    with pytest.raises(TrapError, match="unknown parameter colour"):
        profiles.add(name="x", colour="blue")
    with pytest.raises(TrapError, match="already have profile with such name"):
        profiles.add(name="etudiant")
    with pytest.raises(TrapError, match="no such item"):
        profiles.remove("*99")
    with pytest.raises(TrapError, match="not specified"):
        api.path("ip", "hotspot").add(name="hs1")  # interface is required


def test_settings_menus_take_set_without_id(api):
    incoming = api.path("radius", "incoming")
    (before,) = incoming
    assert before == {"accept": False, "port": 3799}
    incoming.update(accept=True, port=1700)
    assert list(incoming) == [{"accept": True, "port": 1700}]
    with pytest.raises(TrapError, match="unknown parameter .id"):
        incoming.update(**{".id": "*1", "accept": False})
    with pytest.raises(TrapError, match="no such command"):
        incoming.add(accept=True)
    api.path("system", "identity").update(name="campus-gw")
    assert list(api.path("system", "identity")) == [{"name": "campus-gw"}]


def test_queries_proplist_and_count_only(api):
    users = api.path("ip", "hotspot", "user")
    for name, profile in (("alice", "a"), ("bob", "b"), ("carol", "a")):
        users.add(name=name, profile=profile)
    name, profile = Key("name"), Key("profile")
    rows = list(users.select(name).where(profile == "a"))
    assert rows == [{"name": "alice"}, {"name": "carol"}]
    rows = list(users.select(name).where(name.In("alice", "bob")))
    assert rows == [{"name": "alice"}, {"name": "bob"}]
    rows = list(users.select(name).where(profile != "a"))
    assert rows == [{"name": "bob"}]
    assert list(users("print", **{"count-only": True})) == [{"ret": 3}]
    rows = list(api.rawCmd("/ip/hotspot/user/print", "?profile=a", "?name=carol", "?#&!",
                           "=.proplist=name"))
    assert rows == [{"name": "alice"}, {"name": "bob"}]


def test_empty_print_sends_empty_then_done(raw):
    raw.login()
    raw.send("/ip/hotspot/walled-garden/print")
    assert raw.until_done() == [["!empty"], ["!done"]]


def test_tags_are_echoed_only_when_sent(raw):
    raw.login()
    raw.send("/system/identity/print", ".tag=7")
    assert raw.until_done() == [["!re", "=name=MikroTik", ".tag=7"], ["!done", ".tag=7"]]
    raw.send("/system/identity/print")
    assert raw.until_done() == [["!re", "=name=MikroTik"], ["!done"]]
    raw.send("/radius/add", "=bogus=1", ".tag=8")
    assert raw.until_done() == [["!trap", "=message=unknown parameter bogus", ".tag=8"],
                                ["!done", ".tag=8"]]


def test_cancel_interrupts_a_follow(raw):
    raw.login()
    raw.send("/ip/hotspot/active/print", "=follow=", ".tag=f")
    raw.send("/cancel", "=tag=f", ".tag=c")
    assert raw.until_done() == [
        ["!trap", "=category=2", "=message=interrupted", ".tag=f"], ["!done", ".tag=f"]]
    assert raw.until_done() == [["!done", ".tag=c"]]


def test_every_length_form_over_the_wire(raw):
    raw.login()
    comment = "c" * 0x200010  # 4-byte length form
    words = [("/radius/add", 1), (f"=comment={'x' * 200}", 2), ("=secret=" + "s" * 0x5000, 3),
             (f"=comment={comment}", 4)]
    data = b""
    for word, size in words:
        encoded = protocol.encode_word(word)
        assert protocol.length_size(encoded[0]) == size
        data += encoded
    # The 5-byte form (0xF0 + 32-bit length) is legal for any length: send a short word so.
    short = b"=address=10.0.0.9"
    data += b"\xf0" + len(short).to_bytes(4, "big") + short + b"\x00"
    raw.send(raw=data)
    assert raw.until_done() == [["!done", "=ret=*1"]]
    raw.send("/radius/print", "=.proplist=address,comment")
    reply = raw.until_done()
    assert reply[0] == ["!re", "=address=10.0.0.9", f"=comment={comment}"]


def test_quit_ends_the_session(raw):
    raw.login()
    raw.send("/quit")
    assert raw.sentence() == ["!fatal", "session terminated on request"]


def test_hotspot_sessions_are_injected_and_disconnected(api, routeros_sim):  # noqa: F811
    with pytest.raises(TrapError, match="no such command"):
        tuple(api("/ip/hotspot/active/add", user="alice", address="10.5.0.2"))
    (ret,) = api("/captiva-sim/active/add", user="alice", address="10.5.0.2",
                 **{"mac-address": "02:00:00:00:00:01"})
    session = ret["ret"]
    (row,) = api.rawCmd("/ip/hotspot/active/print", "?=user=alice")
    assert row[".id"] == session and row["address"] == "10.5.0.2"
    routeros_sim.reset_stats()
    api.path("ip", "hotspot", "active").remove(session)
    assert list(api.path("ip", "hotspot", "active")) == []
    assert routeros_sim.stats()["writes"] == 1


def test_stats_count_sentences_and_writes(api, routeros_sim):  # noqa: F811
    routeros_sim.reset_stats()
    profiles = api.path("ip", "hotspot", "profile")
    profiles.add(name="captiva")
    list(profiles)
    with pytest.raises(TrapError):
        profiles.add(name="captiva")
    stats = routeros_sim.stats()
    # stats() logs in on its own connection: one more sentence, not a write.
    assert (stats["sentences"], stats["writes"], stats["prints"]) == (4, 2, 1)


def test_state_survives_a_restart(tmp_path):
    sim = start_sim(tmp_path)
    try:
        api = sim.connect()
        api.path("ip", "hotspot", "user", "profile").add(name="kept")
        api.close()
    finally:
        stop_sim(sim)
    sim = start_sim(tmp_path)
    try:
        names = [r["name"] for r in sim.rows("/ip/hotspot/user/profile")]
        assert names == ["kept"]
        api = sim.connect()
        assert api.path("ip", "hotspot", "user", "profile").add(name="next") == "*2"
        api.close()
    finally:
        stop_sim(sim)


def test_fatal_after_quit_is_a_librouteros_error(api):
    with pytest.raises(FatalError, match="session terminated"):
        tuple(api("/quit"))
