"""Quota jobs against the real database, a real UDP RADIUS listener and a real SMTP server."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import ssl
import subprocess
import sys
import threading
import time
import tomllib

import psycopg
import pytest
import quota_fixtures
import quota_radius_fixtures
import radius_fixtures
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from ansible_collections.captiva.campus.plugins.module_utils.captiva_radius_plan import reconcile
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster import validate
from processes import free_port
from quota_fixtures import NAS_DOUALA, GiB, add_user, ts
from roster_base import with_hotspot
from routeros_fixtures import start_sim, stop_sim

from captiva.quota import jobs
from captiva.quota.cli import main
from captiva.runtime.jobs_config import parse

# The quota campus (quota_fixtures.py).
db = quota_fixtures.db
radius = quota_fixtures.radius
su = quota_fixtures.su

SECRET = "s3cret-coa-secret"


# --------------------------------------------------------------------------------------------
# A router: tools/routeros-sim with its Disconnect listener, accepting 127.0.0.1 (the RADIUS
# host of these tests) with SECRET. It drops a request with a bad authenticator or
# Message-Authenticator or without Event-Timestamp, and NAKs one with a NAS-IP-Address that is
# not its own: an ACK shows that the request was right, the session gone from its hotspot.


@pytest.fixture
def nas(tmp_path):
    (tmp_path / "nas").mkdir()
    sim = start_sim(tmp_path / "nas")
    sim.accept_disconnects(("127.0.0.1", SECRET))
    yield sim
    stop_sim(sim)


def config(db, **extra):
    data = {"dsn": db.dsns["jobs"], **extra}
    return parse(data)


def test_enforce_disconnects_over_quota_disabled_removed_expired(db, radius, su, nas):
    now = ts("2026-11-21T12:00:00", "Africa/Douala")
    su.execute("UPDATE captiva_router SET coa_port = %s WHERE name = 'hs-douala'",
               (nas.coa_port,))
    add_user(su, "dora", "student", status="disabled")
    add_user(su, "eve", "student", expires=now - dt.timedelta(minutes=1))
    su.execute("INSERT INTO radcheck (username, attribute, op, value) "
               "VALUES ('manual', 'Cleartext-Password', ':=', 'x')")
    users = ["alice", "benoit", "dora", "eve", "ghost", "manual", "carol"]
    for i, user in enumerate(users):
        radius.start(f"s-{user}", user, NAS_DOUALA, now - dt.timedelta(minutes=30),
                     ip=f"10.5.50.{10 + i}")
    nas.add_sessions([{"user": user, "address": f"10.5.50.{10 + i}", "session-id": f"s-{user}"}
                      for i, user in enumerate(users)])
    radius.interim("s-alice", "alice", NAS_DOUALA, now - dt.timedelta(minutes=1), 5 * GiB, 1)
    radius.interim("s-benoit", "benoit", NAS_DOUALA, now - dt.timedelta(minutes=1), GiB, 0)
    radius.interim("s-carol", "carol", NAS_DOUALA, now - dt.timedelta(minutes=1), 99 * GiB, 0)
    routers = {"hs-douala": {"secret": SECRET, "address": "127.0.0.1"}}
    cfg = config(db, routers=routers, enforce={"timeout": 2})

    printed = []
    with db.connect("jobs", autocommit=False) as conn:
        dry = jobs.enforce(conn, cfg, now, dry_run=True, out=printed.append)
    assert dry["sessions"] == 4 and nas.coa()["received"] == 0
    assert any("alice" in line and "daily quota used up" in line for line in printed)

    with db.connect("jobs", autocommit=False) as conn:
        summary = jobs.enforce(conn, cfg, now)
    assert summary["ack"] == 4 and summary["failed"] == 0
    # Gone from the router's hotspot: alice, dora, eve, ghost; not benoit, carol, manual.
    left = {row["user"] for row in nas.rows("/ip/hotspot/active")}
    assert left == {"benoit", "carol", "manual"}
    stats = nas.coa()
    assert (stats["received"], stats["ack"], stats["dropped-auth"],
            stats["dropped-timestamp"]) == (4, 4, 0, 0)
    recorded = dict(su.execute("SELECT username, reason FROM captiva_disconnect").fetchall())
    assert recorded == {"alice": "quota (daily quota used up)", "dora": "disabled",
                        "eve": "expired", "ghost": "removed"}
    assert set(su.execute("SELECT result FROM captiva_disconnect").fetchall()) == {("ack",)}


def test_enforce_records_nak_and_reports_sessions_left_open(db, radius, su, nas, caplog):
    now = dt.datetime.now(dt.UTC)
    su.execute("UPDATE captiva_router SET coa_port = %s", (nas.coa_port,))
    add_user(su, "dora", "student", status="disabled")
    radius.start("s-dora", "dora", NAS_DOUALA, now - dt.timedelta(minutes=30))
    routers = {"hs-douala": {"secret": SECRET, "address": "127.0.0.1"}}
    cfg = config(db, routers=routers, enforce={"grace": 60})
    # The router has no such session: NAK 503 Session-Context-Not-Found.
    with db.connect("jobs", autocommit=False) as conn:
        summary = jobs.enforce(conn, cfg, now)
    assert summary["nak"] == 1 and summary["failed"] == 1
    assert "hs-douala" in summary["failed_routers"]
    assert su.execute("SELECT result, error_cause FROM captiva_disconnect").fetchone() == \
        ("nak", 503)
    # An ACKed session still open after the grace period is reported.
    su.execute("UPDATE captiva_disconnect SET result = 'ack', "
               "requested_at = now() - interval '10 minutes'")
    with db.connect("jobs", autocommit=False) as conn:
        summary = jobs.enforce(conn, cfg, now)
    assert summary["still_open"] == 1
    assert "still open after a Disconnect-ACK" in caplog.text


def test_enforce_without_secret_is_an_error_not_a_crash(db, radius, su):
    now = dt.datetime.now(dt.UTC)
    radius.start("s-x", "ghost", NAS_DOUALA, now)
    with db.connect("jobs", autocommit=False) as conn:
        summary = jobs.enforce(conn, config(db), now)
    assert summary["error"] == 1
    assert "no secret" in su.execute("SELECT detail FROM captiva_disconnect").fetchone()[0]


# --------------------------------------------------------------------------------------------
# close-stale and retention


RENDER_QUOTA_TOML = """\
- name: The quota jobs' configuration, as the portal role writes it
  hosts: localhost
  gather_facts: false
  vars_files:
    - {role}/defaults/main.yml
    - {role}/vars/main.yml
  tasks:
    - name: Render quota.toml
      ansible.builtin.template:
        src: {template}
        dest: {dest}
        mode: "0600"
