"""tools/routeros-sim's hotspot as a RADIUS client (help.mikrotik.com "RADIUS", "HotSpot -
Captive portal"): real UDP to a small RADIUS server coded in the test (routeros_fixtures
.FakeRadius), logins over the hotspot's HTTP, the rest through librouteros."""

from __future__ import annotations

import json
import socket
import time
import urllib.parse
import urllib.request

import pytest
from pyrad import dictionary
from pyrad import packet as rpacket
from routeros_fixtures import FakeRadius, radius_router, start_sim, stop_sim, vsa

SECRET = "sim-radius-secret-42"
MAC = "02:00:00:00:00:0A"
IP = "10.5.0.10"
CLASS = b"captiva:session:77"
# RFC 2866 5.10
USER_REQUEST, LOST_CARRIER, IDLE_TIMEOUT, SESSION_TIMEOUT, ADMIN_RESET, NAS_REQUEST = (
    1, 2, 4, 5, 6, 10)
START, STOP, INTERIM = 1, 2, 3


def login(sim, user="alice", password="alice-pw", mac=MAC, ip=IP) -> dict:  # noqa: S107
    query = urllib.parse.urlencode({"username": user, "password": password})
    request = urllib.request.Request(f"http://127.0.0.1:{sim.hotspot_port}/login?{query}",
                                     headers={"X-Sim-Mac": mac, "X-Sim-Ip": ip})
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
        return json.load(answer)


def radius_counts(sim) -> dict[str, int]:
    (row,) = sim.command("/captiva-sim/radius/print")
    return row


def stops(radius) -> list:
    return [p for p in radius.accounting if p.int(40) == STOP]


