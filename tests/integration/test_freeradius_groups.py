"""A login's reads, folded into two statements, answer what rlm_sql's own group pass would.

roles/postgres/files/functions/41_authorize.sql folds the user's first group into the radcheck
and radreply reads when that is provably the same (assignments only, no Fall-Through, no
overlap the sequential merge would resolve differently), and leaves every other user to
rlm_sql 3.2.1's five statements. Each case below is a real FreeRADIUS answering a real
Access-Request: the folded cases and the ones left to rlm_sql must both give what rlm_sql's
rules give (rlm_sql.c mod_authorize, rlm_sql_process_groups; evaluate.c radius_pairmove).
"""

from __future__ import annotations

import pytest
import radius_fixtures
from pyrad import packet
from radius_fixtures import ROUTER_ADDRESS

radius_server = radius_fixtures.radius_server

PASSWORD = "Groups-Pass-1"

# user: (radcheck rows beyond the password, radreply rows, [(group, priority)])
USERS = {
    # A roster user: one group, ":=" rows. Folded.
    "roster": ([], [], [("g-profile", 0)]),
    # The user's reply holds Session-Timeout ":=": the group's "=" is skipped. Folded.
    "own-timeout": ([], [("Session-Timeout", ":=", "100")], [("g-profile", 0)]),
    # The group's ":=" overwrites the user's "=": left to rlm_sql.
    "group-wins": ([], [("Session-Timeout", "=", "100")], [("g-override", 0)]),
    # Two groups, no Fall-Through: only the first one's rows. Folded.
    "two-groups": ([], [], [("g-second", 1), ("g-profile", 0)]),
    # The first group's check does not match the request: the next group's rows. Left to
    # rlm_sql.
    "skip-first": ([], [], [("g-other-nas", 0), ("g-second", 1)]),
    # The first group replies Fall-Through = Yes: both groups' rows. Left to rlm_sql.
    "fall-through": ([], [], [("g-fall", 0), ("g-second", 1)]),
    # A radcheck comparison that matches the request: left to rlm_sql, and accepted.
    "nas-bound": ([("NAS-IP-Address", "==", ROUTER_ADDRESS)], [], [("g-profile", 0)]),
    # The same on another NAS: the user's rows do not match, so no password: rejected.
    "elsewhere": ([("NAS-IP-Address", "==", "192.0.2.99")], [], [("g-profile", 0)]),
    # In no group: folded, the user's own rows.
    "groupless": ([], [("Mikrotik-Rate-Limit", ":=", "7M/7M")], []),
}

GROUP_CHECK = [
    ("g-profile", "Simultaneous-Use", ":=", "1"),
    ("g-other-nas", "NAS-IP-Address", "==", "192.0.2.99"),
    ("g-second", "Simultaneous-Use", ":=", "2"),
]
GROUP_REPLY = [
    ("g-profile", "Mikrotik-Rate-Limit", ":=", "2M/5M"),
    ("g-profile", "Session-Timeout", "=", "3600"),
    ("g-override", "Session-Timeout", ":=", "3600"),
    ("g-other-nas", "Mikrotik-Rate-Limit", ":=", "1M/1M"),
    ("g-second", "Mikrotik-Rate-Limit", ":=", "9M/9M"),
    ("g-second", "Idle-Timeout", ":=", "900"),
    ("g-fall", "Acct-Interim-Interval", ":=", "120"),
    ("g-fall", "Fall-Through", "=", "Yes"),
]

# What FreeRADIUS answers: (code, {attribute: values}) of the reply attributes the cases set.
EXPECTED = {
    "roster": (packet.AccessAccept, {"Mikrotik-Rate-Limit": ["2M/5M"],
                                     "Session-Timeout": [3600]}),
    "own-timeout": (packet.AccessAccept, {"Mikrotik-Rate-Limit": ["2M/5M"],
                                          "Session-Timeout": [100]}),
    "group-wins": (packet.AccessAccept, {"Session-Timeout": [3600]}),
    "two-groups": (packet.AccessAccept, {"Mikrotik-Rate-Limit": ["2M/5M"],
                                         "Session-Timeout": [3600]}),
    "skip-first": (packet.AccessAccept, {"Mikrotik-Rate-Limit": ["9M/9M"],
                                         "Idle-Timeout": [900]}),
    "fall-through": (packet.AccessAccept, {"Acct-Interim-Interval": [120],
                                           "Mikrotik-Rate-Limit": ["9M/9M"],
                                           "Idle-Timeout": [900]}),
    "nas-bound": (packet.AccessAccept, {"Mikrotik-Rate-Limit": ["2M/5M"],
                                        "Session-Timeout": [3600]}),
    "elsewhere": (packet.AccessReject, {}),
    "groupless": (packet.AccessAccept, {"Mikrotik-Rate-Limit": ["7M/7M"]}),
}

