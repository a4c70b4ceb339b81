"""radpostauth at scale (issue 27): the post-auth history's retention, the design of migration
0180 (radpostauth_history partitioned by month of authdate) against the one before it, in one
process.

    .venv/bin/python bench/radpostauth_history_bench.py                 # 10 million rows
    .venv/bin/python bench/radpostauth_history_bench.py --history 1000000 --days 120

One PostgreSQL 15 with production durability (bench/radius_load.py: fsync, synchronous_commit,
full_page_writes on, the role's memory settings), the migrations and functions at head.

--history post-auth rows written over the last --days days (10 million over 300 days: the
logins of a year on a campus of 14,000 users at 2.4 logins a day, docs/capacity.md) in the
partitioned radpostauth_history, and the same rows in a table shaped as radpostauth_history
was before 0180 (one table, its primary key on id and its index on authdate, migration 0053).
Purging the two oldest months: the old job's path (captiva.quota.retention._move_batches in purge
mode: DELETE in batches of 5,000, a commit each, then the VACUUM those deletions owe) against
captiva_history_drop (what the retention job runs now). Figures: wall time, server
CPU (the PostgreSQL process tree, /proc), WAL (pg_current_wal_lsn).

Then the daily move: --moves post-auth rows older than radpostauth_days (120,000: a day of
logins at 50,000 users) moved from radpostauth to the history by the retention job's path
(captiva.quota.retention._move_batches, archive mode), into each design in turn (the partitions
prepared first, as the job does: captiva_history_prepare).

Checks (exit 1 when one fails, 2 when the server could not be set up): the same rows gone
both ways, and dropping the months at least 10 times faster than deleting them. About 5
minutes at the defaults as root (most of it writing the history twice with fsync on); the
figures of docs/capacity.md, "The post-auth history".
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests"), str(ROOT / "tests" / "integration"),
                str(ROOT / "tools"), str(ROOT)]

import radius_load  # noqa: E402
from pg_fixtures import radius_database  # noqa: E402
from psycopg import sql  # noqa: E402
from radacct_history_bench import CHUNK, DROP_FASTER, Meter, purge_oldest_months  # noqa: E402

from captiva.quota import retention as retention_job  # noqa: E402
from captiva.runtime.jobs_config import parse as quota_config  # noqa: E402


def load_history(su, rows: int, days: int) -> float:
    """``rows`` post-auth rows, written over the last ``days`` days, in radpostauth_history
    (its month partitions made first, as retention does), then the same rows in a copy shaped
    as the table was before 0180."""
    started = time.perf_counter()
    su.execute("SELECT captiva_history_partition('radpostauth_history', m) FROM (SELECT "
               "generate_series(now() - interval '3 hours' - (%(days)s * 24 - 1) "
               "* interval '1 hour', now(), interval '1 month') UNION SELECT now()) AS months (m)",
               {"days": days})
    for low in range(1, rows + 1, CHUNK):
        high = min(rows, low + CHUNK - 1)
        # FreeRADIUS's post-auth row as Captiva writes it (no pass), a reject in ten; ids in
        # the order of authdate, as radpostauth's bigserial gives them.
        su.execute("""
            INSERT INTO radpostauth_history (id, username, reply, calledstationid,
                callingstationid, authdate, class, archived_at)
            SELECT s, 'STU' || lpad((s %% 50000)::text, 6, '0'),
                   CASE WHEN s %% 10 = 0 THEN 'Access-Reject' ELSE 'Access-Accept' END,
                   'hotspot1', 'AA-BB-CC-' || lpad(to_hex(s %% 65536), 4, '0') || '-01', t,
                   NULL, t + interval '90 days'
            FROM generate_series(%(low)s::bigint, %(high)s::bigint) AS s,
                 LATERAL (SELECT now() - interval '3 hours' - (%(rows)s - s)
                                 * (%(days)s * 86400.0 / %(rows)s) * interval '1 second' AS t
                         ) AS t
            """, {"days": days, "rows": rows, "low": low, "high": high})
        print(f"  {high:,} history rows in {time.perf_counter() - started:.0f} s (load average "
              f"{os.getloadavg()[0]:.1f})", flush=True)
    # Before 0180 (migration 0053): one table, its primary key and its index on authdate.
    su.execute("CREATE TABLE radpostauth_history_unpartitioned AS "
               "SELECT * FROM radpostauth_history")
    su.execute("ALTER TABLE radpostauth_history_unpartitioned ADD PRIMARY KEY (id)")
    su.execute("CREATE INDEX ON radpostauth_history_unpartitioned (authdate)")
    su.execute("GRANT SELECT, DELETE ON radpostauth_history_unpartitioned TO captiva_jobs")
    su.execute("VACUUM ANALYZE radpostauth_history, radpostauth_history_unpartitioned")
    su.execute("CHECKPOINT")
    return time.perf_counter() - started


def measure_retention(pg, db, su, args) -> dict:
    seconds = load_history(su, args.history, args.days)
    partitioned, before = su.execute(
        "SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))), "
        "pg_size_pretty(pg_total_relation_size('radpostauth_history_unpartitioned')) "
        "FROM pg_inherits WHERE inhparent = 'radpostauth_history'::regclass").fetchone()
    print(f"  {args.history:,} post-auth rows, twice, in {seconds:.0f} s: the partitions "
          f"{partitioned}, the table before 0180 with its two indexes {before}", flush=True)
    return purge_oldest_months(pg, db, su, "radpostauth_history", "id", "authdate", "written",
                               "0180")


def load_live(su, rows: int) -> None:
    """``rows`` post-auth rows in radpostauth, 100 days old (past radpostauth_days), with ids
    past the history's."""
    su.execute("TRUNCATE radpostauth")
    su.execute("""
        INSERT INTO radpostauth (id, username, reply, calledstationid, callingstationid,
                                 authdate)
        SELECT 20000000 + s, 'STU' || lpad((s %% 50000)::text, 6, '0'), 'Access-Accept',
               'hotspot1', 'AA-BB-CC-' || lpad(to_hex(s %% 65536), 4, '0') || '-01',
               now() - interval '100 days' + s * interval '1 second'
        FROM generate_series(1, %(rows)s) AS s""", {"rows": rows})
    su.execute("VACUUM ANALYZE radpostauth")
    su.execute("CHECKPOINT")