def wait_stop(radius, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while not stops(radius) and time.monotonic() < deadline:
        time.sleep(0.05)
    (stop,) = stops(radius)
    return stop


@pytest.fixture
def router(tmp_path):
    sim = start_sim(tmp_path, hotspot=True)
    yield sim
    stop_sim(sim)


def serve(router, replies=None, sign="good", **radius_fields):
    radius = FakeRadius(SECRET, {"alice": "alice-pw"}, replies or {}, sign=sign)
    radius_router(router, radius, SECRET, **radius_fields)
    return radius


# -- Message-Authenticator on replies ---------------------------------------------------------

@pytest.mark.parametrize("sign", ["none", "bad"])
def test_unsigned_or_wrongly_signed_replies_are_dropped(router, sign):
    radius = serve(router, sign=sign)
    try:
        answer = login(router)
        assert answer == {"result": "no-radius", "error": "RADIUS server is not responding"}
        assert router.rows("/ip/hotspot/active") == []
        counts = radius_counts(router)
        name = {"none": "dropped-no-message-authenticator",
                "bad": "dropped-bad-message-authenticator"}[sign]
        assert counts[name] == 2 and counts["accepts"] == 0  # sent twice, dropped twice
        # A wrong password is not "refused" either: the Reject is dropped the same way.
        assert login(router, password="nope")["result"] == "no-radius"
    finally:
        radius.close()


def test_require_message_auth_no_accepts_unsigned_but_never_a_wrong_one(router):
    radius = serve(router, sign="none", **{"require-message-auth": "no"})
    try:
        assert login(router)["result"] == "accepted"
        radius.sign = "bad"
        assert login(router, mac="02:00:00:00:00:0B")["result"] == "no-radius"
    finally:
        radius.close()


# -- accounting -------------------------------------------------------------------------------

def test_accounting_print_counts_the_requests_still_unanswered(router):
    """/captiva-sim/accounting/print: what a test waits for before it reads the accounting
    (Sim.wait_accounted); the requests go out from a queue after the login's answer."""
    radius = serve(router)
    try:
        assert login(router)["result"] == "accepted"
        router.wait_accounted()
        assert [p.int(40) for p in radius.accounting] == [START]  # answered, so received
        radius.sockets[1].close()  # the accounting server stops answering
        assert router.command("/captiva-sim/accounting/interim") == [{"ret": 1}]
        assert router.command("/captiva-sim/accounting/print") == [{"pending": 1}]
        router.wait_accounted(timeout=5)  # given up after two tries of 1 s
        assert radius_counts(router)["accounting-responses"] == 1
    finally:
        radius.close()


def test_accounting_start_interim_stop_with_counters_and_class(router):
    radius = serve(router, {"alice": [(25, CLASS)]})
    try:
        assert login(router)["result"] == "accepted"
        (start,) = radius.wait_accounting(1)
        assert (start.int(40), start.text(1), start.text(31), start[25]) == (
            START, "alice", MAC, [CLASS])
        assert 42 not in start and 46 not in start  # no counters in a Start
        session_id = start.text(44)
        # 5 GiB + 7 bytes from the client, 300 bytes to it: octets wrap into gigawords.
        assert router.command("/captiva-sim/active/traffic", user="alice",
                              **{"bytes-in": str(5 * 2**32 + 7), "bytes-out": "300",
                                 "packets-in": "40"}) == [{"ret": 1}]
        (row,) = router.rows("/ip/hotspot/active")
        assert (row["bytes-in"], row["bytes-out"], row["packets-in"], row["packets-out"]) == (
            5 * 2**32 + 7, 300, 40, 1)
        assert router.command("/captiva-sim/accounting/interim") == [{"ret": 1}]
        interim = radius.wait_accounting(2)[1]
        assert interim.int(40) == INTERIM and interim.text(44) == session_id
        assert (interim.int(42), interim.int(52), interim.int(47)) == (7, 5, 40)
        assert (interim.int(43), interim.int(53), interim.int(48)) == (300, 0, 1)
        assert interim[25] == [CLASS] and interim.int(46) is not None
        assert 49 not in interim
        # Logout from the status page: Stop with User-Request and the final counters.
        request = urllib.request.Request(f"http://127.0.0.1:{router.hotspot_port}/logout",
                                         headers={"X-Sim-Mac": MAC})
        with urllib.request.urlopen(request, data=b"", timeout=10) as answer:  # noqa: S310
            assert json.load(answer)["result"] == "logged-out"
        stop = wait_stop(radius)
        assert (stop.int(49), stop.int(42), stop.int(52), stop[25]) == (
            USER_REQUEST, 7, 5, [CLASS])
        assert router.rows("/ip/hotspot/active") == []
    finally:
        radius.close()


def test_interims_at_the_interval_the_accept_gives_or_the_profile_sets(router):
    radius = serve(router, {"alice": [(85, (1).to_bytes(4, "big"))]})
    try:
        assert login(router)["result"] == "accepted"  # radius-interim-update=received
        time.sleep(2.6)
        interims = [p for p in radius.accounting if p.int(40) == INTERIM]
        assert 2 <= len(interims) <= 3, len(interims)
        # A time in the profile wins over Acct-Interim-Interval.
        router.command("/ip/hotspot/profile/set", **{".id": "*0",
                                                     "radius-interim-update": "1h"})
        assert login(router, mac="02:00:00:00:00:0C")["result"] == "accepted"
        before = len(radius.accounting)
        time.sleep(1.5)
        late = [p for p in radius.accounting[before:] if p.int(40) == INTERIM
                and p.text(31) == "02:00:00:00:00:0C"]
        assert late == []
    finally:
        radius.close()


@pytest.mark.parametrize(("reply", "action", "cause"), [
    ([(28, (1).to_bytes(4, "big"))], None, IDLE_TIMEOUT),
    ([(27, (1).to_bytes(4, "big"))], None, SESSION_TIMEOUT),
    ([], ("/ip/hotspot/active/remove",), ADMIN_RESET),
    ([], ("/captiva-sim/active/expire", "lost-carrier"), LOST_CARRIER),
    ([vsa(17, 1000)], ("/captiva-sim/active/traffic",), NAS_REQUEST),
])
def test_each_end_has_its_terminate_cause(router, reply, action, cause):
    radius = serve(router, {"alice": reply})
    try:
        assert login(router)["result"] == "accepted"
        if action and action[0] == "/ip/hotspot/active/remove":
            (row,) = router.rows("/ip/hotspot/active")
            router.command(action[0], **{".id": row[".id"]})
        elif action and action[0] == "/captiva-sim/active/expire":
            assert router.command(action[0], user="alice", cause=action[1]) == [{"ret": 1}]
        elif action:
            router.command(action[0], user="alice", **{"bytes-in": "600", "bytes-out": "400"})
        assert wait_stop(radius).int(49) == cause
        assert router.rows("/ip/hotspot/active") == []
    finally:
        radius.close()


# -- limits from the Access-Accept ------------------------------------------------------------

def test_total_limit_with_gigawords_cuts_the_session_when_reached(router):
    limit = 2 * 2**32 + 1000
    radius = serve(router, {"alice": [vsa(17, 1000), vsa(18, 2), vsa(8, b"2M/10M"),
                                      vsa(1, 5000), (27, (3600).to_bytes(4, "big"))]})
    try:
        assert login(router)["result"] == "accepted"
        (row,) = router.rows("/ip/hotspot/active")
        assert (row["limit-bytes-total"], row["limit-bytes-in"]) == (limit, 5000)
        assert row["session-time-left"] == "1h"
        (full,) = router.command("/captiva-sim/active/print")
        assert full["rate-limit"] == "2M/10M"  # rx/tx from the router's view
        router.command("/captiva-sim/active/traffic", user="alice",
                       **{"bytes-in": "10", "bytes-out": str(limit - 11)})
        assert len(router.rows("/ip/hotspot/active")) == 1  # one byte left
        router.command("/captiva-sim/active/traffic", user="alice", **{"bytes-out": "1"})
        stop = wait_stop(radius)
        assert stop.int(49) == NAS_REQUEST
        assert (stop.int(43), stop.int(53)) == ((limit - 10) % 2**32, 2)
    finally:
        radius.close()


def test_the_reply_overrides_the_user_profile_and_picks_it(router):
    router.command("/ip/hotspot/user/profile/add", name="etudiant", **{
        "session-timeout": "2h", "idle-timeout": "10m", "rate-limit": "1M/4M"})
    radius = serve(router, {"alice": [vsa(3, b"etudiant"), (28, (300).to_bytes(4, "big"))]})
    try:
        assert login(router)["result"] == "accepted"
        (row,) = router.command("/captiva-sim/active/print")
        assert (row["profile"], row["session-time-left"], row["idle-timeout"],
                row["rate-limit"]) == ("etudiant", "2h", "5m", "1M/4M")
    finally:
        radius.close()


# -- CoA ("RADIUS", "Change of Authorization") ------------------------------------------------

COA_DICT = dictionary.Dictionary(__import__("io").StringIO(
    "ATTRIBUTE\tUser-Name\t1\tstring\nATTRIBUTE\tSession-Timeout\t27\tinteger\n"
    "ATTRIBUTE\tIdle-Timeout\t28\tinteger\nATTRIBUTE\tAcct-Session-Id\t44\tstring\n"
    "ATTRIBUTE\tEvent-Timestamp\t55\tinteger\nATTRIBUTE\tError-Cause\t101\tinteger\n"
    "VENDOR\tMikrotik\t14988\nBEGIN-VENDOR\tMikrotik\n"
    "ATTRIBUTE\tMikrotik-Group\t3\tstring\nATTRIBUTE\tMikrotik-Rate-Limit\t8\tstring\n"
    "END-VENDOR\tMikrotik\n"))


def coa(sim, **attributes):
    request = rpacket.CoAPacket(code=rpacket.CoARequest, secret=SECRET.encode(),
                                dict=COA_DICT, message_authenticator=True,
                                Event_Timestamp=int(time.time()), **attributes)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(2)
        sock.sendto(request.RequestPacket(), (sim.host, sim.coa_port))
        raw = sock.recv(4096)
    reply = request.CreateReply(packet=raw)
    assert request.VerifyReply(reply, raw)
    return reply


def test_coa_applies_timeouts_rate_limit_and_group(router):
    router.command("/ip/hotspot/user/profile/add", name="bibliotheque")
    radius = serve(router, {"alice": [(27, (600).to_bytes(4, "big"))]})
    try:
        assert login(router)["result"] == "accepted"
        reply = coa(router, User_Name="alice", Session_Timeout=1800, Idle_Timeout=120,
                    Mikrotik_Rate_Limit="512k/2M", Mikrotik_Group="bibliotheque")
        assert reply.code == rpacket.CoAACK
        (row,) = router.command("/captiva-sim/active/print")
        assert (row["session-time-left"], row["idle-timeout"], row["rate-limit"],
                row["profile"]) == ("30m", "2m", "512k/2M", "bibliotheque")
        reply = coa(router, User_Name="alice", Mikrotik_Group="no-such-profile")
        assert (reply.code, reply["Error-Cause"][0]) == (rpacket.CoANAK, 407)
        reply = coa(router, User_Name="bob", Session_Timeout=60)
        assert (reply.code, reply["Error-Cause"][0]) == (rpacket.CoANAK, 503)
        # A Session-Timeout the session has already used up ends it (uptime >= timeout).
        time.sleep(1.1)
        assert coa(router, User_Name="alice", Session_Timeout=1).code == rpacket.CoAACK
        assert wait_stop(radius).int(49) == SESSION_TIMEOUT
    finally:
        radius.close()