"""


def rendered_quota_config(tmp_path, db, **variables):
    """roles/portal's quota.toml for an inventory with ``variables`` (the site defaults of
    group_vars/captiva_defaults.yml below them), pointed at the test database."""
    root = radius_fixtures.ROOT
    dest = tmp_path / "quota.toml"
    (tmp_path / "play.yml").write_text(RENDER_QUOTA_TOML.format(
        role=root / "roles/portal", template=root / "roles/portal/templates/quota.toml.j2",
        dest=dest))
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    # An inventory file, not "-i localhost,": the site defaults load for inventory sources.
    (tmp_path / "hosts.yml").write_text("all:\n  hosts:\n    localhost:\n")
    run = subprocess.run(
        [str(root / ".venv/bin/ansible-playbook"), "-i", str(tmp_path / "hosts.yml"),
         "-c", "local",
         str(tmp_path / "play.yml"), "-e", f"@{tmp_path / 'vars.json'}",
         "-e", f"ansible_python_interpreter={sys.executable}"],
        cwd=root, capture_output=True, text=True, timeout=120, check=False,
        env=dict(os.environ, ANSIBLE_CONFIG=str(root / "ansible.cfg"), ANSIBLE_NOCOLOR="1"))
    assert run.returncode == 0, run.stdout[-3000:]
    data = tomllib.loads(dest.read_text())
    return parse(dict(data, dsn=db.dsns["jobs"]))


def test_close_stale_waits_three_of_the_inventory_interim_intervals(db, radius, su, tmp_path):
    # One setting: the interval the routers are given (captiva_interim_interval) is the one
    # close-stale counts in. Before, quota.toml said 300 s whatever the inventory said, so a
    # 30-minute interim made close-stale end live sessions after 15 minutes of silence.
    now = ts("2026-11-21T12:00:00", "Africa/Douala")
    radius.start("s", "alice", NAS_DOUALA, now - dt.timedelta(hours=2))
    radius.interim("s", "alice", NAS_DOUALA, now - dt.timedelta(minutes=20), 10, 10)
    thirty = rendered_quota_config(tmp_path, db, captiva_interim_interval="30m")
    assert thirty.interim_interval == 1800
    with db.connect("jobs", autocommit=False) as conn:
        assert jobs.close_stale(conn, thirty, now)["closed"] == 0
    assert su.execute("SELECT acctstoptime FROM radacct").fetchone()[0] is None
    # The site default (5m): 20 minutes of silence is stale.
    default = rendered_quota_config(tmp_path, db)
    assert default.interim_interval == 300
    with db.connect("jobs", autocommit=False) as conn:
        assert jobs.close_stale(conn, default, now)["closed"] == 1


def test_close_stale_closes_never_deletes(db, radius, su):
    now = dt.datetime.now(dt.UTC)
    radius.start("old", "alice", NAS_DOUALA, now - dt.timedelta(hours=2))
    radius.interim("old", "alice", NAS_DOUALA, now - dt.timedelta(minutes=40), 10, 10)
    radius.start("fresh", "benoit", NAS_DOUALA, now - dt.timedelta(hours=2))
    radius.interim("fresh", "benoit", NAS_DOUALA, now - dt.timedelta(minutes=5), 10, 10)
    cfg = config(db, close_stale={"interim_interval": 300, "multiple": 3})
    with db.connect("jobs", autocommit=False) as conn:
        assert jobs.close_stale(conn, cfg, now, dry_run=True, out=lambda s: None)["stale"] == 1
        assert jobs.close_stale(conn, cfg, now)["closed"] == 1
    rows = su.execute("SELECT acctsessionid, acctstoptime, acctterminatecause, acctsessiontime "
                      "FROM radacct ORDER BY acctsessionid").fetchall()
    assert rows[1][0] == "old" and rows[1][2] == "Stale-Session"
    assert rows[1][1] == (now - dt.timedelta(minutes=40)).replace(microsecond=rows[1][1]
                                                                   .microsecond)
    assert rows[1][3] == 80 * 60
    assert rows[0][0] == "fresh" and rows[0][1] is None
    # Usage is untouched.
    assert su.execute("SELECT sum(bytes_in) FROM captiva_usage_daily").fetchone()[0] == 20


def test_a_stale_code_session_is_logged_by_its_radacct_row_never_by_its_code(
        db, radius, su, caplog):
    """A voucher's username is also its password (docs/portal.md, "Labels, never codes"): the
    journal and a dry run name the session by its radacct row, and a roster user by name."""
    code = "K7HM3XPW9H"  # shaped like a voucher code; the voucher stays valid after close-stale
    now = dt.datetime.now(dt.UTC)
    radius.start("v-old", code, NAS_DOUALA, now - dt.timedelta(hours=2))
    radius.start("a-old", "alice", NAS_DOUALA, now - dt.timedelta(hours=2))
    (radacctid,) = su.execute("SELECT radacctid FROM radacct WHERE acctsessionid = 'v-old'"
                              ).fetchone()
    cfg = config(db, close_stale={"interim_interval": 300, "multiple": 3})
    printed: list[str] = []
    caplog.set_level(logging.INFO, logger="captiva.quota")
    with db.connect("jobs", autocommit=False) as conn:
        assert jobs.close_stale(conn, cfg, now, dry_run=True, out=printed.append)["stale"] == 2
        assert jobs.close_stale(conn, cfg, now)["closed"] == 2
    told = "\n".join(printed) + caplog.text
    assert code not in told
    assert told.count(f"code (radacct {radacctid})") == 2
    assert told.count("'alice'") == 2


def scans(su, table="radacct"):
    su.execute("SELECT pg_stat_clear_snapshot()")
    return su.execute("SELECT seq_scan, idx_scan FROM pg_stat_user_tables WHERE relname = %s",
                      (table,)).fetchone()


def test_close_stale_reads_only_the_open_sessions(db, radius, su):
    """Without the index on acctupdatetime (dropped by 0130 so that interims are HOT),
    close-stale and the report still read only the open sessions, through a partial index on
    acctstoptime IS NULL: no sequential scan of radacct, however many closed sessions."""
    now = dt.datetime.now(dt.UTC)
    su.execute("""
        INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress,
                             acctstarttime, acctupdatetime, acctstoptime)
        SELECT 'c' || g, 'u-c' || g, 'user' || (g % 500), '10.20.0.2',
               now() - interval '3 days', now() - interval '2 days', now() - interval '2 days'
        FROM generate_series(1, 30000) AS g""")
    radius.start("stale", "alice", NAS_DOUALA, now - dt.timedelta(hours=2))
    radius.start("fresh", "benoit", NAS_DOUALA, now - dt.timedelta(minutes=5))
    su.execute("ANALYZE radacct")
    before = scans(su)
    cfg = config(db, close_stale={"interim_interval": 300, "multiple": 3})
    with db.connect("jobs", autocommit=False) as conn:
        assert jobs.report(conn, cfg, now, out=lambda s: None)["stale_sessions"] == 1
        assert jobs.close_stale(conn, cfg, now, dry_run=True, out=lambda s: None)["stale"] == 1
        assert jobs.close_stale(conn, cfg, now)["closed"] == 1
    deadline = time.monotonic() + 15
    while scans(su)[1] == before[1] and time.monotonic() < deadline:
        time.sleep(0.2)
    seq, idx = scans(su)
    assert seq == before[0], "a job scanned all of radacct"
    assert idx > before[1]


def test_retention_moves_closed_rows_in_batches_without_loss(db, radius, su):
    now = dt.datetime.now(dt.UTC)
    old = now - dt.timedelta(days=400)
    for i in range(23):
        radius.start(f"c{i}", "alice", NAS_DOUALA, old)
        radius.stop(f"c{i}", "alice", NAS_DOUALA, old + dt.timedelta(hours=1), 100 + i, 1)
    radius.start("open-old", "alice", NAS_DOUALA, old)  # never closed: never moved
    radius.start("recent", "alice", NAS_DOUALA, now - dt.timedelta(days=1))
    radius.stop("recent", "alice", NAS_DOUALA, now, 5, 5)
    su.execute("INSERT INTO radpostauth (username, reply, authdate) SELECT 'alice', "
               "'Access-Accept', now() - (g || ' days')::interval FROM generate_series(1, 200) g")
    before = su.execute("SELECT sum(acctinputoctets), count(*) FROM radacct").fetchone()
    usage_before = su.execute("SELECT sum(bytes_in) FROM captiva_usage_daily").fetchone()
    cfg = config(db, retention={"radacct_days": 365, "radpostauth_days": 90, "batch_size": 5})
    with db.connect("jobs", autocommit=False) as conn:
        dry = jobs.retention(conn, cfg, now, dry_run=True, out=lambda s: None)
        assert (dry["would_radacct"], dry["would_radpostauth"]) == (23, 110)
        summary = jobs.retention(conn, cfg, now)
    assert (summary["radacct"], summary["radpostauth"]) == (23, 110)
    left = {r[0] for r in su.execute("SELECT acctsessionid FROM radacct").fetchall()}
    assert left == {"open-old", "recent"}
    after = su.execute(
        "SELECT sum(s), sum(n) FROM (SELECT sum(acctinputoctets) s, count(*) n FROM radacct "
        "UNION ALL SELECT sum(acctinputoctets), count(*) FROM radacct_history) x").fetchone()
    assert after == before
    assert su.execute("SELECT sum(bytes_in) FROM captiva_usage_daily").fetchone() == usage_before
    assert su.execute("SELECT count(*) FROM radpostauth_history").fetchone()[0] == 110
    assert su.execute("SELECT count(*) FROM radpostauth").fetchone()[0] == 90


def test_a_vouchers_archived_sessions_still_count_toward_its_limits(db, radius, su):
    """Retention moves a voucher's closed sessions to radacct_history: its data used must
    not come back with them (captiva_voucher_judgements reads both tables)."""
    now = dt.datetime.now(dt.UTC)
    code = "K7HM3XPW9H"
    su.execute("INSERT INTO captiva_voucher_batch (name, profile, time_credit, starts_at, "
               "ends_at, data_cap, count) VALUES ('conf', 'basic', 360000, %s, %s, 1000, 1)",
               (now - dt.timedelta(days=800), now + dt.timedelta(days=30)))
    su.execute("INSERT INTO captiva_voucher (code, batch, index) VALUES (%s, 'conf', 1)",
               (code,))
    old = now - dt.timedelta(days=400)
    radius.start("v1", code, NAS_DOUALA, old)
    radius.stop("v1", code, NAS_DOUALA, old + dt.timedelta(hours=1), 900, 200, 3600)

    def login():
        with db.connect("freeradius") as conn:
            return conn.execute("SELECT captiva_voucher_login_xlat(%s, %s)",
                                (code, NAS_DOUALA)).fetchone()[0]

    assert login().startswith("reject|Données épuisées")
    cfg = config(db, retention={"radacct_days": 365})
    with db.connect("jobs", autocommit=False) as conn:
        assert jobs.retention(conn, cfg, now)["radacct"] == 1
    assert su.execute("SELECT count(*) FROM radacct").fetchone()[0] == 0
    assert login().startswith("reject|Données épuisées")


def history_partitions(su):
    return sorted(r[0] for r in su.execute(
        "SELECT inhrelid::regclass::text FROM pg_inherits "
        "WHERE inhparent = 'radacct_history'::regclass").fetchall())


def test_retention_drops_whole_history_months_and_touches_nothing_else(db, radius, su):
    """radacct_history is partitioned by month of the stop time (migration 0130): retention
    creates the partitions the rows it moves need, empties the DEFAULT partition into the
    months it creates, and drops the months that ended before history_days, row by row
    nothing."""
    now = ts("2026-11-21T12:00:00")
    for session, stop in (("jul", "2026-07-10"), ("aug", "2026-08-10"), ("sep", "2026-09-15"),
                          ("recent", "2026-11-20")):
        stopped = ts(f"{stop}T10:00:00")
        radius.start(session, "alice", NAS_DOUALA, stopped - dt.timedelta(hours=1))
        radius.stop(session, "alice", NAS_DOUALA, stopped, 1000, 10, 3600)
    radius.start("open", "benoit", NAS_DOUALA, now - dt.timedelta(days=60))
    # Rows already in the history whose months have no partition: the DEFAULT partition.
    su.execute("""
        INSERT INTO radacct_history (radacctid, acctsessionid, acctuniqueid, username,
                                     nasipaddress, acctstarttime, acctstoptime)
        VALUES (900001, 'old-default', 'u-old-default', 'alice', '10.20.0.2',
                '2024-03-01 10:00+00', '2024-03-01 11:00+00'),
               (900002, 'sep-default', 'u-sep-default', 'alice', '10.20.0.2',
                '2026-09-02 10:00+00', '2026-09-02 11:00+00')""")
    assert history_partitions(su) == ["radacct_history_default"]
    assert (su.execute("SELECT count(*) FROM radacct_history_default").fetchone()[0]) == 2
    live_before = su.execute("SELECT * FROM radacct WHERE acctsessionid IN ('recent', 'open') "
                             "ORDER BY radacctid").fetchall()
    usage_before = su.execute("SELECT * FROM captiva_usage_daily ORDER BY 1, 2").fetchall()
    su.execute("INSERT INTO radpostauth_history (id, username, reply, authdate) "
               "VALUES (1, 'alice', 'Access-Accept', now())")
    cfg = config(db, retention={"radacct_days": 30, "history_days": 90})
    with db.connect("jobs", autocommit=False) as conn:
        # The dry run creates nothing: no partition is due yet (2024-03 waits in the default).
        assert jobs.retention(conn, cfg, now, dry_run=True, out=lambda s: None)[
            "would_drop"] == []
        summary = jobs.retention(conn, cfg, now)
    # Archived: the sessions closed before 2026-10-22; then the months that ended before
    # 2026-08-23 dropped. August stays (it ended after the cutoff): a month at most longer.
    assert summary["radacct"] == 3
    assert summary["history_partitions_dropped"] == ["radacct_history_2024_03",
                                                     "radacct_history_2026_07"]
    assert history_partitions(su) == ["radacct_history_2026_08", "radacct_history_2026_09",
                                      "radacct_history_2026_11", "radacct_history_2026_12",
                                      "radacct_history_default"]
    assert su.execute("SELECT acctsessionid, tableoid::regclass::text FROM radacct_history "
                      "ORDER BY acctstoptime").fetchall() == [
        ("aug", "radacct_history_2026_08"), ("sep-default", "radacct_history_2026_09"),
        ("sep", "radacct_history_2026_09")]
    # Nothing else touched: the live sessions, usage, the post-auth history.
    assert su.execute("SELECT * FROM radacct ORDER BY radacctid").fetchall() == live_before
    assert su.execute("SELECT * FROM captiva_usage_daily ORDER BY 1, 2").fetchall() == (
        usage_before)
    assert su.execute("SELECT count(*) FROM radpostauth_history").fetchone()[0] == 1
    # Idempotent: a second run creates and drops nothing.
    with db.connect("jobs", autocommit=False) as conn:
        assert jobs.retention(conn, cfg, now + dt.timedelta(days=10), dry_run=True,
                              out=lambda s: None)["would_drop"] == ["radacct_history_2026_08"]
        again = jobs.retention(conn, cfg, now)
    assert (again["radacct"], again["history_partitions_dropped"], again["history_purged"]) == (
        0, [], 0)
    assert len(history_partitions(su)) == 5
    # A row that lands in the DEFAULT partition between two runs (a month retention did not
    # prepare) is deleted once older than the history cutoff.
    su.execute("INSERT INTO radacct_history (radacctid, acctsessionid, acctuniqueid, "
               "nasipaddress, acctstoptime) VALUES (900003, 'x', 'u-x', '10.20.0.2', "
               "'2020-01-05 00:00+00')")
    with db.connect("jobs") as conn:
        assert conn.execute("SELECT * FROM captiva_history_drop('radacct_history', %s)",
                            (now - dt.timedelta(days=90),)).fetchall() == [
            ("radacct_history_default", 1)]
    assert su.execute("SELECT count(*) FROM radacct_history").fetchone()[0] == 3


def test_retention_names_a_detached_partition_instead_of_looping(db, su):
    """A month's partition detached by hand while rows of that month wait in the DEFAULT
    partition: retention stops with an error naming both, never spins or moves a row."""
    su.execute("SELECT captiva_history_partition('radacct_history', '2026-09-10')")
    su.execute("ALTER TABLE radacct_history DETACH PARTITION radacct_history_2026_09")
    su.execute("INSERT INTO radacct_history (radacctid, acctsessionid, acctuniqueid, "
               "nasipaddress, acctstoptime) VALUES (1, 's', 'u-s', '10.20.0.2', "
               "'2026-09-15 00:00+00')")
    cfg = config(db, retention={"radacct_days": 30})
    with db.connect("jobs", autocommit=False) as conn, pytest.raises(
            psycopg.errors.RaiseException,
            match="radacct_history_2026_09 exists and is not its partition"):
        jobs.retention(conn, cfg, ts("2026-11-21T12:00:00"))
    assert su.execute("SELECT tableoid::regclass::text FROM radacct_history").fetchall() == [
        ("radacct_history_default",)]


# --------------------------------------------------------------------------------------------
# alerts through a real SMTP server with STARTTLS and AUTH


@pytest.fixture
def smtp_server(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
            .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)

    class Handler:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
            self.messages.append({"to": envelope.rcpt_tos, "tls": session.ssl is not None,
                                  "auth": session.authenticated,
                                  "data": envelope.content.decode("utf-8")})
            return "250 OK"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"captiva" \
            and auth_data.password == b"mail-pass"
        return AuthResult(success=ok)

    handler = Handler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True, auth_required=True,
                            authenticator=authenticator, server_hostname="localhost")
    controller.start()
    yield {"handler": handler, "port": port, "ca": str(cert_file)}
    controller.stop()


def test_alerts_mail_once_in_the_users_language(db, radius, su, smtp_server, tmp_path):
    now = ts("2026-11-21T12:00:00", "Africa/Douala")  # far from midnight: one daily period
    add_user(su, "fanny", "staff", language="fr", expires=now + dt.timedelta(days=1, hours=1))
    radius.start("a", "alice", NAS_DOUALA, now - dt.timedelta(minutes=30))
    radius.interim("a", "alice", NAS_DOUALA, now - dt.timedelta(minutes=1),
                   5 * GiB * 82 // 100 + 10, 0)
    radius.start("b", "benoit", NAS_DOUALA, now - dt.timedelta(minutes=30))
    radius.interim("b", "benoit", NAS_DOUALA, now - dt.timedelta(minutes=1),
                   5 * GiB * 98 // 100 + 10, 0)
    smtp = {"host": "localhost", "port": smtp_server["port"], "username": "captiva",
            "password": "mail-pass", "from": "wifi@campus.example",
            "ca_file": smtp_server["ca"], "timeout": 10}
    cfg = config(db, smtp=smtp, alerts={"portal_url": "https://wifi.campus.example/"})

    printed = []
    with db.connect("jobs", autocommit=False) as conn:
        assert jobs.alerts(conn, cfg, now, dry_run=True, out=printed.append)["due"] == 3
    assert smtp_server["handler"].messages == []
    assert su.execute("SELECT count(*) FROM captiva_alert_sent").fetchone()[0] == 0

    with db.connect("jobs", autocommit=False) as conn:
        summary = jobs.alerts(conn, cfg, now)
    assert summary == {"due": 3, "sent": 3, "failed": 0}
    messages = {m["to"][0]: m for m in smtp_server["handler"].messages}
    assert set(messages) == {"alice@campus.example", "benoit@campus.example",
                             "fanny@campus.example"}
    assert all(m["tls"] and m["auth"] for m in messages.values())
    alice = messages["alice@campus.example"]["data"]
    assert "Subject: Wi-Fi: 82% of your daily quota used" in alice
    assert "of your daily Wi-Fi quota of 5 GiB" in alice
    assert "https://wifi.campus.example/" in alice
    benoit = messages["benoit@campus.example"]["data"]
    assert "98 % de votre quota journalier" in benoit  # 95 % mailed; 80 % covered
    fanny = messages["fanny@campus.example"]["data"]
    assert "expire dans 2 jour(s)" in fanny
    sent = su.execute("SELECT username, kind, period, threshold, mailed FROM captiva_alert_sent "
                      "ORDER BY username, threshold").fetchall()
    assert sent == [("alice", "quota", "daily", 80, True),
                    ("benoit", "quota", "daily", 80, False),
                    ("benoit", "quota", "daily", 95, True),
                    ("fanny", "expiry", "account", 2, True),
                    ("fanny", "expiry", "account", 7, False)]

    # Second run: nothing new. A higher threshold later: one more mail.
    with db.connect("jobs", autocommit=False) as conn:
        assert jobs.alerts(conn, cfg, now)["sent"] == 0
    radius.interim("a", "alice", NAS_DOUALA, now, 5 * GiB * 96 // 100 + 10, 0)
    with db.connect("jobs", autocommit=False) as conn:
        assert jobs.alerts(conn, cfg, now)["sent"] == 1
    assert len(smtp_server["handler"].messages) == 4

    # An admin's template overrides the built-in one.
    (tmp_path / "quota.en.txt").write_text("Subject: Custom $percent\n\nHi $username\n")
    su.execute("UPDATE captiva_profile SET quota_monthly = 6 * 1024^3 WHERE name = 'student'")
    cfg = config(db, smtp=smtp, alerts={"templates_dir": str(tmp_path)})
    with db.connect("jobs", autocommit=False) as conn:
        assert jobs.alerts(conn, cfg, now)["sent"] == 2  # alice, benoit: monthly 80 %
    custom = [m for m in smtp_server["handler"].messages if "Subject: Custom" in m["data"]]
    assert len(custom) == 1 and "Hi alice" in custom[0]["data"]


def test_alert_mail_failure_is_retried_next_run(db, radius, su):
    now = ts("2026-11-21T12:00:00", "Africa/Douala")
    radius.start("a", "alice", NAS_DOUALA, now - dt.timedelta(minutes=30))
    radius.interim("a", "alice", NAS_DOUALA, now, 5 * GiB * 82 // 100 + 10, 0)
    cfg = config(db, smtp={"host": "127.0.0.1", "port": free_port(), "timeout": 2})
    with db.connect("jobs", autocommit=False) as conn:
        assert jobs.alerts(conn, cfg, now) == {"due": 1, "sent": 0, "failed": 1}
    assert su.execute("SELECT count(*) FROM captiva_alert_sent").fetchone()[0] == 0


# --------------------------------------------------------------------------------------------
# CLI


def test_cli_report_and_dry_run(db, radius, su, tmp_path, capsys):
    now = ts("2026-11-21T20:00:00", "Africa/Douala")
    radius.start("a", "alice", NAS_DOUALA, now - dt.timedelta(hours=1))
    radius.interim("a", "alice", NAS_DOUALA, now, 6 * GiB, 0)
    conf = tmp_path / "quota.toml"
    conf.write_text(f'dsn = "{db.dsns["jobs"]}"\n[routers.hs-douala]\nsecret = "x"\n')
    assert main(["--config", str(conf), "--now", now.isoformat(), "report"]) == 0
    out = capsys.readouterr().out
    assert "daily" in out and "1 users at quota" in out and "alice" in out
    assert main(["enforce", "--dry-run", "--config", str(conf), "--now", now.isoformat()]) == 0
    assert "would disconnect 'alice'" in capsys.readouterr().out
    assert su.execute("SELECT count(*) FROM captiva_disconnect").fetchone()[0] == 0
    bad = tmp_path / "bad.toml"
    bad.write_text('dsn = ""\n')
    assert main(["--config", str(bad), "report"]) == 2


# --------------------------------------------------------------------------------------------
# enforce through real FreeRADIUS accounting and the routers' Disconnect listeners
# (tools/routeros-sim): the answer is checked where it matters, in /ip/hotspot/active.

radius_server = radius_fixtures.radius_server

ANSWERING, SILENT, NAKING = "gw-douala", "gw-paris", "gw-douala-2"
NAKING_NAS = "10.20.0.3"
SIM_SECRETS = {ANSWERING: "a" * 24, SILENT: "p" * 24, NAKING: "n" * 24}


@pytest.fixture(scope="module")
def campus(radius_server):
    """The quota campus of quota_radius_fixtures plus a third router, no roster users: every
    session opened below is of a removed user."""
    variables = quota_radius_fixtures.roster_variables([])
    variables["captiva_sites"][0]["routers"].append({
        "name": NAKING, "address": NAKING_NAS, "radius_secret": "n" * 24,
        "api": {"username": "captiva", "password": "api-password-3"}})
    roster, errors = validate(with_hotspot(variables))
    assert errors == [], errors
    with radius_server.db.connect("reconcile") as conn:
        reconcile(conn, roster, now=dt.datetime.now(dt.UTC), check_mode=False)
    return radius_server


@pytest.fixture
def routers(campus, tmp_path):
    """One simulated router per roster router, accepting Disconnects from 127.0.0.1 (the
    RADIUS host in these tests) with its secret; the test empties accounting afterwards."""
    sims = {}
    try:
        for name in (ANSWERING, SILENT, NAKING):
            (tmp_path / name).mkdir()
            sims[name] = start_sim(tmp_path / name)
            sims[name].accept_disconnects(("127.0.0.1", SIM_SECRETS[name]))
        sims[SILENT].command("/captiva-sim/coa/set", mode="silent")
        sims[NAKING].command("/captiva-sim/coa/set", mode="nak")
        yield sims
    finally:
        for sim in sims.values():
            stop_sim(sim)
        with campus.db.connect() as conn:
            conn.execute("DELETE FROM captiva_disconnect; DELETE FROM radacct; "
                         "DELETE FROM captiva_usage_daily")


def open_sessions(server, nas_ip: str, prefix: str, count: int, sim=None) -> list[dict]:
    """``count`` sessions started through FreeRADIUS (and on the router's hotspot)."""
    nas = quota_radius_fixtures.Nas(server, nas_ip)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    sessions = []
    for n in range(count):
        session = {"user": f"{prefix}-{n:04d}", "address": f"10.{60 + n // 65025}."
                   f"{n // 255 % 255}.{n % 255 + 1}", "session-id": f"{prefix}{n:06x}"}
        nas.send("Start", at=start, username=session["user"],
                 session_id=session["session-id"], Framed_IP_Address=session["address"])
        sessions.append(session)
    if sim is not None:
        sim.add_sessions(sessions)
    return sessions


def job_config(tmp_path, sims, **enforce) -> dict:
    return {
        "dsn": None,
        "routers": {name: {"secret": SIM_SECRETS[name], "address": "127.0.0.1",
                           "coa_port": sim.coa_port} for name, sim in sims.items()},
        "enforce": {"timeout": 2, "retries": 1, "per_router": 32, "unreachable_after": 5,
                    "budget": 40, **enforce},
        "jobs": {"lock_dir": str(tmp_path / "locks"), "metrics_dir": str(tmp_path)},
    }


def write_config(tmp_path, server, data) -> str:
    data = {**data, "dsn": server.db.dsns["jobs"]}
    path = tmp_path / "quota.json"
    path.write_text(json.dumps(data))
    return str(path)


def results(server) -> dict[tuple[str, str], int]:
    with server.db.connect() as conn:
        rows = conn.execute(
            "SELECT r.name, d.result, count(*) FROM captiva_disconnect AS d "
            "JOIN captiva_router AS r ON r.nasipaddress = d.nasipaddress "
            "GROUP BY 1, 2").fetchall()
    return {(name, result): count for name, result, count in rows}


def test_enforce_3000_sessions_one_router_silent_one_naking(campus, routers, tmp_path,
                                                            caplog):
    per_router = 1000
    open_sessions(campus, quota_radius_fixtures.DOUALA_NAS, "ans", per_router,
                  routers[ANSWERING])
    open_sessions(campus, quota_radius_fixtures.PARIS_NAS, "sil", per_router)
    open_sessions(campus, NAKING_NAS, "nak", per_router, routers[NAKING])
    quota_radius_fixtures.wait_replayed(campus, timeout=120)
    path = write_config(tmp_path, campus, job_config(tmp_path, routers))
    window = 4.0  # timeout 2 s x (1 + 1 retry)

    outcome = {}

    def first_run():
        began = time.monotonic()
        outcome["rc"] = main(["--config", path, "enforce"])
        outcome["seconds"] = time.monotonic() - began

    caplog.set_level(logging.INFO, logger="captiva.quota")
    runner = threading.Thread(target=first_run)
    runner.start()
    # While the first run waits on the silent router, the next one starts and exits at once.
    radius_fixtures.wait_for(lambda: routers[SILENT].coa()["received"] > 0, timeout=30)
    began = time.monotonic()
    assert main(["--config", path, "enforce"]) == 0
    # At once: the lock is taken, so it never waits for the first run's sessions (bounds
    # with room for a loaded machine; waiting would cost the first run's whole window).
    assert time.monotonic() - began < 30
    assert "another run is going on" in caplog.text
    runner.join(timeout=120)

    assert outcome["rc"] == 1
    # Each answering router's sessions end: gone from the hotspot, as the API shows.
    assert routers[ANSWERING].rows("/ip/hotspot/active") == []
    assert len(routers[NAKING].rows("/ip/hotspot/active")) == per_router
    # The silent router cost one window for all its sessions: the 32 in flight timed out
    # together, and its other sessions were skipped; one at a time would take 4,000 s.
    assert outcome["seconds"] < 2 * window + 120
    got = results(campus)
    assert got == {(ANSWERING, "ack"): per_router, (NAKING, "nak"): per_router,
                   (SILENT, "timeout"): 32}
    assert routers[SILENT].coa()["received"] == 32 * 2  # each sent once, retried once
    assert f"router {SILENT} failed: unreachable" in caplog.text
    assert f"router {NAKING} failed: {per_router} NAK" in caplog.text
    prom = (tmp_path / "captiva_quota_enforce.prom").read_text()
    assert f'captiva_quota_enforce_router_unreachable{{router="{SILENT}"}} 1' in prom
    assert f'captiva_quota_enforce_router_failed{{router="{NAKING}"}} 1' in prom
    assert f'captiva_quota_enforce_router_failed{{router="{ANSWERING}"}} 0' in prom
    # ... and in the database, for the admin view (the skipped overlapping run is not a run).
    with campus.db.connect("portal") as conn:
        runs = conn.execute("SELECT job, failed, failed_routers FROM captiva_job_run").fetchall()
    assert len(runs) == 1 and runs[0][:2] == ("enforce", 2 * per_router)
    assert set(runs[0][2]) == {SILENT, NAKING}
    assert runs[0][2][SILENT].startswith("unreachable")

    # The next run: the ACKed sessions (still open in radacct until the router's Stop) are
    # not asked again, and their ACK stays recorded once.
    routers[ANSWERING].command("/captiva-sim/coa/set", reset="yes")
    assert main(["--config", path, "enforce"]) == 1
    assert results(campus)[(ANSWERING, "ack")] == per_router
    assert routers[ANSWERING].coa()["received"] == 0


def test_a_session_closed_after_listing_is_not_disconnected(campus, routers, tmp_path):
    answering = routers[ANSWERING]
    first, second = open_sessions(campus, quota_radius_fixtures.DOUALA_NAS, "cls", 2,
                                  answering)
    quota_radius_fixtures.wait_replayed(campus)
    # One request at a time, answered after 5 s: the second session closes meanwhile (its Stop
    # through FreeRADIUS and the buffered-sql replay take well under that).
    answering.command("/captiva-sim/coa/set", delay="5")
    data = job_config(tmp_path, {ANSWERING: answering}, timeout=8, retries=0, per_router=1,
                      unreachable_after=1)
    cfg = parse({**data, "dsn": campus.db.dsns["jobs"]})
    summary = {}

    def run():
        with campus.db.connect("jobs", autocommit=False) as conn:
            summary.update(jobs.enforce(conn, cfg, dt.datetime.now(dt.UTC)))

    runner = threading.Thread(target=run)
    runner.start()
    radius_fixtures.wait_for(lambda: answering.coa()["received"] == 1, timeout=30)
    quota_radius_fixtures.Nas(campus).send(
        "Stop", at=dt.datetime.now(dt.UTC), username=second["user"],
        session_id=second["session-id"], session_time=300, bytes_in=0, bytes_out=0,
        Framed_IP_Address=second["address"], Acct_Terminate_Cause="User-Request")
    quota_radius_fixtures.wait_replayed(campus)
    runner.join(timeout=30)

    assert (summary["ack"], summary["closed_meanwhile"], summary["failed"]) == (1, 1, 0)
    assert answering.coa()["received"] == 1  # nothing sent for the closed session
    assert {row["user"] for row in answering.rows("/ip/hotspot/active")} == {second["user"]}
    with campus.db.connect() as conn:
        assert conn.execute("SELECT username, result FROM captiva_disconnect").fetchall() == [
            (first["user"], "ack")]


def test_requests_from_an_address_the_router_does_not_know_are_ignored(campus, routers,
                                                                        tmp_path):
    answering = routers[ANSWERING]
    open_sessions(campus, quota_radius_fixtures.DOUALA_NAS, "src", 3, answering)
    quota_radius_fixtures.wait_replayed(campus)
    data = job_config(tmp_path, {ANSWERING: answering}, source_address="127.0.0.2")
    with campus.db.connect("jobs", autocommit=False) as conn:
        summary = jobs.enforce(conn, parse({**data, "dsn": campus.db.dsns["jobs"]}),
                               dt.datetime.now(dt.UTC))
    assert summary["timeout"] == 3 and ANSWERING in summary["failed_routers"]
    assert answering.coa()["dropped-source"] == 6  # 3 requests, each retried once
    assert len(answering.rows("/ip/hotspot/active")) == 3
    # The router's own setting wins: from the address of its /radius entry, it works.
    data["routers"][ANSWERING]["source_address"] = "127.0.0.1"
    with campus.db.connect("jobs", autocommit=False) as conn:
        summary = jobs.enforce(conn, parse({**data, "dsn": campus.db.dsns["jobs"]}),
                               dt.datetime.now(dt.UTC))
    assert (summary["ack"], summary["failed"]) == (3, 0)
    assert answering.rows("/ip/hotspot/active") == []


def test_a_run_stops_within_its_budget_and_leaves_the_rest(campus, routers, tmp_path):
    answering = routers[ANSWERING]
    open_sessions(campus, quota_radius_fixtures.DOUALA_NAS, "bdg", 3, answering)
    quota_radius_fixtures.wait_replayed(campus)
    answering.command("/captiva-sim/coa/set", delay="1")
    # One request at a time, 1 s each; none starts unless its 2 s window fits the 3.5 s.
    data = job_config(tmp_path, {ANSWERING: answering}, timeout=2, retries=0, per_router=1,
                      unreachable_after=1, budget=3.5)
    began = time.monotonic()
    with campus.db.connect("jobs", autocommit=False) as conn:
        summary = jobs.enforce(conn, parse({**data, "dsn": campus.db.dsns["jobs"]}),
                               dt.datetime.now(dt.UTC))
    assert time.monotonic() - began < 3.5
    assert (summary["ack"], summary["deferred"], summary["failed"]) == (2, 1, 0)
    assert len(answering.rows("/ip/hotspot/active")) == 1  # for the next run


def test_a_run_on_another_host_holding_the_lock_makes_this_one_exit(db, tmp_path, caplog):
    from captiva.quota.cli import ADVISORY_CLASS, LOCKED_JOBS

    path = tmp_path / "quota.json"
    path.write_text(json.dumps({"dsn": db.dsns["jobs"],
                                "jobs": {"lock_dir": str(tmp_path / "locks")}}))
    with db.connect() as other_host:
        other_host.execute("SELECT pg_advisory_lock(%s, %s)",
                           (ADVISORY_CLASS, LOCKED_JOBS.index("close-stale")))
        assert main(["--config", str(path), "close-stale"]) == 0
        assert "another run is going on" in caplog.text
        caplog.clear()
        assert main(["--config", str(path), "retention"]) == 0  # other jobs are not held
        assert "another run" not in caplog.text
