"""A login's reads, folded into two statements, answer what rlm_sql's own group pass would.

roles/postgres/files/functions/41_authorize.sql folds the user's first group into the radcheck
and radreply reads when that is provably the same (assignments only, no Fall-Through, no
overlap the sequential merge would resolve differently), and leaves every other user to
rlm_sql 3.2.1's five statements. Each case below is a real FreeRADIUS answering a real
Access-Request: the folded cases and the ones left to rlm_sql must both give what rlm_sql's
rules give (rlm_sql.c mod_authorize, rlm_sql_process_groups; evaluate.c radius_pairmove).
The fold is decided once, by the radcheck read, whose marker (control:Tmp-String-9) the
radreply read follows.
"""

from __future__ import annotations

import contextlib

import psycopg
import pytest
import radius_fixtures
from psycopg import sql
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
    # A group whose name rlm_sql would escape in a query (=XX): folded all the same.
    "accented": ([], [], [("Profil Été+1", 0)]),
    # As two-groups; test_the_reply_follows_the_checks_marker overrules its fold.
    "overruled": ([], [], [("g-second", 1), ("g-profile", 0)]),
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
    ("Profil Été+1", "Mikrotik-Rate-Limit", ":=", "3M/3M"),
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
    "accented": (packet.AccessAccept, {"Mikrotik-Rate-Limit": ["3M/3M"]}),
    "overruled": (packet.AccessAccept, {"Mikrotik-Rate-Limit": ["2M/5M"],
                                        "Session-Timeout": [3600]}),
}

# Which users the two-statement read folds (the rest: rlm_sql's group pass).
FOLDED = {"roster": "g-profile", "own-timeout": "g-profile", "two-groups": "g-profile",
          "groupless": "", "accented": "Profil Été+1", "overruled": "g-profile"}


def marker(group: str | None) -> str:
    """The radcheck read's first row's value: what it decided of the fold."""
    return "-" if group is None else "fold:" + group.encode().hex()


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
        check = conn.execute("SELECT attribute, op, value FROM captiva_authorize_check(%s)",
                             (user,)).fetchall()
        reply = conn.execute("SELECT attribute, value FROM captiva_authorize_reply(%s, %s)",
                             (user, check[0][2])).fetchall()
    assert group == FOLDED.get(user)
    # The radcheck read says what it decided, first, as an internal := row.
    assert check[0] == ("Tmp-String-9", ":=", marker(FOLDED.get(user)))
    # Fall-Through := No ends a folded reply (rlm_sql then skips its group pass), and only one.
    assert (reply[-1:] == [("Fall-Through", "No")]) == (user in FOLDED)


@pytest.mark.parametrize("user", sorted(USERS))
def test_a_reply_without_the_marker_decides_the_fold_itself(groups, user):
    """A configuration from before the marker, or a direct call: one argument, or an empty
    one (the attribute absent), gives the rows the marker gives."""
    with groups.db.connect("freeradius") as conn:
        (mark,) = conn.execute("SELECT value FROM captiva_authorize_check(%s) LIMIT 1",
                               (user,)).fetchone()
        read = "SELECT id, username, attribute, value, op FROM captiva_authorize_reply"
        marked = conn.execute(read + "(%s, %s)", (user, mark)).fetchall()
        assert conn.execute(read + "(%s)", (user,)).fetchall() == marked
        assert conn.execute(read + "(%s, '')", (user,)).fetchall() == marked
        assert conn.execute(read + "(%s, NULL)", (user,)).fetchall() == marked


@pytest.mark.parametrize("bad", ["g-profile", "fold:g-profile", "fold:abc", "fold:6G", "--"])
def test_the_reply_refuses_what_is_not_a_marker(groups, bad):
    with groups.db.connect("freeradius") as conn, \
            pytest.raises(psycopg.errors.InvalidParameterValue, match="not a fold marker"):
        conn.execute("SELECT * FROM captiva_authorize_reply('roster', %s)", (bad,))


