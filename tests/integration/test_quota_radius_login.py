"""Quota and expiry at login, through real FreeRADIUS (roles/freeradius) and PostgreSQL.

Users are provisioned by the reconcile; their usage comes from accounting sent through
FreeRADIUS's buffer, as a router sends it. A hotspot login over quota gets an Access-Reject
naming the quota and when it resets; the status portal still lets the user in; an accepted
login carries the exact remaining bytes as Mikrotik-Total-Limit + -Gigawords and a
Session-Timeout that never outlives the account.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
import radius_fixtures
from pyrad import packet
from quota_radius_fixtures import DOUALA, GIB, Nas, local_midnight, provision, wait_replayed
from radius_fixtures import (
    PORTAL_ADDRESS,
    PORTAL_SECRET,
    ROUTER_SECRET,
    message_authenticator_valid,
)

radius_server = radius_fixtures.radius_server

EXPIRES_IN = 600  # seconds: ezra's account ends ten minutes after the roster is applied


def password(user: str) -> str:
    return f"{user}-Pass-0123"


def roster_user(user: str, promotion: str, language: str = "en", **extra) -> dict:
    return {"username": user, "password": password(user), "promotion": promotion,
            "language": language, "email": f"{user}@campus.test", **extra}


def _clear_of_midnight() -> None:
    """Usage is sent 'now': keep the whole test in one Douala day (and month)."""
    local = dt.datetime.now(DOUALA)
    if local.time() > dt.time(23, 59, 0):
        time.sleep(90)


@pytest.fixture(scope="module")
def server(radius_server):
    _clear_of_midnight()
    now = dt.datetime.now(dt.UTC)
    provision(radius_server, [
        roster_user("olivia", "daily-1g"),
        roster_user("fanny", "daily-1g", language="fr"),
        roster_user("dora", "daily-1g"),
        roster_user("gigi", "monthly-10g"),
        roster_user("uma", "unlimited"),
        roster_user("ezra", "unlimited",
                    expires=(now + dt.timedelta(seconds=EXPIRES_IN)).replace(microsecond=0)),
        roster_user("ian", "unlimited",
                    expires=(now + dt.timedelta(seconds=EXPIRES_IN)).replace(microsecond=0)),
    ])
    with radius_server.db.connect() as conn:
        # An admin's own RADIUS user (no captiva_user row): Captiva sets it no quota.
        conn.execute("INSERT INTO radcheck (username, attribute, op, value)"
                     " VALUES ('printer1', 'Cleartext-Password', ':=', %s)",
                     (password("printer1"),))
    # Usage today, as the routers report it: a finished session each.
    nas = Nas(radius_server)
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    usage = {"olivia": (GIB, GIB // 2), "fanny": (GIB, 0), "dora": (600, 400),
             "gigi": (0, 4294967596)}
    for user, (bytes_in, bytes_out) in usage.items():
        nas.session(user, f"{user}-1", start, [(start, bytes_in, bytes_out)])
    wait_replayed(radius_server)
    return radius_server


def login(server, user: str, secret_password: str | None = None, *, portal: bool = False):
    kwargs = {"source": PORTAL_ADDRESS, "secret": PORTAL_SECRET} if portal else {}
    reply = server.authenticate(user, secret_password or password(user), **kwargs)
    assert reply is not None, "no reply"
    assert message_authenticator_valid(
        reply.raw_packet, reply.request_authenticator,
        (PORTAL_SECRET if portal else ROUTER_SECRET).encode()), "reply not signed"
    return reply


def next_douala_midnight() -> dt.datetime:
    today = dt.datetime.now(DOUALA).date()
    return local_midnight(today + dt.timedelta(days=1), DOUALA).astimezone(DOUALA)


def test_over_daily_quota_is_rejected_naming_the_quota_and_its_reset(server):
    reply = login(server, "olivia")
    assert reply.code == packet.AccessReject
    resets = next_douala_midnight().strftime("%Y-%m-%d %H:%M")
    assert reply["Reply-Message"] == [
        f"Daily data quota of 1 GiB reached; resets {resets} Africa/Douala"]
    # The reject carries nothing of the profile (attr_filter.access_reject).
    assert "Session-Timeout" not in reply and "Mikrotik-Total-Limit" not in reply
    server.wait_logins_replayed()  # radpostauth comes through the login buffer
    with server.db.connect() as conn:
        logged = conn.execute("SELECT reply FROM radpostauth WHERE username = 'olivia'"
                              " ORDER BY authdate DESC LIMIT 1").fetchone()
    assert logged == ("Access-Reject",)


def test_reject_message_is_in_the_users_language(server):
    reply = login(server, "fanny")
    assert reply.code == packet.AccessReject
    resets = next_douala_midnight().strftime("%Y-%m-%d %H:%M")
    assert reply["Reply-Message"] == [
        f"Quota de données journalier de 1 GiB atteint ; renouvelé le {resets} Africa/Douala"]


def test_wrong_password_learns_nothing_about_the_quota(server):
    reply = login(server, "olivia", "not-the-password")
    assert reply.code == packet.AccessReject
    assert "Reply-Message" not in reply


def test_portal_still_lets_an_over_quota_user_in(server):
    # Students over quota log in to the status portal to see why.
    reply = login(server, "olivia", portal=True)
    assert reply.code == packet.AccessAccept
    assert "Reply-Message" not in reply
    # ... with the right password only.
    assert login(server, "olivia", "not-the-password", portal=True).code == packet.AccessReject


def test_remaining_quota_over_4_gib_is_exact_on_the_wire(server):
    used = 4294967596  # sent as Acct-Output-Gigawords = 1, Acct-Output-Octets = 300
    remaining = 10 * GIB - used
    reply = login(server, "gigi")
    assert reply.code == packet.AccessAccept
    assert reply["Mikrotik-Total-Limit-Gigawords"] == [remaining // 2**32]
    assert reply["Mikrotik-Total-Limit"] == [remaining % 2**32]
    # The router adds them back up to the remaining bytes (and they are the documented pair).
    assert (reply["Mikrotik-Total-Limit-Gigawords"][0] * 2**32
            + reply["Mikrotik-Total-Limit"][0]) == remaining
    assert (reply["Mikrotik-Total-Limit-Gigawords"], reply["Mikrotik-Total-Limit"]) == (
        [1], [2147483348])


def test_remaining_quota_under_4_gib(server):
    reply = login(server, "dora")
    assert reply.code == packet.AccessAccept
    assert reply["Mikrotik-Total-Limit-Gigawords"] == [0]
    assert reply["Mikrotik-Total-Limit"] == [GIB - 1000]
    assert reply["Session-Timeout"] == [8 * 3600]  # the profile's: no expiry to cap it


@pytest.mark.parametrize("user", ["uma", "printer1"])
def test_no_quota_sends_no_total_limit(server, user):
    reply = login(server, user)
    assert reply.code == packet.AccessAccept
    assert "Mikrotik-Total-Limit" not in reply
    assert "Mikrotik-Total-Limit-Gigawords" not in reply


def test_session_timeout_is_capped_by_the_expiry(server):
    reply = login(server, "ezra")
    assert reply.code == packet.AccessAccept
    (timeout,) = reply["Session-Timeout"]
    assert EXPIRES_IN - 120 < timeout <= EXPIRES_IN  # not the profile's 8 h


def test_session_timeout_is_capped_without_the_expiration_check_item(server):
    # The quota check caps it from captiva_user.expires_at on its own, also for a user
    # whose radcheck Expiration row is gone (rlm_expiration then does nothing).
    with server.db.connect() as conn:
        deleted = conn.execute("DELETE FROM radcheck WHERE username = 'ian'"
                               " AND attribute = 'Expiration'").rowcount
    assert deleted == 1
    reply = login(server, "ian")
    assert reply.code == packet.AccessAccept
    (timeout,) = reply["Session-Timeout"]
    assert EXPIRES_IN - 120 < timeout <= EXPIRES_IN
