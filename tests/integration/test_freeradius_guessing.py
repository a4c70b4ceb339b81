"""Code guessing through real FreeRADIUS (roles/freeradius, policy.d/captiva_guess) and
PostgreSQL (functions/45_guess_throttle.sql): failed logins of code-shaped usernames are counted
per NAS and calling station over a sliding window, and past a limit a code login from there is
rejected before any lookup; students' logins are never counted nor throttled. Also the status
portal's own RADIUS login of a voucher (revoked or expired: refused).

The role runs with a short window and low limits (GUESS_VARS); each test uses its own NAS (a
loopback address declared as a router), so the tests do not share counts.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time

import pytest
from ansible_collections.captiva.campus.plugins.module_utils.captiva_radius_plan import reconcile
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster import validate
from ansible_collections.captiva.campus.plugins.module_utils.captiva_vouchers import (
    ALPHABET,
    DATA_LENGTH,
    check_character,
)
from pg_fixtures import radius_database
from pyrad import packet
from quota_radius_fixtures import DOUALA, roster_variables
from radius_fixtures import (
    PORTAL_ADDRESS,
    PORTAL_SECRET,
    ROLE_VARS,
    ROUTER_SECRET,
    copy_package_config,
    freeradius_for,
    message_authenticator_valid,
    require_freeradius,
    run_role,
)

from captiva.portal.console import overview_data
from captiva.quota.enforce import guess_throttled
from captiva.runtime import metrics

WINDOW = 10  # Debian's reject_delay holds each reject 1 s: the sequential failures fit
STATION_LIMIT = 3
NAS_LIMIT = 6
NASES = ["127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7"]
GUESS_VARS = {
    "freeradius_guess_window": WINDOW,
    "freeradius_guess_station_limit": STATION_LIMIT,
    "freeradius_guess_nas_limit": NAS_LIMIT,
    "freeradius_clients": [
        {"name": f"router-{n}", "address": f"{address}/32", "secret": ROUTER_SECRET}
        for n, address in enumerate(["127.0.0.1", *NASES])],
}
THROTTLED = "Trop d'essais de code, reessayez plus tard / Too many code attempts, try again later"
SECRET = "guessing-secret-for-the-tests-0123456789"
TODAY = dt.datetime.now(DOUALA).date()
STUDENT, STUDENT_PASSWORD = "etu-guess", "etu-guess-Pass-0123"


def batch(name, **changes):
    item = {"name": name, "count": 4, "profile": "unlimited", "time_credit": "1h",
            "valid_from": (TODAY - dt.timedelta(days=1)).isoformat(),
            "valid_until": (TODAY + dt.timedelta(days=30)).isoformat()}
    item.update(changes)
    return item


@pytest.fixture(scope="module")
def server(pg_server, tmp_path_factory):
    variables = roster_variables([{"username": STUDENT, "password": STUDENT_PASSWORD,
                                   "promotion": "unlimited", "email": "etu@campus.test"}])
    variables["captiva_voucher_batches"] = [
        batch("good"), batch("revoked", revoked=[1]),
        batch("ended", valid_from=(TODAY - dt.timedelta(days=9)).isoformat(),
              valid_until=(TODAY - dt.timedelta(days=2)).isoformat())]
    variables["captiva_voucher_secret"] = SECRET
    variables["captiva_hotspot_login_by"] = ["http-pap"]  # no hotspot certificate needed here
    roster, errors = validate(variables)
    assert errors == [], errors
    base = tmp_path_factory.mktemp("freeradius-guessing")
    with radius_database(pg_server) as db, freeradius_for(base, db, GUESS_VARS) as radius:
        with db.connect("reconcile") as conn:
            reconcile(conn, roster, now=dt.datetime.now(dt.UTC), check_mode=False)
        radius.codes = {b["name"]: b["codes"] for b in roster.vouchers}
        yield radius


def guess() -> str:
    """A code nobody issued, with a right check character (what an attacker sends)."""
    data = "".join(secrets.choice(ALPHABET) for _ in range(DATA_LENGTH))
    return data + check_character(data)


def ask(server, username, password=None, *, nas, mac, portal=False):
    reply = server.authenticate(username, password or username, Calling_Station_Id=mac,
                                source=PORTAL_ADDRESS if portal else nas,
                                secret=PORTAL_SECRET if portal else ROUTER_SECRET)
    assert reply is not None, server.log_tail()
    secret = PORTAL_SECRET if portal else ROUTER_SECRET
    assert message_authenticator_valid(reply.raw_packet, reply.request_authenticator,
                                       secret.encode()), "reply not signed"
    return reply


def message(reply):
    return " ".join(reply["Reply-Message"]) if "Reply-Message" in reply else None


def rows(server, sql, *params):
    server.wait_logins_replayed()  # radpostauth and first uses come through the login buffer
    with server.db.connect() as conn:
        return conn.execute(sql, params).fetchall()


def first_use(server, code):
    return rows(server, "SELECT first_used_at FROM captiva_voucher_first_use WHERE code = %s",
                code)


def throttle_lines(server):
    return [line for line in server.log_path.read_text(errors="replace").splitlines()
            if "code logins throttled" in line]


def test_a_mac_that_failed_too_often_is_throttled_without_a_lookup_and_students_still_log_in(
        server):
    nas, mac = NASES[0], "02:00:5E:00:AA:01"
    tried = [guess(), "P-00000-00000-00001", guess()]  # a workstation code counts too
    for code in tried:
        reply = ask(server, code, nas=nas, mac=mac)
        assert reply.code == packet.AccessReject and message(reply) != THROTTLED
    # Past the limit even a valid code is refused: nothing was looked up (a lookup would
    # have accepted it and recorded its first use).
    good = server.codes["good"][0]
    started = time.monotonic()
    reply = ask(server, good, nas=nas, mac=mac.lower().replace(":", "-"))
    assert reply.code == packet.AccessReject and message(reply) == THROTTLED
    assert first_use(server, good) == []
    # Debian's reject_delay (1 s) holds every Access-Reject; the throttled one waits no more.
    assert time.monotonic() - started < 1.6
    # A student's password from the same device is not a code: never throttled.
    reply = ask(server, STUDENT, STUDENT_PASSWORD, nas=nas, mac=mac)
    assert reply.code == packet.AccessAccept, server.log_tail()
    # Another device at the same NAS is not throttled (3 failures < the NAS's 6).
    assert ask(server, good, nas=nas, mac="02:00:5E:00:AA:02").code == packet.AccessAccept
    assert ask(server, guess(), nas=nas, mac=mac).code == packet.AccessReject
    # One log line for the episode, naming the NAS and the MAC, never a code.
    lines = [line for line in throttle_lines(server) if f"NAS {nas} " in line]
    assert len(lines) == 1, lines
    assert "(throttled-new|station)" in lines[0] and "calling station 02-00-5e-00-aa-01" in lines[0]
    log = server.log_path.read_text(errors="replace")
    for code in [*tried, good, good.lower()]:
        assert code not in log
    # The throttled attempts left no radpostauth row; the counted ones did.
    assert rows(server, "SELECT count(*) FROM radpostauth WHERE username = %s"
                " AND reply = 'Access-Reject'", good) == [(0,)]
    assert rows(server, "SELECT count(*) FROM radpostauth WHERE username = ANY(%s)",
                tried[::2]) == [(2,)]
    # What the console shows (the portal's role, through its data function) and the enforce
    # job exports as a metric (the jobs' role): no code in either.
    now = dt.datetime.now(dt.UTC)
    with server.db.connect("portal") as conn:
        (source,) = [r for r in overview_data.guessing(conn, now) if r["nas"] == nas]
    assert (source["scope"], source["mac"], source["throttled"]) == (
        "station", "02:00:5E:00:AA:01", 2)
    assert source["since"] <= source["last"] <= now
    with server.db.connect("jobs") as conn:
        found = guess_throttled(conn, now)
    prom = metrics.render("enforce", {"guess_throttled": found}, seconds=1.0)
    assert 'captiva_radius_guess_throttled_sources{scope="station"} 1' in prom.splitlines()
    assert good not in prom and good not in str(source)


def test_a_nas_over_its_limit_throttles_every_code_login_from_it(server):
    nas = NASES[1]
    for n in range(NAS_LIMIT):  # one failure each from six devices: none over its own limit
        assert ask(server, guess(), nas=nas, mac=f"02:00:5E:00:BB:{n:02X}").code == \
            packet.AccessReject
    good = server.codes["good"][1]
    reply = ask(server, good, nas=nas, mac="02:00:5E:00:BB:FF")
    assert reply.code == packet.AccessReject and message(reply) == THROTTLED
    assert first_use(server, good) == []
    assert ask(server, STUDENT, STUDENT_PASSWORD, nas=nas,
               mac="02:00:5E:00:BB:FF").code == packet.AccessAccept
    # Another NAS is not concerned.
    assert ask(server, good, nas=NASES[2], mac="02:00:5E:00:BB:FF").code == packet.AccessAccept
    lines = [line for line in throttle_lines(server) if f"NAS {nas} " in line]
    assert len(lines) == 1 and "(throttled-new|nas)" in lines[0], lines


def test_the_window_slides_and_known_codes_refused_for_their_reason_do_not_count(server):
    nas, mac = NASES[3], "02:00:5E:00:CC:01"
    revoked = server.codes["revoked"][0]
    for _ in range(STATION_LIMIT + 2):
        assert message(ask(server, revoked, nas=nas, mac=mac)) == "Code révoqué / Code revoked"
    for _ in range(STATION_LIMIT):
        ask(server, guess(), nas=nas, mac=mac)
    good = server.codes["good"][2]
    assert message(ask(server, good, nas=nas, mac=mac)) == THROTTLED
    time.sleep(WINDOW + 0.5)
    # The failures are older than the window now: the same device's code is judged again.
    assert ask(server, good, nas=nas, mac=mac).code == packet.AccessAccept
    assert first_use(server, good) != []


def test_the_portal_login_honours_revocation_and_validity_and_starts_no_window(server):
    revoked, ended = server.codes["revoked"][0], server.codes["ended"][0]
    mac = "198.51.100.7"  # the portal sends the browser's address
    assert message(ask(server, revoked, nas=None, mac=mac, portal=True)) == (
        "Code révoqué / Code revoked")
    reply = ask(server, ended, nas=None, mac=mac, portal=True)
    assert reply.code == packet.AccessReject
    assert re.match(r"Code expiré le \d{4}-\d\d-\d\d", message(reply)), message(reply)
    good = server.codes["good"][3]
    assert ask(server, good, nas=None, mac=mac, portal=True).code == packet.AccessAccept
    assert first_use(server, good) == []


def test_workstation_codes_come_from_the_cryptographic_generator(server):
    """P and 15 digits (49.8 bits) drawn from gen_random_uuid() (pg_strong_random), never
    random(): 5,000 codes, all distinct, every digit about equally frequent at every place."""
    with server.db.connect() as conn:
        codes = [row[0] for row in conn.execute(
            "SELECT captiva_workstation_new_code() FROM generate_series(1, 5000)")]
        (source,) = conn.execute("SELECT prosrc FROM pg_proc"
                                 " WHERE proname = 'captiva_workstation_new_code'").fetchone()
    assert all(re.fullmatch(r"P[0-9]{15}", code) for code in codes)
    assert len(set(codes)) == len(codes)
    assert "gen_random_uuid()" in source and "random()" not in source.replace(
        "gen_random_uuid()", "")
    for place in range(1, 16):
        counts = [sum(code[place] == str(d) for code in codes) for d in range(10)]
        assert min(counts) > 380 and max(counts) < 620, (place, counts)  # 500 expected


@pytest.mark.parametrize("bad", [{"freeradius_guess_window": 0},
                                 {"freeradius_guess_station_limit": 0},
                                 {"freeradius_guess_nas_limit": 5,
                                  "freeradius_guess_station_limit": 10}])
def test_throttle_settings_out_of_bounds_stop_the_role_before_anything_is_written(tmp_path,
                                                                                  bad):
    require_freeradius()
    config_dir = copy_package_config(tmp_path)
    result = run_role(tmp_path, config_dir, dict(
        ROLE_VARS, freeradius_db_password="test-db-password-0123456789",
        freeradius_buffer_dir=str(tmp_path / "buffer"),
        freeradius_login_buffer_dir=str(tmp_path / "login-buffer"), **bad))
    assert result.returncode != 0
    assert "Check the code-guessing throttle settings" in result.stdout
    assert not (config_dir / "policy.d" / "captiva_guess").exists()
