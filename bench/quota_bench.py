"""Quota engine benchmark on a throw-away PostgreSQL 15.

    .venv/bin/python bench/quota_bench.py [--rows 1000000] [--users 50000] [--interims 5000]

Loads --rows radacct rows for --users users (5 % of users with an open session) into a
PostgreSQL with fsync and synchronous_commit on, then runs the jobs doing their real work:

- enforce: Disconnect-Requests to 20 tools/routeros-sim routers (their RADIUS Disconnect
  listeners on 127.0.0.1, each holding its open sessions as hotspot sessions, so the answers
  are ACKs that remove them), the requests and answers recorded in the database;
- alerts: the mails sent to an SMTP server on 127.0.0.1 (aiosmtpd, no TLS), each counted on
  arrival, and recorded in captiva_alert_sent;
- close-stale: the UPDATE closing the silent sessions;
- report.

``--dry-run`` times the selections only (no packet, no mail, no UPDATE), as this bench did
before. First times FreeRADIUS's interim-update UPDATE sent by hand (dated a day ago, so the
sessions stay silent for close-stale), one transaction each,
through the usage trigger (not the deployed path: ``make bench-radius`` measures that, from the
router's packet). Targets: each job within its budget (captiva.runtime.jobs_config: enforce 40 s,
close-stale 240 s, alerts 600 s, report 300 s; 5 s each for the selections of --dry-run), the
hand-written ingestion >= 1,000 updates/s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "collections"))  # the collection captiva.campus (this tree)
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from ansible_collections.captiva.campus.plugins.module_utils.captiva_migrations import (  # noqa: E402
    apply_functions,
    load_functions,
    load_migrations,
    migrate,
)

from captiva.quota import jobs  # noqa: E402
from captiva.runtime.jobs_config import DEFAULT_BUDGETS, parse  # noqa: E402

ROUTER_SECRET = "bench-quota-router-secret-0123456789"
PG_BIN = Path(os.environ.get("CAPTIVA_PG_BIN", "/usr/lib/postgresql/15/bin"))

INTERIM = """
UPDATE radacct SET
    FramedIPAddress = NULLIF(%(ip)s, '')::inet,
    AcctSessionTime = %(stime)s,
    AcctInterval = (%(t)s - EXTRACT(EPOCH FROM (COALESCE(AcctUpdateTime, AcctStartTime)))),
    AcctUpdateTime = TO_TIMESTAMP(%(t)s),
    AcctInputOctets = ((%(gw)s::bigint << 32) + %(oct)s::bigint),
    AcctOutputOctets = ((0::bigint << 32) + %(oct)s::bigint)
