"""The login buffer through real FreeRADIUS (roles/freeradius) and PostgreSQL: what a login
writes (its radpostauth row, a voucher's first use) goes to a detail file and is replayed by
the buffered-login server (functions/93_login_replay.sql), so a login never waits for a
database that takes writes, and what a login reads goes to the sql_read pool, which any member
answers (docs/freeradius.md, "Writes at login"; docs/ha.md, "What a replica answers").

- Writes refused (the replay's INSERT revoked): students and vouchers are accepted, the
  records wait on disk, without a password, and arrive once each, at the login's time; a
  voucher's window starts at its first login, not at the replay.
- Every record replayed a second time (copies of the files put back), the readers' process
  killed mid-file (kill -9 of captiva-radius-replay, a record it cannot replay in the middle
  of a shard's file), and a writer held between its open and its write while its reader, in
  the other process, takes the file (strace): every login in radpostauth exactly once. The
  replay's process stopped: logins go on, their records wait on disk. A record the disk
  refuses is stored before the reply.
- The database read-only (default_transaction_read_only, what a hot standby answers):
  students' and vouchers' logins are accepted from reads alone; a guessed code is refused,
  and counted by the guessing throttle once writes come back (docs/threat-model.md); every
  reply is logged once writes come back.
- Every read of a login (radcheck, the login check, the voucher judgements, a workstation
  code) answers inside a read-only transaction, as FreeRADIUS's role.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import shutil
import subprocess
import time
from contextlib import contextmanager

import pytest
from ansible_collections.captiva.campus.plugins.module_utils.captiva_radius_plan import reconcile
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster import validate
from pg_fixtures import radius_database
from processes import missing, stop_process
from psycopg import sql
from pyrad import packet
from quota_radius_fixtures import DOUALA, roster_variables
from radius_fixtures import ROUTER_SECRET, freeradius_for, message_authenticator_valid, wait_for

SECRET = "login-buffer-secret-for-the-tests-0123456789"
TODAY = dt.datetime.now(DOUALA).date()
STUDENTS = {f"etu-buf{n}": f"etu-buf{n}-Pass-0123" for n in range(3)}
CODE_UNAVAILABLE = ("Verification du code impossible, reessayez / "
                    "Code check unavailable, please try again")
REPLAY_GRANT = "GRANT INSERT (loginid) ON radpostauth TO captiva_definer"


@pytest.fixture(scope="module")
def server(pg_server, tmp_path_factory):
    variables = roster_variables([
        {"username": user, "password": secret, "promotion": "unlimited",
         "email": f"{user}@campus.test"} for user, secret in STUDENTS.items()])
    variables["captiva_voucher_batches"] = [{
        "name": "guests", "count": 6, "profile": "unlimited", "time_credit": "2h",
        "window_after_first_use": "1h",
        "valid_from": (TODAY - dt.timedelta(days=1)).isoformat(),
        "valid_until": (TODAY + dt.timedelta(days=30)).isoformat()}]
    variables["captiva_voucher_secret"] = SECRET
    variables["captiva_hotspot_login_by"] = ["http-pap"]
    roster, errors = validate(variables)
    assert errors == [], errors
    base = tmp_path_factory.mktemp("freeradius-login-buffer")
    with radius_database(pg_server) as db, freeradius_for(base, db) as radius:
        with db.connect("reconcile") as conn:
            reconcile(conn, roster, now=dt.datetime.now(dt.UTC), check_mode=False)
        radius.codes = list(roster.vouchers[0]["codes"])
        yield radius


def login(server, username, password, mac):
    reply = server.authenticate(username, password, Calling_Station_Id=mac,
                                Called_Station_Id="hs-campus")
    assert reply is not None, server.log_tail()
    assert message_authenticator_valid(reply.raw_packet, reply.request_authenticator,
                                       ROUTER_SECRET.encode()), "reply not signed"
    return reply


def logged(server, mac):
    with server.db.connect() as conn:
        return conn.execute(
            "SELECT username, reply, authdate, loginid FROM radpostauth"
            " WHERE callingstationid = %s ORDER BY authdate", (mac,)).fetchall()


def first_use(server, code):
    with server.db.connect() as conn:
        row = conn.execute("SELECT first_used_at FROM captiva_voucher_first_use WHERE code = %s",
                           (code,)).fetchone()
    return row[0] if row else None


@contextmanager
def refused(server, column, value):
    """The database refuses the radpostauth rows whose ``column`` is ``value`` (a trigger)."""
    with server.db.connect() as conn:
        conn.execute(sql.SQL("""
            CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.{} = {} THEN
                    RAISE EXCEPTION 'the test refuses this record';
                END IF;
                RETURN NEW;
            END $$""").format(sql.Identifier(column), sql.Literal(value)))
        conn.execute("CREATE TRIGGER test_refuse BEFORE INSERT ON radpostauth"
                     " FOR EACH ROW EXECUTE FUNCTION test_refuse()")
    try:
        yield
    finally:
        with server.db.connect() as conn:
            conn.execute("DROP TRIGGER test_refuse ON radpostauth")
            conn.execute("DROP FUNCTION test_refuse()")


def restart_replay(server):
    """kill -9 of the readers' process (no clean shutdown: the readers stop wherever they
    are), then start it again; the server, the writer, goes on."""
    server.kill_replay()
    server.start_replay()


def test_refused_writes_wait_on_disk_and_arrive_once_at_the_logins_time(server, tmp_path):
    server.wait_logins_replayed()
    mac = "02:00:5E:10:00:01"
    student, password = next(iter(STUDENTS.items()))
    code = server.codes[0]
    with server.db.connect() as conn:
        conn.execute("REVOKE INSERT (loginid) ON radpostauth FROM captiva_definer")
        try:
            before = dt.datetime.now(dt.UTC)
            assert login(server, student, password, mac).code == packet.AccessAccept
            assert login(server, student, "not-her-password", mac).code == packet.AccessReject
            voucher = login(server, code, code, mac)
            assert voucher.code == packet.AccessAccept
            answered = dt.datetime.now(dt.UTC)
            time.sleep(3)  # the readers tried, and were refused
            files = server.login_buffer_files()
            assert files, f"no record waits in {server.login_buffer_dir}:\n{server.log_tail()}"
            assert logged(server, mac) == [] and first_use(server, code) is None
            # What waits on disk: never a password (a voucher's is its code, the User-Name).
            text = "".join(path.read_text(errors="replace") for path in files)
            assert student in text and password not in text and "not-her-password" not in text
            assert "User-Password" not in text
            # Nothing replayed yet: a copy of the files, to replay every record a second time.
            copies = []
            for n, path in enumerate(files):
                shutil.copyfile(path, tmp_path / str(n))
                copies.append((tmp_path / str(n), path.parent))
        finally:
            conn.execute(REPLAY_GRANT)
    server.wait_logins_replayed()
    rows = logged(server, mac)
    for copy, shard in copies:
        target = shard / "detail-19700101:00"
        shutil.copyfile(copy, target)
        os.chmod(target, 0o600)
    server.wait_logins_replayed()
    assert logged(server, mac) == rows
    assert [(r[0], r[1]) for r in rows] == [(student, "Access-Accept"), (student, "Access-Reject"),
                                          (code, "Access-Accept")]
    # Each row has the time of its login, not of its replay (3 s later at least).
    assert all(before <= r[2] <= answered for r in rows)
    # The window starts at the voucher's login: its first use is that login's time.
    assert first_use(server, code) == rows[2][2]


def test_a_voucher_keeps_its_earliest_login_whatever_order_the_records_arrive_in(server):
    server.wait_logins_replayed()
    code = server.codes[1]
    mac = "02:00:5E:10:00:02"
    with refused(server, "callingstationid", mac):
        assert login(server, code, code, mac).code == packet.AccessAccept
        time.sleep(2)
        # Another RADIUS server's later login of the same code, replayed first.
        later = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).replace(microsecond=0)
        with server.db.connect() as conn:
            conn.execute("SELECT captiva_login_replay(%s, %s, 'Access-Accept', '', '', %s,"
                         " 'first-use', '127.0.0.1')", ("f" * 32, code, str(later.timestamp())))
        assert first_use(server, code) == later
    server.wait_logins_replayed()
    (first,) = [r for r in logged(server, mac) if r[0] == code]
    assert first_use(server, code) == first[2] < later


def test_a_reader_killed_mid_file_stores_each_login_once(server):
    server.wait_logins_replayed()
    mac = "02:00:5E:10:00:03"
    students = list(STUDENTS.items())
    # A record the database refuses, in the middle of the logins: its shard's reader stops
    # there, mid-file, with records replayed before it and waiting after it.
    sent = collections.Counter()
    with refused(server, "username", "stopper"):
        for n in range(48):
            user, password = students[n % len(students)]
            if n == 24:
                user, password = "stopper", "no-such-user"
            login(server, user, password, mac)
            sent[user] += 1
        wait_for(lambda: len(logged(server, mac)) >= 40, timeout=30)
        time.sleep(1)
        stuck = server.login_buffer_files()
        assert stuck, "the stopper's record should hold its shard's file"
        restart_replay(server)
    server.wait_logins_replayed()
    rows = logged(server, mac)
    stored = collections.Counter(r[0] for r in rows)
    # Which logins are missing or doubled, and what is left in the buffer, if any.
    assert stored == sent, (sent - stored, stored - sent, server.login_buffer_files())
    assert len({r[3] for r in rows}) == 48
    assert sum(r[0] == "stopper" and r[1] == "Access-Reject" for r in rows) == 1


@contextmanager
def writes_held(server, seconds):
    """Every write(2) of the server into a shard's current file is held ``seconds`` before it
    runs (strace's delay injection): the writer's thread, between its open and its write, as
    a loaded machine deschedules it. The readers, in the replay's process, run at once."""
    strace = shutil.which("strace")
    if strace is None:
        missing("strace is not installed (apt-get install strace)")
    now = dt.datetime.now()
    hours = {f"detail-{t:%Y%m%d:%H}" for t in (now, now + dt.timedelta(minutes=5))}
    paths = [str(server.login_buffer_dir / str(shard) / name)
             for shard in range(16) for name in sorted(hours)]
    log = server.log_path.with_name("strace.log")
    with log.open("w") as err:
        tracer = subprocess.Popen(
            [strace, "-f", "-o", "/dev/null", "-e", "trace=write",
             "-e", f"inject=write:delay_enter={int(seconds * 1_000_000)}",
             *(arg for path in paths for arg in ("-P", path)), "-p", str(server.process.pid)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    try:
        # "Process N attached with M threads": every thread of the server is held from then.
        wait_for(lambda: "attached" in log.read_text() or tracer.poll() is not None, timeout=10)
        assert tracer.poll() is None, log.read_text()
        yield
    finally:
        stop_process(tracer)


def test_a_login_written_while_its_reader_takes_the_file_is_stored_once(server):
    # Each record is written once. The shard's reader, in the replay's process, may rename
    # the writer's file while the writer is held between its open and its write; the
    # writer's lock (fcntl, the server's process's) keeps the reader from reading it to its
    # end and deleting it before the record is in. Every login must be stored, once. (With
    # the readers in the writer's process, where that lock did not keep them out, one copy
    # lost 55 of 192 logins here.)
    server.wait_logins_replayed()
    mac = "02:00:5E:10:00:07"
    students = list(STUDENTS.items())
    sent = collections.Counter()
    with writes_held(server, 0.25):
        for n in range(32):
            user, password = students[n % len(students)]
            login(server, user, password, mac)
            sent[user] += 1
    server.wait_logins_replayed()
    rows = logged(server, mac)
    stored = collections.Counter(r[0] for r in rows)
    assert stored == sent, (sent - stored, stored - sent, server.log_tail())
    assert len({r[3] for r in rows}) == len(rows) == 32


def test_with_the_replay_down_logins_go_on_and_their_records_wait_on_disk(server):
    # captiva-radius-replay stopped (systemctl stop): the server answers as before, the
    # records wait in the buffer, and the replay, started again, stores each once.
    server.wait_logins_replayed()
    mac = "02:00:5E:10:00:09"
    student, password = next(iter(STUDENTS.items()))
    server.stop_replay()
    try:
        for _ in range(3):
            assert login(server, student, password, mac).code == packet.AccessAccept
        assert login(server, student, "not-her-password", mac).code == packet.AccessReject
        time.sleep(2)
        assert logged(server, mac) == [] and server.login_buffer_files()
    finally:
        server.start_replay()
    server.wait_logins_replayed()
    assert [(r[0], r[1]) for r in logged(server, mac)] == [
        (student, "Access-Accept")] * 3 + [(student, "Access-Reject")]


def test_a_record_the_disk_refuses_goes_straight_to_the_database(server):
    server.wait_logins_replayed()
    mac = "02:00:5E:10:00:08"
    student, password = next(iter(STUDENTS.items()))
    # A file where the buffer's directory was: no shard's file can be opened or made.
    away = server.login_buffer_dir.with_name("login-buffer-away")
    server.login_buffer_dir.rename(away)
    server.login_buffer_dir.write_text("")
    try:
        assert login(server, student, password, mac).code == packet.AccessAccept
        assert login(server, student, "not-her-password", mac).code == packet.AccessReject
        # Stored before the reply, not replayed later.
        assert [(r[0], r[1]) for r in logged(server, mac)] == [
            (student, "Access-Accept"), (student, "Access-Reject")], server.log_tail()
    finally:
        server.login_buffer_dir.unlink()
        away.rename(server.login_buffer_dir)
    assert not server.login_buffer_files()


def guess_failures(server, mac):
    """Failed code logins the guessing throttle holds for the station ``mac``."""
    with server.db.connect() as conn:
        return conn.execute("SELECT count(*) FROM captiva_guess_failure"
                            " WHERE calling_station = captiva_guess_station(%s)",
                            (mac,)).fetchone()[0]


def test_a_read_only_database_judges_every_login_from_reads(server):
    server.wait_logins_replayed()
    mac = "02:00:5E:10:00:04"
    student, password = list(STUDENTS.items())[2]
    code = server.codes[2]
    unknown = next(c for c in ("2222222222", "3333333333") if c not in server.codes)

    assert guess_failures(server, mac) == 0
    server.read_only(True)
    try:
        for _ in range(3):
            reply = login(server, student, password, mac)
            assert reply.code == packet.AccessAccept, server.log_tail()
            assert reply["Session-Timeout"]  # the profile's, read from the database
        # A voucher is judged from reads too (no "Code check unavailable"); its first use
        # waits in the buffer.
        accepted = login(server, code, code, mac)
        assert accepted.code == packet.AccessAccept, server.log_tail()
        assert first_use(server, code) is None
        # A guess is refused as usual; the throttle, which cannot write, counts it later.
        guessed = login(server, unknown, unknown, mac)
        assert guessed.code == packet.AccessReject
        assert "Reply-Message" not in guessed or guessed["Reply-Message"] != [CODE_UNAVAILABLE]
        time.sleep(2)
        assert logged(server, mac) == [] and server.login_buffer_files()
        assert guess_failures(server, mac) == 0
    finally:
        server.read_only(False)
    server.wait_logins_replayed()
    assert [(r[0], r[1]) for r in logged(server, mac)] == [(student, "Access-Accept")] * 3 + [
        (code, "Access-Accept"), (unknown, "Access-Reject")]
    assert first_use(server, code) is not None
    assert guess_failures(server, mac) == 1


def test_every_read_of_a_login_runs_in_a_read_only_transaction(server):
    # What sql_read asks, as FreeRADIUS's role, where nothing may be written (a hot standby):
    # the answers are the login's decisions, not errors.
    student = next(iter(STUDENTS))
    code = server.codes[3]
    with server.db.connect("freeradius") as conn, conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        assert conn.execute("SELECT count(*) FROM captiva_radcheck(%s)",
                            (student,)).fetchone()[0] >= 1
        assert conn.execute("SELECT captiva_login_check_xlat(%s, '127.0.0.1',"
                            " '02:00:5E:10:00:05', '1')", (student,)).fetchone()[0].startswith(
            "accept|")
        assert conn.execute("SELECT captiva_voucher_login_xlat(%s, '127.0.0.1')",
                            (code,)).fetchone()[0].startswith("accept|")
        assert conn.execute("SELECT captiva_voucher_portal_xlat(%s)", (code,)).fetchone() == (
            "accept",)
        assert conn.execute("SELECT captiva_workstation_known('P000000000000000')").fetchone() == (
            "no",)
    # Judged, not used: the code's window has not started.
    assert first_use(server, code) is None


def test_with_drop_a_login_check_without_answer_gets_no_answer_not_a_reject(pg_server,
                                                                           tmp_path_factory):
    # freeradius_db_unavailable "drop" (the HA inventory): a login whose check finds no
    # member after authorize did (here: the check's function refused to FreeRADIUS) is left
    # unanswered, so the router asks its other server; never an Access-Reject.
    variables = roster_variables([{"username": "etu-drop", "password": "etu-drop-Pass-0123",
                                   "promotion": "unlimited", "email": "drop@campus.test"}])
    variables["captiva_hotspot_login_by"] = ["http-pap"]
    roster, errors = validate(variables)
    assert errors == [], errors
    base = tmp_path_factory.mktemp("freeradius-drop")
    with radius_database(pg_server) as db, freeradius_for(
            base, db, {"freeradius_db_unavailable": "drop"}) as radius:
        with db.connect("reconcile") as conn:
            reconcile(conn, roster, now=dt.datetime.now(dt.UTC), check_mode=False)
        assert login(radius, "etu-drop", "etu-drop-Pass-0123", "02:00:5E:10:00:06").code == (
            packet.AccessAccept)
        with db.connect() as conn:
            conn.execute("REVOKE EXECUTE ON FUNCTION captiva_login_check_xlat(text, text, text,"
                         " text) FROM captiva_freeradius")
        assert radius.authenticate("etu-drop", "etu-drop-Pass-0123", timeout=2) is None
        with db.connect() as conn:
            conn.execute("GRANT EXECUTE ON FUNCTION captiva_login_check_xlat(text, text, text,"
                         " text) TO captiva_freeradius")
        assert login(radius, "etu-drop", "etu-drop-Pass-0123", "02:00:5E:10:00:06").code == (
            packet.AccessAccept)