@contextlib.contextmanager
def fold_overruled(db, user: str, for_check: str | None, for_reply: str | None):
    """While inside, captiva_authorize_fold answers for_check for ``user`` inside the radcheck
    read and for_reply anywhere else: a reply read that decided again would use for_reply."""
    with db.connect() as conn:
        (definition,) = conn.execute(
            "SELECT pg_get_functiondef('captiva_authorize_fold(text)'::regprocedure)").fetchone()
        conn.execute(sql.SQL(
            "CREATE OR REPLACE FUNCTION captiva_authorize_fold(p_username text) RETURNS text"
            " LANGUAGE plpgsql STABLE AS $$ BEGIN"
            " IF p_username <> {user} THEN RETURN NULL; END IF;"
            " IF current_query() LIKE '%captiva_authorize_check(%' THEN RETURN {check}; END IF;"
            " RETURN {reply}; END $$").format(user=sql.Literal(user),
                                              check=sql.Literal(for_check),
                                              reply=sql.Literal(for_reply)))
    try:
        yield
    finally:
        with db.connect() as conn:
            conn.execute(definition)


@pytest.mark.parametrize(("for_check", "for_reply", "expected"), [
    # Not folded by the check: the reply gives the user's own rows, and rlm_sql's group pass
    # the first group's (g-profile), not g-second's.
    (None, "g-second", {"Mikrotik-Rate-Limit": ["2M/5M"], "Session-Timeout": [3600],
                        "Idle-Timeout": []}),
    # Folded by the check with g-second: its rows, whatever a second decision would say.
    ("g-second", "g-profile", {"Mikrotik-Rate-Limit": ["9M/9M"], "Idle-Timeout": [900],
                               "Session-Timeout": []}),
])
def test_the_reply_follows_the_checks_marker(groups, for_check, for_reply, expected):
    with fold_overruled(groups.db, "overruled", for_check, for_reply):
        reply = groups.authenticate("overruled", PASSWORD, NAS_IP_Address=ROUTER_ADDRESS)
    assert reply is not None and reply.code == packet.AccessAccept, groups.log_tail()
    for attribute, values in expected.items():
        got = reply[attribute] if attribute in reply else []  # noqa: SIM401
        assert sorted(got) == sorted(values), attribute


def test_a_folded_login_carries_the_login_check_and_the_profiles_limit(groups):
    with groups.db.connect("freeradius") as conn:
        rows = conn.execute(
            "SELECT attribute, op, value FROM captiva_authorize_check(%s, %s, '')",
            ("roster", ROUTER_ADDRESS)).fetchall()
        unfolded = conn.execute(
            "SELECT attribute, value FROM captiva_authorize_check(%s, %s, '')",
            ("skip-first", ROUTER_ADDRESS)).fetchall()
    assert rows[0] == ("Tmp-String-9", ":=", marker("g-profile"))
    assert rows[1] == ("Cleartext-Password", ":=", PASSWORD)
    assert ("Simultaneous-Use", ":=", "1") in rows
    # The login check's answer, as policy.d/captiva_quota reads it (not a Captiva user: no
    # quota, accepted).
    assert rows[-1][:2] == ("Tmp-String-0", ":=") and rows[-1][2].startswith("accept|")
    # Left to rlm_sql: the marker and its own rows only; post-auth asks the login check itself.
    assert unfolded == [("Tmp-String-9", "-"), ("Cleartext-Password", PASSWORD)]


def test_a_user_without_radcheck_rows_gets_no_row_not_even_the_marker(groups):
    """rlm_sql reads the groups of a user the radcheck read returns nothing for."""
    with groups.db.connect("freeradius") as conn:
        assert conn.execute("SELECT * FROM captiva_authorize_check('nobody-here', %s, '')",
                            (ROUTER_ADDRESS,)).fetchall() == []


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
