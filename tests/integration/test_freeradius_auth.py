"""FreeRADIUS as configured by roles/freeradius answers real RADIUS packets.

The policy rows are written the way the reconcile module writes them (as captiva_reconcile,
managed_by = 'captiva'): one group per profile with ":=" check and reply attributes, one
membership per user, the password and Expiration in radcheck.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
import radius_fixtures
from passlib.hash import sha512_crypt
from pyrad import packet
from radius_fixtures import (
    PORTAL_ADDRESS,
    PORTAL_SECRET,
    ROUTER_SECRET,
    message_authenticator_valid,
    wait_for,
)

# The module-scoped server fixture (the role rendered into a copy of the config tree).
radius_server = radius_fixtures.radius_server

PROFILE = "students"
PROFILE_REPLY = {
    "Mikrotik-Rate-Limit": "2M/5M",
    "Session-Timeout": "3600",
    "Idle-Timeout": "600",
    "Acct-Interim-Interval": "300",
}
STATUS_MESSAGES = {
    "captiva-disabled": "Your account is disabled.",
    "captiva-wifi-off": "Wi-Fi access is switched off for your account.",
    "captiva-expired": "Your account has expired.",
}
# user: (group, password storage, password, Expiration)
USERS = {
    "alice": (PROFILE, "crypt", "alice-Pass-1", None),
    "bob": (PROFILE, "cleartext", "bob-Pass-2", None),
    "grace": (PROFILE, "crypt", "grace-Pass-3", None),
    "dan": ("captiva-disabled", "crypt", "dan-Pass-4", None),
    "wendy": ("captiva-wifi-off", "crypt", "wendy-Pass-5", None),
    "xena": ("captiva-expired", "crypt", "xena-Pass-6", None),
    "erin": (PROFILE, "crypt", "erin-Pass-7", "past"),
    "frank": (PROFILE, "crypt", "frank-Pass-8", "soon"),
}


def _expiration(when: str) -> str:
    now = dt.datetime.now(dt.UTC)
    moment = now - dt.timedelta(days=2) if when == "past" else now + dt.timedelta(minutes=10)
    # rlm_expiration's format, as the reconcile writes it.
    return moment.strftime("%d %b %Y %H:%M:%S UTC")


@pytest.fixture(scope="module")
def policy(radius_server):
    """The profile, the status groups and the users, as the reconcile writes them."""
    rows_check, rows_reply, members, groupcheck = [], [], [], []
    for attribute, value in PROFILE_REPLY.items():
        rows_reply.append((PROFILE, attribute, value))
    groupcheck.append((PROFILE, "Simultaneous-Use", "1"))
    for group, message in STATUS_MESSAGES.items():
        groupcheck.append((group, "Auth-Type", "Reject"))
        rows_reply.append((group, "Reply-Message", message))
    for user, (group, storage, password, expiration) in USERS.items():
        if storage == "crypt":
            rows_check.append((user, "Crypt-Password",
                               sha512_crypt.using(rounds=5000).hash(password)))
        else:
            rows_check.append((user, "Cleartext-Password", password))
        if expiration:
            rows_check.append((user, "Expiration", _expiration(expiration)))
        members.append((user, group))
    with radius_server.db.connect("reconcile") as conn:
        cur = conn.cursor()
        cur.executemany(
            "INSERT INTO radgroupreply (groupname, attribute, op, value, managed_by)"
            " VALUES (%s, %s, ':=', %s, 'captiva')", rows_reply)
        cur.executemany(
            "INSERT INTO radgroupcheck (groupname, attribute, op, value, managed_by)"
            " VALUES (%s, %s, ':=', %s, 'captiva')", groupcheck)
        cur.executemany(
            "INSERT INTO radcheck (username, attribute, op, value, managed_by)"
            " VALUES (%s, %s, ':=', %s, 'captiva')", rows_check)
        cur.executemany(
            "INSERT INTO radusergroup (username, groupname, priority, managed_by)"
            " VALUES (%s, %s, 0, 'captiva')", members)
    return radius_server


def password(user: str) -> str:
    return USERS[user][2]


def assert_signed(reply, secret: str = ROUTER_SECRET) -> None:
    """The reply carries a Message-Authenticator that verifies (BlastRADIUS)."""
    assert reply is not None, "no reply"
    assert message_authenticator_valid(reply.raw_packet, reply.request_authenticator,
                                       secret.encode())


def test_pap_against_crypt_password_accepts_with_profile_attributes(policy):
    reply = policy.authenticate("alice", password("alice"), Called_Station_Id="hs-campus",
                                Calling_Station_Id="AA:BB:CC:00:00:01")
    assert reply is not None and reply.code == packet.AccessAccept
    assert reply["Mikrotik-Rate-Limit"] == ["2M/5M"]
    assert reply["Session-Timeout"] == [3600]
    assert reply["Idle-Timeout"] == [600]
    assert reply["Acct-Interim-Interval"] == [300]
    assert_signed(reply)


def test_chap_against_cleartext_password_accepts(policy):
    reply = policy.authenticate("bob", password("bob"), chap=True)
    assert reply is not None and reply.code == packet.AccessAccept
    assert reply["Mikrotik-Rate-Limit"] == ["2M/5M"]
    assert_signed(reply)


def test_pap_against_cleartext_password_accepts(policy):
    reply = policy.authenticate("bob", password("bob"))
    assert reply is not None and reply.code == packet.AccessAccept


def test_chap_cannot_check_a_crypt_password(policy):
    # Hashed storage needs PAP (https login): documented in docs/freeradius.md.
    reply = policy.authenticate("alice", password("alice"), chap=True)
    assert reply is not None and reply.code == packet.AccessReject


@pytest.mark.parametrize("user,chap", [("alice", False), ("bob", True)])
def test_wrong_password_rejects(policy, user, chap):
    reply = policy.authenticate(user, "not-the-password", chap=chap)
    assert reply is not None and reply.code == packet.AccessReject
    assert_signed(reply)


def test_unknown_user_rejects(policy):
    reply = policy.authenticate("nobody", "whatever-password")
    assert reply is not None and reply.code == packet.AccessReject
    assert_signed(reply)


@pytest.mark.parametrize("user,group", [("dan", "captiva-disabled"),
                                        ("wendy", "captiva-wifi-off"),
                                        ("xena", "captiva-expired")])
def test_status_group_rejects_with_its_message(policy, user, group):
    # The right password still gets a Reject: the group's Auth-Type := Reject.
    reply = policy.authenticate(user, password(user))
    assert reply is not None and reply.code == packet.AccessReject
    assert reply["Reply-Message"] == [STATUS_MESSAGES[group]]
    assert_signed(reply)


def test_expiration_in_the_past_rejects(policy):
    reply = policy.authenticate("erin", password("erin"))
    assert reply is not None and reply.code == packet.AccessReject
    assert_signed(reply)


def test_expiration_caps_session_timeout(policy):
    reply = policy.authenticate("frank", password("frank"))
    assert reply is not None and reply.code == packet.AccessAccept
    (timeout,) = reply["Session-Timeout"]
    assert 0 < timeout <= 600


def test_request_without_message_authenticator_is_dropped(policy):
    reply = policy.authenticate("alice", password("alice"), message_authenticator=False,
                                timeout=1.5)
    assert reply is None
    # The same request with one is answered: the missing attribute is the only difference.
    reply = policy.authenticate("alice", password("alice"), timeout=1.5)
    assert reply is not None and reply.code == packet.AccessAccept


def test_request_with_a_wrong_secret_is_dropped(policy):
    reply = policy.authenticate("alice", password("alice"), secret="wrong-secret-0123456789",
                                timeout=1.5)
    assert reply is None


def test_second_login_rejected_over_simultaneous_use(policy):
    first = policy.authenticate("grace", password("grace"))
    assert first is not None and first.code == packet.AccessAccept
    policy.account("grace", "Start", "grace-1", Framed_IP_Address="10.5.50.7")

    wait_for(lambda: policy.open_sessions("grace"))
    second = policy.authenticate("grace", password("grace"))
    assert second is not None and second.code == packet.AccessReject
    assert second["Reply-Message"] == ["You are already logged in - access denied"]
    assert_signed(second)

    # The status portal checks the password without counting a session.
    portal = policy.authenticate("grace", password("grace"), source=PORTAL_ADDRESS,
                                 secret=PORTAL_SECRET)
    assert portal is not None and portal.code == packet.AccessAccept
    assert_signed(portal, PORTAL_SECRET)
    # ... but still checks it.
    wrong = policy.authenticate("grace", "not-the-password", source=PORTAL_ADDRESS,
                                secret=PORTAL_SECRET)
    assert wrong is not None and wrong.code == packet.AccessReject

    policy.account("grace", "Stop", "grace-1", Acct_Session_Time=60)
    wait_for(lambda: policy.open_sessions("grace") == 0)
    again = policy.authenticate("grace", password("grace"))
    assert again is not None and again.code == packet.AccessAccept


def test_post_auth_log_holds_no_password(policy):
    policy.authenticate("alice", password("alice"), Called_Station_Id="hs-campus",
                        Calling_Station_Id="AA:BB:CC:00:00:02")
    policy.authenticate("bob", password("bob"), chap=True)
    policy.authenticate("bob", "typo-in-the-password")
    policy.wait_logins_replayed()
    with policy.db.connect() as conn:
        rows = conn.execute(
            "SELECT username, pass, reply, calledstationid, callingstationid, authdate, class"
            " FROM radpostauth ORDER BY id").fetchall()
    assert rows
    assert all(row[1] is None for row in rows)
    secrets = [entry[2] for entry in USERS.values()] + ["typo-in-the-password"]
    assert not [row for row in rows for value in row if any(s in str(value) for s in secrets)]
    alice = [row for row in rows if row[0] == "alice" and row[4] == "AA:BB:CC:00:00:02"]
    assert alice and alice[-1][2:5] == ("Access-Accept", "hs-campus", "AA:BB:CC:00:00:02")
    assert alice[-1][5] is not None
    assert ("bob", "Access-Reject") in {(row[0], row[2]) for row in rows}


def test_accounting_start_interim_stop_land_in_radacct(policy):
    def session():
        with policy.db.connect() as conn:
            return conn.execute(
                "SELECT acctstarttime, acctupdatetime, acctstoptime, acctsessiontime,"
                " acctinputoctets, acctoutputoctets, host(framedipaddress), callingstationid,"
                " acctterminatecause, host(nasipaddress) FROM radacct"
                " WHERE acctsessionid = 'alice-acct-1'").fetchone()

    policy.account("alice", "Start", "alice-acct-1", Framed_IP_Address="10.5.50.10",
                   Calling_Station_Id="AA:BB:CC:00:00:03")
    start = wait_for(session)
    assert start[2] is None and start[6] == "10.5.50.10" and start[7] == "AA:BB:CC:00:00:03"
    assert start[9] == "127.0.0.1"

    policy.account("alice", "Interim-Update", "alice-acct-1", Acct_Session_Time=300,
                   Acct_Input_Octets=100, Acct_Input_Gigawords=1, Acct_Output_Octets=2000,
                   Framed_IP_Address="10.5.50.10")
    interim = wait_for(lambda: (row := session()) and row[3] == 300 and row)
    # 64-bit totals: gigawords << 32 + octets.
    assert interim[4] == 4294967396 and interim[5] == 2000 and interim[2] is None

    policy.account("alice", "Stop", "alice-acct-1", Acct_Session_Time=600,
                   Acct_Input_Octets=500, Acct_Input_Gigawords=1, Acct_Output_Octets=9000,
                   Acct_Terminate_Cause="User-Request", Framed_IP_Address="10.5.50.10")
    stop = wait_for(lambda: (row := session()) and row[2] is not None and row)
    assert stop[3] == 600 and stop[4] == 4294967796 and stop[5] == 9000
    assert stop[8] == "User-Request"
    with policy.db.connect() as conn:
        count = conn.execute("SELECT count(*) FROM radacct"
                             " WHERE acctsessionid = 'alice-acct-1'").fetchone()[0]
    assert count == 1


def test_a_refused_post_auth_log_write_keeps_the_accept_and_waits_in_the_buffer(policy):
    # radpostauth is written through the login buffer: a database refusing that row (here:
    # INSERT revoked from the replay's owner) neither rejects the user nor loses the
    # Message-Authenticator, and the rows arrive, once each, when it takes them again.
    policy.wait_logins_replayed()
    station = "AA:BB:CC:00:00:77"
    with policy.db.connect() as conn:
        conn.execute("REVOKE INSERT (loginid) ON radpostauth FROM captiva_definer")
        try:
            accept = policy.authenticate("alice", password("alice"), Calling_Station_Id=station)
            reject = policy.authenticate("alice", "not-the-password",
                                         Calling_Station_Id=station)
            time.sleep(2)  # the readers have tried, and been refused
            assert policy.login_buffer_files()
            assert conn.execute("SELECT count(*) FROM radpostauth WHERE callingstationid = %s",
                                (station,)).fetchone() == (0,)
        finally:
            conn.execute("GRANT INSERT (loginid) ON radpostauth TO captiva_definer")
    assert accept is not None and accept.code == packet.AccessAccept
    assert accept["Mikrotik-Rate-Limit"] == ["2M/5M"]
    assert_signed(accept)
    assert reject is not None and reject.code == packet.AccessReject
    assert_signed(reject)
    policy.wait_logins_replayed()
    with policy.db.connect() as conn:
        logged = conn.execute("SELECT reply FROM radpostauth WHERE callingstationid = %s"
                              " ORDER BY authdate", (station,)).fetchall()
    assert logged == [("Access-Accept",), ("Access-Reject",)]