# Which users the two-statement read folds (the rest: rlm_sql's group pass).
FOLDED = {"roster": "g-profile", "own-timeout": "g-profile", "two-groups": "g-profile",
          "groupless": ""}


@pytest.fixture(scope="module")
def groups(radius_server):
    with radius_server.db.connect() as conn:
        cur = conn.cursor()
        for user, (check, reply, member_of) in USERS.items():
            cur.execute("INSERT INTO radcheck (username, attribute, op, value)"
                        " VALUES (%s, 'Cleartext-Password', ':=', %s)", (user, PASSWORD))
            for attribute, op, value in check:
                cur.execute("INSERT INTO radcheck (username, attribute, op, value)"
                            " VALUES (%s, %s, %s, %s)", (user, attribute, op, value))
            for attribute, op, value in reply:
                cur.execute("INSERT INTO radreply (username, attribute, op, value)"
                            " VALUES (%s, %s, %s, %s)", (user, attribute, op, value))
            for group, priority in member_of:
                cur.execute("INSERT INTO radusergroup (username, groupname, priority)"
                            " VALUES (%s, %s, %s)", (user, group, priority))
        cur.executemany("INSERT INTO radgroupcheck (groupname, attribute, op, value)"
                        " VALUES (%s, %s, %s, %s)", GROUP_CHECK)
        cur.executemany("INSERT INTO radgroupreply (groupname, attribute, op, value)"
                        " VALUES (%s, %s, %s, %s)", GROUP_REPLY)
    return radius_server


@pytest.mark.parametrize("user", sorted(USERS))
def test_freeradius_answers_what_rlm_sqls_group_pass_gives(groups, user):
    reply = groups.authenticate(user, PASSWORD, NAS_IP_Address=ROUTER_ADDRESS)
    assert reply is not None, groups.log_tail()
    code, attributes = EXPECTED[user]
    assert reply.code == code, (user, groups.log_tail())
    for attribute, values in attributes.items():
        # Not reply.get(): pyrad decodes the values in __getitem__ only.
        got = reply[attribute] if attribute in reply else []  # noqa: SIM401
        assert sorted(got) == sorted(values), (user, attribute)


@pytest.mark.parametrize("user", sorted(USERS))
def test_the_fold_is_taken_exactly_where_it_is_proved(groups, user):
    with groups.db.connect("freeradius") as conn:
        (group,) = conn.execute("SELECT captiva_authorize_fold(%s)", (user,)).fetchone()
        reply = conn.execute("SELECT attribute, value FROM captiva_authorize_reply(%s)",
                             (user,)).fetchall()
    assert group == FOLDED.get(user)
    # Fall-Through := No ends a folded reply (rlm_sql then skips its group pass), and only one.
    assert (reply[-1:] == [("Fall-Through", "No")]) == (user in FOLDED)


def test_a_folded_login_carries_the_login_check_and_the_profiles_limit(groups):
    with groups.db.connect("freeradius") as conn:
        rows = conn.execute(
            "SELECT attribute, op, value FROM captiva_authorize_check(%s, %s, '')",
            ("roster", ROUTER_ADDRESS)).fetchall()
        unfolded = conn.execute(
            "SELECT attribute FROM captiva_authorize_check(%s, %s, '')",
            ("skip-first", ROUTER_ADDRESS)).fetchall()
    assert rows[0] == ("Cleartext-Password", ":=", PASSWORD)
    assert ("Simultaneous-Use", ":=", "1") in rows
    # The login check's answer, as policy.d/captiva_quota reads it (not a Captiva user: no
    # quota, accepted).
    assert rows[-1][:2] == ("Tmp-String-0", ":=") and rows[-1][2].startswith("accept|")
    # Left to rlm_sql: its own rows only; post-auth asks the login check itself.
    assert unfolded == [("Cleartext-Password",)]


def test_simultaneous_use_of_a_folded_group_is_enforced(groups):
    first = groups.authenticate("two-groups", PASSWORD, NAS_IP_Address=ROUTER_ADDRESS)
    assert first is not None and first.code == packet.AccessAccept
    groups.account("two-groups", "Start", "two-groups-1", Framed_IP_Address="10.5.60.7")
    radius_fixtures.wait_for(lambda: groups.open_sessions("two-groups"))
    # g-profile (priority 0) allows one session; g-second's 2 does not count.
    second = groups.authenticate("two-groups", PASSWORD, NAS_IP_Address=ROUTER_ADDRESS)
    assert second is not None and second.code == packet.AccessReject
    assert second["Reply-Message"] == ["You are already logged in - access denied"]
    groups.account("two-groups", "Stop", "two-groups-1", Acct_Session_Time=5)
