"""A small campus for the quota tests: two sites (Douala, Paris) with a router each, three
profiles, four users, and the ``db`` / ``radius`` / ``su`` fixtures that provide it (radacct
written through :class:`rlm_sql.Radius` as the captiva_freeradius role)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from rlm_sql import Radius

UTC = dt.UTC
GiB = 1024**3
NAS_DOUALA = "10.20.0.2"
NAS_PARIS = "10.30.0.2"


def ts(text: str, tz: str = "UTC") -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=zoneinfo.ZoneInfo(tz))


# --------------------------------------------------------------------------------------------
# Roster fixtures


def seed_roster(conn, default_tz="Africa/Douala"):
    """Two sites (Douala, Paris), a router each, profiles and users."""
    conn.execute("UPDATE captiva_quota_settings SET timezone = %s", (default_tz,))
    conn.execute("""
        INSERT INTO captiva_site VALUES ('douala', 'Africa/Douala', 1, 1),
                                        ('paris', 'Europe/Paris', 7, 15);
        INSERT INTO captiva_router VALUES ('hs-douala', 'douala', '10.20.0.2', 3799),
                                          ('hs-paris', 'paris', '10.30.0.2', 3799);
        INSERT INTO captiva_profile (name, quota_daily, quota_weekly, quota_monthly,
                                     quota_total, alert_quota_percent, alert_expiry_days)
        VALUES ('student', 5368709120, NULL, 107374182400, NULL, '{80,95}', '{7,2}'),
               ('guest', NULL, NULL, NULL, 1073741824, '{50}', '{7,2}'),
               ('staff', NULL, NULL, NULL, NULL, '{80,95}', '{7,2}');
    """)
    for username, profile, lang, status, expires in [
        ("alice", "student", "en", "active", None),
        ("benoit", "student", "fr", "active", None),
        ("guest1", "guest", "en", "active", None),
        ("carol", "staff", "en", "active", None),
    ]:
        add_user(conn, username, profile, lang, status, expires)


def add_user(conn, username, profile, language="en", status="active", expires=None,
             email=None):
    conn.execute(
        """INSERT INTO captiva_user (username, first_name, last_name, email, language, profile,
               enabled, status, expires_at, activated_on)
           VALUES (%s, initcap(%s), 'Test', %s, %s, %s, %s, %s, %s, '2026-01-01')""",
        (username, username, email or f"{username}@campus.example", language, profile,
         status != "disabled", status, expires))


def daily(conn, username):
    return {day: (bin_, bout) for day, bin_, bout in conn.execute(
        "SELECT day, bytes_in, bytes_out FROM captiva_usage_daily WHERE username = %s "
        "ORDER BY day", (username,)).fetchall()}


@pytest.fixture
def db(radius_db):
    with radius_db.connect() as conn:
        seed_roster(conn)
    return radius_db


@pytest.fixture
def radius(db):
    with db.connect("freeradius") as conn:
        yield Radius(conn)


@pytest.fixture
def su(db):
    with db.connect() as conn:
        yield conn