WHERE AcctUniqueId = %(uid)s AND AcctStopTime IS NULL
"""


def ingest(dsn: str, open_ids: list[str], count: int, clients: int, t0: float) -> float:
    """Send ``count`` interim UPDATEs over ``clients`` connections; seconds taken."""
    import threading

    def worker(k: int) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for i in range(k, count, clients):
                uid = open_ids[i % len(open_ids)]
                conn.execute(INTERIM, {"ip": "10.5.0.1", "stime": 3600 + i, "t": t0 + i,
                                       "gw": 0, "oct": int(t0) % 1000 * 1_000_000 + i,
                                       "uid": uid})

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


class Cluster:
    def __init__(self):
        self.base = Path(tempfile.mkdtemp(prefix="captiva-bench-"))
        self.owner = "postgres" if os.geteuid() == 0 else None
        if self.owner:
            pwd.getpwnam(self.owner)
            shutil.chown(self.base, self.owner, self.owner)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]

    def run(self, *args):
        kwargs = {"user": self.owner, "group": self.owner, "extra_groups": []} if self.owner \
            else {}
        subprocess.run([str(PG_BIN / args[0]), *args[1:]], check=True, capture_output=True,
                       cwd=self.base, **kwargs)

    def start(self):
        data = str(self.base / "data")
        self.run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync")
        options = (f"-c port={self.port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={self.base} -c shared_buffers=256MB "
                   "-c synchronous_commit=on -c fsync=on -c max_wal_size=4GB")
        self.run("pg_ctl", "-D", data, "-l", str(self.base / "log"), "-o", options, "-w",
                 "start")

    def stop(self):
        self.run("pg_ctl", "-D", str(self.base / "data"), "-m", "fast", "stop")
        shutil.rmtree(self.base, ignore_errors=True)

    def dsn(self, db="postgres"):
        return f"host={self.base} port={self.port} user=postgres dbname={db}"


def load(conn, rows: int, users: int, now: dt.datetime) -> None:
    conn.execute("UPDATE captiva_quota_settings SET timezone = 'Africa/Douala'")
    conn.execute("""
        INSERT INTO captiva_site VALUES ('campus', 'Africa/Douala', 1, 1);
        INSERT INTO captiva_router SELECT 'hs-' || g, 'campus', ('10.20.' || g || '.2')::inet,
                                          3799 FROM generate_series(1, 20) g;
        INSERT INTO captiva_profile (name, quota_daily, quota_weekly, quota_monthly, quota_total,
                                     alert_quota_percent, alert_expiry_days)
        VALUES ('student', 5368709120, 21474836480, 107374182400, NULL, '{80,95}', '{7,2}'),
               ('guest', NULL, NULL, NULL, 2147483648, '{50,80}', '{7,2}'),
               ('staff', NULL, NULL, NULL, NULL, '{}', '{7,2}');
    """)
    conn.execute("""
        INSERT INTO captiva_user (username, first_name, email, language, profile, enabled,
                                  status, expires_at, activated_on)
        SELECT 'u' || g, 'User' || g, 'u' || g || '@campus.example',
               CASE WHEN g %% 3 = 0 THEN 'en' ELSE 'fr' END,
               CASE WHEN g %% 10 = 0 THEN 'guest' WHEN g %% 25 = 0 THEN 'staff' ELSE 'student' END,
               g %% 50 <> 0, CASE WHEN g %% 50 = 0 THEN 'disabled' ELSE 'active' END,
               %(now)s + (g %% 200) * interval '1 day', '2026-01-01'
        FROM generate_series(1, %(users)s) g
    """, {"now": now, "users": users})
    # Bulk load without the per-row trigger, then attribute in one statement (as 0051 does).
    conn.execute("ALTER TABLE radacct DISABLE TRIGGER captiva_radacct_usage_insert")
    open_every = 20  # 5 % of users have an open session
    conn.execute("""
        INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime,
                             acctupdatetime, acctstoptime, acctsessiontime, acctinputoctets,
                             acctoutputoctets, acctterminatecause, framedipaddress)
        SELECT 's' || g, 'u-' || g, 'u' || (g %% %(users)s + 1),
               ('10.20.' || (g %% 20 + 1) || '.2')::inet,
               %(now)s - (g %% 37) * interval '1 day' - interval '2 hours',
               %(now)s - (g %% 37) * interval '1 day' - interval '1 hour',
               CASE WHEN g <= %(rows)s - %(open)s THEN %(now)s - (g %% 37) * interval '1 day'
                    - interval '1 hour' END,
               3600, (g::bigint * 7919) %% 400000000, (g::bigint * 104729) %% 40000000,
               CASE WHEN g <= %(rows)s - %(open)s THEN 'User-Request' END,
               ('10.5.' || (g %% 250) || '.' || (g %% 200 + 1))::inet
        FROM generate_series(1, %(rows)s) g
    """, {"rows": rows, "users": users, "now": now, "open": users // open_every})
    conn.execute("ALTER TABLE radacct ENABLE TRIGGER captiva_radacct_usage_insert")
    conn.execute("""
        INSERT INTO captiva_usage_daily (username, day, bytes_in, bytes_out)
        SELECT username, (acctupdatetime AT TIME ZONE 'Africa/Douala')::date,
               sum(acctinputoctets), sum(acctoutputoctets)
        FROM radacct GROUP BY 1, 2
    """)
    conn.execute("VACUUM ANALYZE")


class Outside:
    """The routers (routeros-sim, one per captiva_router row) and an SMTP server, on loopback."""

    def __init__(self, conn, workdir: Path):
        from aiosmtpd.controller import Controller
        from routeros_fixtures import start_sim

        class Count:
            def __init__(self):
                self.messages = 0

            async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd)
                self.messages += 1
                return "250 OK"

        self.sims, self.routers, self.stop_sim = {}, {}, None
        self.count = Count()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.smtp_port = s.getsockname()[1]
        self.smtp = Controller(self.count, hostname="127.0.0.1", port=self.smtp_port)
        self.smtp.start()
        try:
            self._start_routers(conn, workdir, start_sim)
        except BaseException:
            self.close()  # no simulator left running
            raise

    def _start_routers(self, conn, workdir: Path, start_sim) -> None:
        sessions: dict[str, list[dict[str, str]]] = {}
        for (name,) in conn.execute("SELECT name FROM captiva_router"):
            sessions[name] = []
            directory = workdir / name
            directory.mkdir()
            sim = start_sim(directory)
            self.sims[name] = sim
            sim.accept_disconnects(("127.0.0.1", ROUTER_SECRET))
            self.routers[name] = {"secret": ROUTER_SECRET, "coa_port": sim.coa_port,
                                  "address": "127.0.0.1"}
        for router, user, ip, sid in conn.execute("""
                SELECT r.name, a.username, host(a.framedipaddress), a.acctsessionid
                FROM radacct a JOIN captiva_router r ON r.nasipaddress = a.nasipaddress
                WHERE a.acctstoptime IS NULL"""):
            sessions[router].append({"user": user, "address": ip, "session-id": sid})
        for name, items in sessions.items():
            self.sims[name].add_sessions(items)
        self.sessions = sum(len(items) for items in sessions.values())

    def active(self) -> int:
        return sum(len(sim.rows("/ip/hotspot/active")) for sim in self.sims.values())

    def close(self) -> None:
        from routeros_fixtures import stop_sim

        self.smtp.stop()
        for sim in self.sims.values():
            stop_sim(sim)


def timed(label: str, fn) -> float:
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    elapsed = time.perf_counter() - start
    print(f"{label:<44} {elapsed:8.2f} s  ({time.process_time() - cpu:.2f} s CPU of the job, "
          f"load average {os.getloadavg()[0]:.1f})   {result}")
    return elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--interims", type=int, default=5_000)
    parser.add_argument("--dry-run", action="store_true",
                        help="the jobs' selections only: no packet, no mail, no UPDATE")
    parser.add_argument("--clients", type=int, default=4,
                        help="concurrent connections sending interims (FreeRADIUS's sql pool)")
    args = parser.parse_args(argv)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    cluster = Cluster()
    cluster.start()
    try:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE radius")
        with psycopg.connect(cluster.dsn("radius"), autocommit=True) as conn:
            migrate(conn, load_migrations(ROOT / "roles/postgres/files/migrations"))
            apply_functions(conn, load_functions(ROOT / "roles/postgres/files/functions"))
            timed(f"load {args.rows} radacct rows, {args.users} users",
                  lambda: load(conn, args.rows, args.users, now))
            counts = conn.execute("SELECT (SELECT count(*) FROM radacct), "
                                  "(SELECT count(*) FROM radacct WHERE acctstoptime IS NULL), "
                                  "(SELECT count(*) FROM captiva_usage_daily)").fetchone()
            print(f"radacct {counts[0]}, open {counts[1]}, usage rows {counts[2]}")
        with psycopg.connect(cluster.dsn("radius"), autocommit=True) as conn:
            open_ids = [r[0] for r in conn.execute(
                "SELECT acctuniqueid FROM radacct WHERE acctstoptime IS NULL").fetchall()]
            usage_before = conn.execute("SELECT sum(bytes_in) FROM captiva_usage_daily"
                                        ).fetchone()[0]
        rate = 0.0
        for clients in sorted({1, args.clients}):
            elapsed = ingest(cluster.dsn("radius"), open_ids, args.interims, clients,
                             (now - dt.timedelta(days=1)).timestamp() + (clients * args.interims))
            rate = args.interims / elapsed
            print(f"{f'interim updates, {clients} connection(s), fsync on':<44} "
                  f"{elapsed:8.2f} s   {rate:,.0f} updates/s")
        with psycopg.connect(cluster.dsn("radius"), autocommit=True) as conn:
            grown = conn.execute("SELECT sum(bytes_in) FROM captiva_usage_daily").fetchone()[0]
            print(f"usage grew by {grown - usage_before} bytes through the trigger")
        results = {}
        if args.dry_run:
            cfg = parse({"dsn": cluster.dsn("radius")})
            with psycopg.connect(cluster.dsn("radius")) as conn:
                lines: list[str] = []
                results["enforce"] = timed("enforce --dry-run (selection)", lambda: jobs.enforce(
                    conn, cfg, now, dry_run=True, out=lines.append))
                results["alerts"] = timed("alerts --dry-run (selection + rendering)",
                                          lambda: jobs.alerts(conn, cfg, now, dry_run=True,
                                                              out=lines.append))
                results["close-stale"] = timed("close-stale --dry-run", lambda: jobs.close_stale(
                    conn, cfg, now, dry_run=True, out=lines.append))
                results["report"] = timed("report", lambda: jobs.report(
                    conn, cfg, now, out=lines.append))
        else:
            with psycopg.connect(cluster.dsn("radius"), autocommit=True) as conn:
                outside = Outside(conn, Path(cluster.base))
            try:
                before = outside.active()
                print(f"{len(outside.sims)} routeros-sim routers holding {before} hotspot "
                      f"sessions (the open sessions), SMTP on 127.0.0.1:{outside.smtp_port}")
                cfg = parse({"dsn": cluster.dsn("radius"), "routers": outside.routers,
                             "smtp": {"host": "127.0.0.1", "port": outside.smtp_port,
                                      "starttls": False}})
                with psycopg.connect(cluster.dsn("radius")) as conn:
                    lines = []
                    results["enforce"] = timed("enforce (Disconnect-Requests sent)",
                                               lambda: jobs.enforce(conn, cfg, now,
                                                                    out=lines.append))
                    left = outside.active()
                    print(f"{'':<44} routers' hotspot sessions: {before} before, {left} after")
                    results["alerts"] = timed("alerts (mail sent)", lambda: jobs.alerts(
                        conn, cfg, now, out=lines.append))
                    print(f"{'':<44} messages received by the SMTP server: "
                          f"{outside.count.messages}")
                    results["close-stale"] = timed("close-stale (UPDATE)", lambda: jobs.close_stale(
                        conn, cfg, now, out=lines.append))
                    results["report"] = timed("report", lambda: jobs.report(
                        conn, cfg, now, out=lines.append))
            finally:
                outside.close()
        # Selections: 5 s each. Real work: each job's budget (captiva.runtime.jobs_config), which
        # the sending (a round trip per Disconnect, an SMTP exchange per mail) counts in.
        limits = {k: 5.0 if args.dry_run else DEFAULT_BUDGETS[k] for k in results}
        slow = [k for k, v in results.items() if v >= limits[k]]
        print("targets:", ("jobs < 5 s" if args.dry_run else "jobs within their budgets "
                           + ", ".join(f"{k} {limits[k]:g} s" for k in results)),
              "OK" if not slow else f"SLOW: {slow}", "|",
              "ingestion >= 1000/s OK" if rate >= 1000 else "ingestion SLOW")
        return 0 if not slow and rate >= 1000 else 1
    finally:
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