def measure_moves(pg, db, su, args) -> dict:
    """The retention job's move of --moves rows into the table before 0180, then into 0180's
    partitions (renamed in and out of the name the job writes to)."""
    archive = quota_config({"dsn": db.dsns["jobs"]})
    cutoff = su.execute("SELECT now() - interval '90 days'").fetchone()[0]
    closed = sql.SQL("authdate < %(cutoff)s")
    # The grants of 0053 and 0054 on the table before 0180: every column but pass.
    su.execute("""DO $grants$ BEGIN EXECUTE format(
        'GRANT SELECT (%1$s), INSERT (%1$s) ON radpostauth_history_unpartitioned TO captiva_jobs',
        (SELECT string_agg(quote_ident(attname), ', ') FROM pg_attribute
         WHERE attrelid = 'radpostauth_history_unpartitioned'::regclass AND attnum > 0
           AND NOT attisdropped AND attname <> 'pass')); END $grants$""")
    figures = {}
    for label in ("before 0180", "0180"):
        load_live(su, args.moves)
        if label == "before 0180":
            su.execute("ALTER TABLE radpostauth_history RENAME TO radpostauth_history_0180")
            su.execute("ALTER TABLE radpostauth_history_unpartitioned "
                       "RENAME TO radpostauth_history")
        with db.connect("jobs", autocommit=False) as conn, Meter(pg, su) as meter:
            if label == "0180":
                conn.execute("SELECT * FROM captiva_history_prepare('radpostauth_history', %s)",
                             (cutoff,))
                conn.commit()
            moved = retention_job._move_batches(conn, "radpostauth", "id", closed, cutoff, archive)
        if label == "before 0180":
            su.execute("ALTER TABLE radpostauth_history "
                       "RENAME TO radpostauth_history_unpartitioned")
            su.execute("ALTER TABLE radpostauth_history_0180 RENAME TO radpostauth_history")
        if moved != args.moves:
            raise RuntimeError(f"move ({label}): {moved} of {args.moves} rows")
        print(f"  moved {moved:,} post-auth rows to the history, {label:<11}: "
              f"{meter.seconds:6.2f} s wall, {meter.cpu_seconds:6.2f} s server CPU, WAL "
              f"{meter.wal_bytes / 1048576:7.1f} MiB (load average {meter.load:.1f})",
              flush=True)
        figures[label] = meter
    return figures


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=10_000_000,
                        help="post-auth rows in radpostauth_history")
    parser.add_argument("--days", type=int, default=300, help="the history spans these days")
    parser.add_argument("--moves", type=int, default=120_000,
                        help="post-auth rows the daily retention moves to the history")
    return parser.parse_args(argv)


def run_bench(args: argparse.Namespace) -> int:
    with radius_load.production_postgres(False) as pg, radius_database(pg) as db, \
            db.connect() as su:
        print("post-auth history retention:", flush=True)
        retention = measure_retention(pg, db, su, args)
        print("the daily move to the history:", flush=True)
        moves = measure_moves(pg, db, su, args)
    delete, vacuum, drop = retention["delete"], retention["vacuum"], retention["drop"]
    old_move, new_move = moves["before 0180"], moves["0180"]
    old_wall = delete.seconds + vacuum.seconds
    checks = [
        (f"purge of {retention['rows']:,} post-auth rows (s wall, {DROP_FASTER:g}x faster)",
         f"{old_wall:.2f}", f"{drop.seconds:.2f}",
         f"{old_wall / max(drop.seconds, 1e-6):,.0f}x", drop.seconds * DROP_FASTER <= old_wall),
        ("  server CPU (s)", f"{delete.cpu_seconds + vacuum.cpu_seconds:.2f}",
         f"{drop.cpu_seconds:.2f}", "", True),
        ("  WAL (MiB)", f"{(delete.wal_bytes + vacuum.wal_bytes) / 1048576:.1f}",
         f"{drop.wal_bytes / 1048576:.1f}", "", True),
        (f"move of {args.moves:,} post-auth rows (s server CPU)",
         f"{old_move.cpu_seconds:.2f}", f"{new_move.cpu_seconds:.2f}",
         f"{old_move.cpu_seconds / max(new_move.cpu_seconds, 1e-6):.2f}x", True),
        ("  WAL (MiB)", f"{old_move.wal_bytes / 1048576:.1f}",
         f"{new_move.wal_bytes / 1048576:.1f}", "", True),
        ("  wall (s)", f"{old_move.seconds:.2f}", f"{new_move.seconds:.2f}", "", True),
    ]
    return radius_load.floors_table(("figure", "before 0180", "0180", "ratio"), checks)


def main(argv: list[str] | None = None) -> int:
    return radius_load.bench_main("radpostauth_history_bench", parse, run_bench, argv)


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    sys.exit(main())
