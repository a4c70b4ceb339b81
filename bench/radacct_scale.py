"""radacct at national scale (issue 12): the login check, enforcement and the portal's page
with 10 million rows of session history, against the same database before the history.

    .venv/bin/python bench/radacct_scale.py                 # as root (FreeRADIUS role)
    .venv/bin/python bench/radacct_scale.py --rows 2000000 --users 20000

One process, one database (bench/radius_load.py's PostgreSQL 15 with production durability:
fsync, synchronous_commit, full_page_writes on, the role's memory settings): --users users
provisioned by the real reconcile, a month of usage each, an open session for every fifth
user. Each measurement runs twice, first with --base closed sessions in radacct (the
baseline), then after --rows more closed sessions over the last --days days (generate_series
in one INSERT per million, usage trigger skipped: the history is a copy, as a restore would
be; VACUUM ANALYZE after, as autovacuum would):

1. logins: Access-Requests through FreeRADIUS rendered by roles/freeradius (quota, expiry,
   Simultaneous-Use on), closed loop, every request a different user not online: server CPU per
   request (FreeRADIUS and PostgreSQL process trees) and p50/p99; budget 1 ms of CPU (the
   floor of issue 12; missed already without history, see docs/tuning.md), the check here is
   that the history adds nothing;
2. enforcement: captiva-quota enforce's selection (dry run: which sessions to cut; the
   Disconnects it then sends depend on the sessions to cut, not on the history), close-stale's
   selection and the report job; budget: the budgets of captiva.runtime.jobs_config (enforce 40 s);
3. the portal: captiva.portal.student.data.dashboard (everything /me reads: usage, open
   sessions, the history page, devices over radacct + radacct_history, the chart) for
   --students distinct students, as the portal's role; p50/p99 per page against the 50 ms page
   budget.

Not one of ``make bench``'s ``bench/*_bench.py`` scripts: it takes about 25 minutes (most of
it writing the history with fsync on). Exits 1 when a budget is missed or the history makes a
figure more than --tolerance times the baseline, 2 when the servers could not be set up.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests"), str(ROOT / "tests" / "integration"),
                str(ROOT / "tools"), str(ROOT)]

import radius_load  # noqa: E402
import radload  # noqa: E402
from passlib.hash import sha512_crypt  # noqa: E402
from pg_fixtures import radius_database  # noqa: E402
from quota_radius_fixtures import DOUALA_NAS  # noqa: E402
from radius_fixtures import ROUTER_SECRET, freeradius_for  # noqa: E402

from captiva.portal.student import data  # noqa: E402
from captiva.quota import jobs  # noqa: E402
from captiva.runtime.jobs_config import DEFAULT_BUDGETS  # noqa: E402
from captiva.runtime.jobs_config import parse as quota_config  # noqa: E402

LOGIN_CPU_MS = 1.0
PAGE_MS = 50.0
EVERY = 5  # every fifth user has an open session


def add_history(db, rows: int, users: int, days: int, first: int) -> float:
    """``rows`` closed sessions spread over the last ``days`` days (before the open ones)."""
    started = time.perf_counter()
    chunk = 1_000_000
    with db.connect() as conn:
        conn.execute("SET session_replication_role = replica")  # the usage trigger: skipped
        for low in range(first, first + rows, chunk):
            high = min(first + rows, low + chunk) - 1
            conn.execute("""
                INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress,
                    acctstarttime, acctupdatetime, acctstoptime, acctsessiontime,
                    acctinputoctets, acctoutputoctets, acctterminatecause, framedipaddress,
                    callingstationid)
                SELECT 'g' || s, md5('g' || s), 'STU' || lpad((s %% %(n)s)::text, 6, '0'),
                       %(nas)s::inet,
                       now() - interval '4 hours' - (s %% (%(days)s * 24)) * interval '1 hour',
                       now() - interval '3 hours' - (s %% (%(days)s * 24)) * interval '1 hour',
                       now() - interval '3 hours' - (s %% (%(days)s * 24)) * interval '1 hour',
                       3600, (s * 7919) %% 400000000, (s * 104729) %% 40000000,
                       'User-Request', ('10.5.' || (s %% 250) || '.' || (s %% 200 + 1))::inet,
                       'AA-BB-CC-' || lpad(to_hex(s %% %(n)s %% 256), 2, '0') || '-00-'
                           || lpad(to_hex(s %% 3), 2, '0')
                FROM generate_series(%(low)s::bigint, %(high)s::bigint) AS s""",
                         {"n": users, "nas": DOUALA_NAS, "days": days, "low": low,
                          "high": high})
            print(f"  {high - first + 1:,} history rows in {time.perf_counter() - started:.0f} s"
                  f" (load average {os.getloadavg()[0]:.1f})", flush=True)
        conn.execute("VACUUM ANALYZE radacct")
    return time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure_logins(radius, pg, users: list[tuple[str, str]], count: int, offset: int,
                   window: int, processes: int) -> dict:
    sources = [radload.CpuSource("freeradius", pid=radius.process.pid),
               radload.CpuSource("postgresql", pid=radius_load.postmaster_pid(pg))]
    work = radload.Workload(kind="auth", server=("127.0.0.1", radius.auth_port),
                            secret=ROUTER_SECRET.encode(), users=users, count=count,
                            window=window, offset=offset)
    radload.run(radload.Workload(**{**work.__dict__, "count": 500}), processes)  # warm
    before = radload.snapshot(sources)
    report = radload.run(work, processes)
    cpu = radload.spent(before, radload.snapshot(sources))
    answered = max(1, report.answered)
    return {"report": report, "cpu_ms": sum(cpu.values()) / answered * 1e3,
            "pg_ms": cpu["postgresql"] / answered * 1e3,
            "radius_ms": cpu["freeradius"] / answered * 1e3, "load": os.getloadavg()[0]}


def measure_jobs(db, now: dt.datetime) -> dict[str, float]:
    config = quota_config({"dsn": db.dsns["jobs"]})
    figures = {}
    with db.connect("jobs", autocommit=False) as conn:
        for name, job in (("enforce", jobs.enforce), ("close-stale", jobs.close_stale),
                          ("report", jobs.report)):
            lines: list[str] = []
            started = time.perf_counter()
            cpu = time.process_time()
            if name == "report":
                summary = job(conn, config, now, out=lines.append)
            else:
                summary = job(conn, config, now, dry_run=True, out=lines.append)
            figures[name] = time.perf_counter() - started
            figures[f"{name} client cpu"] = time.process_time() - cpu
            figures[f"{name} summary"] = summary
            conn.rollback()
    return figures


def measure_pages(db, students: list[str], now: dt.datetime) -> dict:
    times = []
    with db.connect("portal", autocommit=False) as conn:
        for name in students[:50]:  # warm the connection's plans and the cache
            data.dashboard(conn, name, now)
        for name in students:
            started = time.perf_counter()
            board = data.dashboard(conn, name, now)
            times.append((time.perf_counter() - started) * 1e3)
            if board.user is None:
                raise RuntimeError(f"the dashboard of {name} found no user")
    return {"p50": statistics.median(times), "p99": percentile(times, 0.99),
            "max": max(times), "devices": len(board.devices), "load": os.getloadavg()[0]}


def measure_all(label: str, db, pg, radius, args, login_users, offset: int) -> dict:
    now = dt.datetime.now(dt.UTC)
    with db.connect() as conn:
        rows = conn.execute("SELECT count(*) FROM radacct").fetchone()[0]
    print(f"{label}: radacct {rows:,} rows", flush=True)
    logins = measure_logins(radius, pg, login_users, args.logins, offset, args.window,
                            args.processes)
    print(f"  logins: {logins['report'].summary()}")
    print(f"  server CPU per login {logins['cpu_ms']:.3f} ms (FreeRADIUS "
          f"{logins['radius_ms']:.3f}, PostgreSQL {logins['pg_ms']:.3f}), load average "
          f"{logins['load']:.1f}", flush=True)
    job = measure_jobs(db, now)
    for name in ("enforce", "close-stale", "report"):
        print(f"  {name}: {job[name]:.2f} s wall ({job[name + ' client cpu']:.2f} s of the job's "
              f"own CPU), {job[name + ' summary']}")
    students = [f"STU{i:06d}" for i in range(0, args.users, max(1, args.users // args.students))]
    pages = measure_pages(db, students[:args.students], now)
    print(f"  portal dashboard, {len(students[:args.students])} distinct students: p50 "
          f"{pages['p50']:.2f} ms, p99 {pages['p99']:.2f} ms, max {pages['max']:.1f} ms "
          f"(load average {pages['load']:.1f})", flush=True)
    return {"rows": rows, "logins": logins, "jobs": job, "pages": pages}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50000)
    parser.add_argument("--base", type=int, default=100000,
                        help="closed sessions in radacct for the baseline")
    parser.add_argument("--rows", type=int, default=10_000_000, help="history rows added")
    parser.add_argument("--days", type=int, default=300, help="the history spans these days")
    parser.add_argument("--logins", type=int, default=4000)
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--tolerance", type=float, default=1.5,
                        help="a figure with history may be this many times the baseline")
    return parser.parse_args(argv)


def run_bench(args: argparse.Namespace) -> int:
    hashes = [sha512_crypt.hash(password, rounds=5000) for password in radius_load.PASSWORDS]
    with radius_load.production_postgres(False) as pg, radius_database(pg) as db, \
            tempfile.TemporaryDirectory(prefix="captiva-radacct-scale-") as tmp:
        seconds = radius_load.provision(db, args.users, "hashed", hashes)
        radius_load.seed_accounting(db, args.users, args.base, EVERY)
        print(f"provisioned {args.users} users through the reconcile in {seconds:.1f} s; "
              f"{args.base} closed sessions, {len(range(0, args.users, EVERY))} open")
        login_users = [(f"STU{i:06d}", radius_load.PASSWORDS[i % len(radius_load.PASSWORDS)])
                       for i in range(args.users) if i % EVERY]
        with freeradius_for(Path(tmp), db) as radius:
            base = measure_all("baseline", db, pg, radius, args, login_users, 0)
            seconds = add_history(db, args.rows, args.users, args.days, args.base + 1)
            with db.connect() as conn:
                size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('radacct'))"
                                    ).fetchone()[0]
            print(f"added {args.rows:,} history rows in {seconds:.0f} s; radacct with its "
                  f"indexes: {size}")
            big = measure_all("with the history", db, pg, radius, args, login_users,
                              args.logins + 500)
    rows = []
    ratio = args.tolerance

    def row(name, budget, before, after, ok_budget):
        ok = ok_budget and after <= max(before * ratio, before + 0.05 * budget)
        rows.append((name, budget, before, after, ok))

    row("login: server CPU per Access-Request, PostgreSQL part (ms)", LOGIN_CPU_MS,
        base["logins"]["pg_ms"], big["logins"]["pg_ms"], True)
    row("login: server CPU per Access-Request, total (ms)", LOGIN_CPU_MS,
        base["logins"]["cpu_ms"], big["logins"]["cpu_ms"], True)
    for name in ("enforce", "close-stale", "report"):
        budget = DEFAULT_BUDGETS.get(name, 600.0)
        row(f"{name} (s, wall)", budget, base["jobs"][name], big["jobs"][name],
            big["jobs"][name] < budget)
    row("portal dashboard p99 (ms)", PAGE_MS, base["pages"]["p99"], big["pages"]["p99"],
        big["pages"]["p99"] < PAGE_MS)
    status = radius_load.floors_table(
        ("figure", "budget", f"{base['rows']:,} rows", f"{big['rows']:,} rows"),
        [(name, f"{budget:g}", f"{before:.3f}", f"{after:.3f}", ok)
         for name, budget, before, after, ok in rows])
    print("login CPU: the 1 ms floor is missed without history too (docs/tuning.md); here a "
          f"figure passes when the history leaves it within {ratio:g}x of the baseline.")
    return status


def main(argv: list[str] | None = None) -> int:
    return radius_load.bench_main("radacct_scale", parse, run_bench, argv)


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    sys.exit(main())
