"""Helpers for the quota tests through real FreeRADIUS (test_quota_radius_*.py).

Users, profiles, sites and routers are provisioned the real way: a roster validated by
``captiva_roster.validate`` and written by the reconcile (``captiva_radius_plan.reconcile``) as
``captiva_reconcile``. Accounting is sent as a NAS sends it (Start / Interim-Update / Stop,
64-bit counters split into Octets + Gigawords, Event-Timestamp) from the router client
127.0.0.1, with the NAS-IP-Address of any roster router, so the trigger attributes the bytes to
that router's site. FreeRADIUS acknowledges each packet once it is in the detail buffer;
:func:`wait_replayed` waits until the buffered-sql server has written it all to radacct.

Expected values in the tests are computed here with zoneinfo and plain arithmetic, never with
the SQL or ``period_oracle`` code under test.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from zoneinfo import ZoneInfo

from ansible_collections.captiva.campus.plugins.module_utils.captiva_radius_plan import reconcile
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster import validate
from pyrad import packet
from radius_fixtures import ROUTER_ADDRESS, RadiusServer, wait_for
from roster_base import base_variables, with_hotspot

__all__ = [
    "DOUALA",
    "daytime_zone",
    "DOUALA_NAS",
    "PARIS",
    "PARIS_NAS",
    "GIB",
    "Nas",
    "daily_usage",
    "expected_split",
    "local_midnight",
    "provision",
    "wait_replayed",
]

GIB = 1024**3
DOUALA = ZoneInfo("Africa/Douala")  # UTC+1 all year


def daytime_zone() -> str:
    """A timezone where it is day now, for a site whose public workstations close at local
    midnight: late in Douala, that closing would cut every session a test grants."""
    for zone in ("Africa/Douala", "America/New_York", "Pacific/Honolulu", "Asia/Tokyo",
                 "Asia/Kolkata"):
        if 6 <= dt.datetime.now(ZoneInfo(zone)).hour < 18:
            return zone
    raise AssertionError("no zone of the list is in daytime")  # they cover every hour
PARIS = ZoneInfo("Europe/Paris")  # CET/CEST
# The test server's router client is 127.0.0.1: the campus site's router has that address.
DOUALA_NAS = ROUTER_ADDRESS
PARIS_NAS = "10.33.0.1"

PROFILES = [
    {"name": "daily-1g", "quota": {"daily": "1GiB"}, "session_timeout": "8h",
     "simultaneous_use": 1},
    {"name": "monthly-10g", "quota": {"monthly": "10GiB"}, "session_timeout": "8h",
     "simultaneous_use": 1},
    {"name": "unlimited", "session_timeout": "8h", "simultaneous_use": 1},
]


def roster_variables(users: list[dict]) -> dict:
    """The base roster with the test profiles, a Douala and a Paris site, and ``users``."""
    variables = base_variables()
    variables["captiva_timezone"] = "Africa/Douala"
    variables["captiva_profiles"] = PROFILES
    variables["captiva_promotions"] = [
        {"name": profile["name"], "profile": profile["name"]} for profile in PROFILES]
    variables["captiva_sites"] = [
        {"name": "campus-douala", "timezone": "Africa/Douala", "routers": [{
            "name": "gw-douala", "address": DOUALA_NAS, "radius_secret": "d" * 24,
            "api": {"username": "captiva", "password": "api-password-1"}}]},
        {"name": "campus-paris", "timezone": "Europe/Paris", "routers": [{
            "name": "gw-paris", "address": PARIS_NAS, "radius_secret": "p" * 24,
            "api": {"username": "captiva", "password": "api-password-2"}}]},
    ]
    variables["captiva_users"] = users
    return with_hotspot(variables)


def provision(server: RadiusServer, users: list[dict]) -> None:
    """Write the roster with ``users`` (roster entries) through the reconcile."""
    roster, errors = validate(roster_variables(users))
    assert errors == [], errors
    with server.db.connect("reconcile") as conn:
        reconcile(conn, roster, now=dt.datetime.now(dt.UTC), check_mode=False)


def _counters(prefix: str, total: int) -> dict:
    """A 64-bit counter as a NAS sends it: the low 32 bits and the gigawords."""
    return {f"Acct_{prefix}_Octets": total & 0xFFFFFFFF,
            f"Acct_{prefix}_Gigawords": total >> 32}


class Nas:
    """A router sending accounting (from the router client 127.0.0.1, as ``nas_ip``)."""

    def __init__(self, server: RadiusServer, nas_ip: str = DOUALA_NAS):
        self.server = server
        self.nas_ip = nas_ip
        self.client = server.client(timeout=3.0, retries=2)

    def send(self, status: str, *, at: dt.datetime, username: str | None = None,
             session_id: str | None = None, bytes_in: int | None = None,
             bytes_out: int | None = None, session_time: int | None = None,
             **attributes) -> packet.Packet:
        """One Accounting-Request; fails unless FreeRADIUS acknowledges it."""
        if username is not None:
            attributes["User_Name"] = username
        if session_id is not None:
            attributes["Acct_Session_Id"] = session_id
        if bytes_in is not None:
            attributes.update(_counters("Input", bytes_in))
        if bytes_out is not None:
            attributes.update(_counters("Output", bytes_out))
        if session_time is not None:
            attributes["Acct_Session_Time"] = session_time
        request = self.client.CreateAcctPacket(
            Acct_Status_Type=status, NAS_IP_Address=self.nas_ip,
            Event_Timestamp=int(at.timestamp()), **attributes)
        reply = self.client.SendPacket(request)
        assert reply.code == packet.AccountingResponse
        return reply

    def session(self, username: str, session_id: str, start: dt.datetime,
                updates: list[tuple[dt.datetime, int, int]], stop: bool = True) -> None:
        """Start at ``start``; one Interim-Update per ``(at, bytes_in, bytes_out)`` (totals
        since the start, as a NAS counts), the last one as the Stop when ``stop``."""
        self.send("Start", at=start, username=username, session_id=session_id,
                  Framed_IP_Address="10.5.50.20")
        for number, (at, bytes_in, bytes_out) in enumerate(updates, start=1):
            last = stop and number == len(updates)
            self.send("Stop" if last else "Interim-Update", at=at, username=username,
                      session_id=session_id, bytes_in=bytes_in, bytes_out=bytes_out,
                      session_time=_seconds(start, at),
                      Framed_IP_Address="10.5.50.20",
                      **({"Acct_Terminate_Cause": "User-Request"} if last else {}))


def _seconds(start: dt.datetime, end: dt.datetime) -> int:
    # In UTC: Python subtracts datetimes sharing a tzinfo by their wall time.
    return int((end.astimezone(dt.UTC) - start.astimezone(dt.UTC)).total_seconds())


def wait_replayed(server: RadiusServer, *routers, timeout: float = 30.0) -> None:
    """Wait until the buffered-sql reader has replayed every buffered record into radacct.

    ``routers``: simulated routers (routeros_fixtures.Sim) whose hotspot sends accounting;
    their queues are drained first, or the buffer may be empty only because a Start or Stop
    is not sent yet. The writer has written a record before the NAS gets its
    Accounting-Response; the reader renames a file to detail.work while replaying it and
    deletes it once every record is done.
    """
    for router in routers:
        router.wait_accounted(timeout)
    wait_for(lambda: not any(path.name.startswith("detail")
                             for path in server.buffer_dir.rglob("*")), timeout=timeout)


def daily_usage(server: RadiusServer, username: str) -> dict[dt.date, tuple[int, int]]:
    """captiva_usage_daily of one user: ``{day: (bytes_in, bytes_out)}``."""
    with server.db.connect() as conn:
        rows = conn.execute("SELECT day, bytes_in, bytes_out FROM captiva_usage_daily"
                            " WHERE username = %s ORDER BY day", (username,)).fetchall()
    return {day: (bytes_in, bytes_out) for day, bytes_in, bytes_out in rows}


def local_midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """The first instant of a local day, in UTC (no zone here changes DST at midnight)."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(dt.UTC)


def expected_split(total: int, start: dt.datetime, end: dt.datetime,
                   tz: ZoneInfo) -> dict[dt.date, int]:
    """``total`` bytes sent evenly from ``start`` to ``end``, per local day of ``tz``.

    Local midnights come from zoneinfo (a DST day lasts 23 or 25 hours). The tests choose
    numbers that divide exactly, so no rounding rule is assumed.
    """
    # In UTC: Python subtracts and compares datetimes sharing a tzinfo by their wall time.
    start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    seconds = Fraction(int((end - start).total_seconds()))
    result = {}
    day = start.astimezone(tz).date()
    while True:
        midnight = local_midnight(day, tz)
        next_midnight = local_midnight(day + dt.timedelta(days=1), tz)
        lower, upper = max(start, midnight), min(end, next_midnight)
        if upper > lower:
            share = total * Fraction(int((upper - lower).total_seconds())) / seconds
            assert share.denominator == 1, f"choose bytes divisible over the days ({share})"
            result[day] = int(share)
        if next_midnight >= end:
            return result
        day += dt.timedelta(days=1)
