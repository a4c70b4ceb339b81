"""radacct at national scale, the writes (issue 12): interim UPDATEs on the live radacct and
the history retention, the design of migration 0130 against the one before it, in one process.

    .venv/bin/python bench/radacct_history_bench.py                  # 10 million history rows
    .venv/bin/python bench/radacct_history_bench.py --history 2000000 --interims 10000

One PostgreSQL 15 with production durability (bench/radius_load.py: fsync, synchronous_commit,
full_page_writes on, the role's memory settings), the migrations and functions at head.

1. Interim updates, through the query FreeRADIUS sends (the deployed interim-update query,
   run as rlm_sql runs it: tests/integration/rlm_sql.py; one connection as captiva_freeradius,
   each update its own commit, the usage trigger included) on a radacct of --open open sessions
   and --closed closed ones, --rounds rounds over --interims / --rounds sessions spread over the
   table. Three times, the table reloaded between: the design before 0130 (fillfactor 100 and
   the index on acctupdatetime), the index dropped alone, then 0130's (fillfactor 75, no such
   index). Figures: server CPU
   per update (the PostgreSQL process tree, /proc), WAL bytes per update
   (pg_current_wal_lsn), the share of HOT updates (pg_stat_user_tables.n_tup_hot_upd).
2. History retention: --history closed sessions over the last --days days in the partitioned
   radacct_history, and the same rows in a table shaped as radacct_history was before 0130
   (one table, its four indexes). Purging the two oldest months: the old job's path
   (captiva.quota.retention._move_batches in purge mode: DELETE in batches of 5,000, a commit each,
   then the VACUUM those deletions owe) against captiva_history_drop (what the
   retention job runs now). Figures: wall time, server CPU, WAL.

Checks (exit 1 when one fails, 2 when the servers could not be set up): at least 90% of the
interim updates HOT with 0130, less WAL per update than before, close-stale's selection
within its budget, and dropping the months at least 10 times faster than deleting the same
rows. About 25 minutes at the defaults as root (most of it writing the history twice with
fsync on); the figures of docs/tuning.md, "radacct at national scale".
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests"), str(ROOT / "tests" / "integration"),
                str(ROOT / "tools"), str(ROOT)]

import radius_load  # noqa: E402
import radload  # noqa: E402
from pg_fixtures import radius_database  # noqa: E402
from psycopg import sql  # noqa: E402
from quota_radius_fixtures import DOUALA_NAS  # noqa: E402
from rlm_sql import Radius  # noqa: E402

from captiva.quota import jobs  # noqa: E402
from captiva.quota import retention as retention_job  # noqa: E402
from captiva.runtime.jobs_config import DEFAULT_BUDGETS  # noqa: E402
from captiva.runtime.jobs_config import parse as quota_config  # noqa: E402

HOT_FLOOR = 0.9
DROP_FASTER = 10.0
CHUNK = 1_000_000


class Meter:
    """Server CPU (the PostgreSQL process tree), WAL and wall time between start and stop."""

    def __init__(self, pg, conn):
        self.sources = [radload.CpuSource("postgresql", pid=radius_load.postmaster_pid(pg))]
        self.conn = conn

    def _wal(self) -> int:
        return self.conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()[0]

    def __enter__(self):
        self.cpu = radload.snapshot(self.sources)
        self.wal = self._wal()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.started
        self.cpu_seconds = sum(radload.spent(self.cpu, radload.snapshot(self.sources)).values())
        self.wal_bytes = int(self._wal() - self.wal)
        self.load = os.getloadavg()[0]


def updates(conn) -> tuple[int, int]:
    conn.execute("SELECT pg_stat_clear_snapshot()")
    return conn.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                        "WHERE relname = 'radacct'").fetchone()


def load_live(su, open_sessions: int, closed: int) -> None:
    su.execute("TRUNCATE radacct, captiva_usage_daily")
    su.execute("SET session_replication_role = replica")  # a copy: the usage trigger skipped
    su.execute("""
        INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress,
            acctstarttime, acctupdatetime, acctstoptime, acctsessiontime, acctinputoctets,
            acctoutputoctets, acctterminatecause, framedipaddress, callingstationid)
        SELECT 'c' || s, md5('c' || s), 'STU' || lpad((s %% 50000)::text, 6, '0'), %(nas)s,
               now() - interval '3 days', now() - interval '2 days', now() - interval '2 days',
               86400, 10485760, 1048576, 'User-Request', '10.5.50.10', 'AA:BB:CC:00:00:01'
        FROM generate_series(1, %(closed)s) AS s""", {"nas": DOUALA_NAS, "closed": closed})
    # Open sessions, as FreeRADIUS's start query writes them, in the order they started.
    su.execute("""
        INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, nasportid,
            nasporttype, acctstarttime, acctupdatetime, acctsessiontime, acctauthentic,
            connectinfo_start, acctinputoctets, acctoutputoctets, calledstationid,
            callingstationid, servicetype, framedprotocol, framedipaddress)
        SELECT 'o' || s, 'u-o' || s, 'STU' || lpad(s::text, 6, '0'), %(nas)s, '1',
               'Wireless-802.11', now() - interval '1 hour', now() - interval '1 hour', 0,
               'RADIUS', '', 0, 0, 'hotspot1', '00:11:22:33:44:55', '', '', '10.5.50.10'
        FROM generate_series(1, %(open)s) AS s""", {"nas": DOUALA_NAS, "open": open_sessions})
    su.execute("RESET session_replication_role")
    su.execute("VACUUM ANALYZE radacct")
    su.execute("CHECKPOINT")  # both designs start from the same clean state


def measure_interims(pg, db, su, args, label: str) -> dict:
    load_live(su, args.open, args.closed)
    per_round = max(1, args.interims // args.rounds)
    step = max(1, args.open // per_round)
    targets = [1 + i * step for i in range(per_round)]
    now = dt.datetime.now(dt.UTC)
    with db.connect("freeradius") as conn:
        radius = Radius(conn)
        radius.interim("o1", "STU000001", DOUALA_NAS, now - dt.timedelta(minutes=59), 1, 1)
        time.sleep(1.5)  # the warm-up's statistics in
        before = updates(su)
        with Meter(pg, su) as meter:
            for round_ in range(1, args.rounds + 1):
                when = now - dt.timedelta(minutes=55) + dt.timedelta(minutes=5 * round_)
                for s in targets:
                    radius.interim(f"o{s}", f"STU{s:06d}", DOUALA_NAS, when, 1000 * round_,
                                   100 * round_, 300 * round_, ip="10.5.50.10")
    sent = per_round * args.rounds
    # close-stale's selection (dry run), which read the index on acctupdatetime before 0130
    config = quota_config({"dsn": db.dsns["jobs"]})
    with db.connect("jobs", autocommit=False) as conn:
        started = time.perf_counter()
        stale = jobs.close_stale(conn, config, now + dt.timedelta(hours=2), dry_run=True,
                                 out=lambda line: None)["stale"]
        stale_seconds = time.perf_counter() - started
    deadline = time.monotonic() + 20
    while updates(su)[0] - before[0] < sent and time.monotonic() < deadline:
        time.sleep(0.2)
    after = updates(su)
    done, hot = after[0] - before[0], after[1] - before[1]
    figures = {"updates": done, "hot": hot / max(1, done),
               "cpu_ms": meter.cpu_seconds / sent * 1e3, "wal": meter.wal_bytes / sent,
               "rate": sent / meter.seconds, "load": meter.load, "stale_s": stale_seconds}
    print(f"  {label}: {sent:,} interims ({done:,} counted) in {meter.seconds:.1f} s, "
          f"{figures['rate']:.0f}/s; server CPU {figures['cpu_ms']:.3f} ms, WAL "
          f"{figures['wal']:.0f} B per update; HOT {figures['hot']:.1%} (load average "
          f"{meter.load:.1f}); close-stale's selection {stale_seconds * 1e3:.0f} ms "
          f"({stale:,} stale)", flush=True)
    return figures


def old_design(su) -> None:
    su.execute("ALTER TABLE radacct RESET (fillfactor)")
    su.execute("CREATE INDEX radacct_open_update_idx ON radacct (acctupdatetime) "
               "WHERE acctstoptime IS NULL")


def new_design(su) -> None:
    su.execute("ALTER TABLE radacct SET (fillfactor = 75)")
    su.execute("DROP INDEX IF EXISTS radacct_open_update_idx")


def load_history(su, rows: int, days: int) -> float:
    """``rows`` closed sessions, stopped over the last ``days`` days, in radacct_history (its
    month partitions made first, as retention does), then the same rows in a copy shaped as
    the table was before 0130."""
    started = time.perf_counter()
    su.execute("SELECT captiva_history_partition('radacct_history', m) FROM (SELECT "
               "generate_series(now() - interval '3 hours' - (%(days)s * 24 - 1) "
               "* interval '1 hour', now(), interval '1 month') UNION SELECT now()) AS months (m)",
               {"days": days})
    for low in range(1, rows + 1, CHUNK):
        high = min(rows, low + CHUNK - 1)
        su.execute("""
            INSERT INTO radacct_history (radacctid, acctsessionid, acctuniqueid, username,
                nasipaddress, acctstarttime, acctupdatetime, acctstoptime, acctsessiontime,
                acctinputoctets, acctoutputoctets, acctterminatecause, framedipaddress,
                callingstationid, archived_at)
            SELECT s, 'g' || s, md5('g' || s), 'STU' || lpad((s %% 50000)::text, 6, '0'),
                   %(nas)s, t - interval '1 hour', t, t, 3600, (s * 7919) %% 400000000,
                   (s * 104729) %% 40000000, 'User-Request',
                   ('10.5.' || (s %% 250) || '.' || (s %% 200 + 1))::inet,
                   'AA-BB-CC-00-00-' || lpad(to_hex(s %% 256), 2, '0'), t + interval '1 day'
            FROM generate_series(%(low)s::bigint, %(high)s::bigint) AS s,
                 LATERAL (SELECT now() - interval '3 hours'
                                 - (s %% (%(days)s * 24)) * interval '1 hour' AS t) AS t""",
                   {"nas": DOUALA_NAS, "days": days, "low": low, "high": high})
        print(f"  {high:,} history rows in {time.perf_counter() - started:.0f} s (load average "
              f"{os.getloadavg()[0]:.1f})", flush=True)
    # Before 0130 (migrations 0053, 0060): one table, these four indexes.
    su.execute("CREATE TABLE radacct_history_unpartitioned AS SELECT * FROM radacct_history")
    su.execute("ALTER TABLE radacct_history_unpartitioned ADD PRIMARY KEY (radacctid)")
    for columns in ("username, acctstarttime", "acctstoptime", "acctuniqueid"):
        su.execute(sql.SQL("CREATE INDEX ON radacct_history_unpartitioned ({})").format(
            sql.SQL(columns)))
    su.execute("GRANT SELECT, DELETE ON radacct_history_unpartitioned TO captiva_jobs")
    su.execute("VACUUM ANALYZE radacct_history, radacct_history_unpartitioned")
    su.execute("CHECKPOINT")
    return time.perf_counter() - started


def measure_retention(pg, db, su, args) -> dict:
    seconds = load_history(su, args.history, args.days)
    sizes = su.execute(
        "SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits "
        "WHERE inhparent = 'radacct_history'::regclass").fetchone()[0]
    print(f"  {args.history:,} history rows, twice, in {seconds:.0f} s; the partitions with "
          f"their indexes: {sizes}", flush=True)
    return purge_oldest_months(pg, db, su, "radacct_history", "radacctid", "acctstoptime",
                               "stopped", "0130")


def purge_oldest_months(pg, db, su, history: str, id_column: str, key: str, verb: str,
                        migration: str) -> dict:
    """The two oldest months of ``history`` (partitioned by ``key``) purged both ways: from
    its copy shaped as before ``migration`` (``history``_unpartitioned) by the old job's path,
    DELETE in batches then the VACUUM it owes, and from the partitions by
    captiva_``history``_drop, the retention job's path. Checks the same rows went; prints and
    returns the three Meters and the rows."""
    # The two oldest months go: the cutoff is the end of the second oldest partition.
    cutoff, rows = su.execute(sql.SQL("""
        WITH p AS (
            SELECT substring(pg_get_expr(c.relpartbound, c.oid)
                             FROM 'TO \\(''([^'']+)''\\)')::timestamptz AS high
            FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
            WHERE i.inhparent = {history}::regclass)
        SELECT high, (SELECT count(*) FROM {table} WHERE {key} < high)
        FROM p WHERE high IS NOT NULL ORDER BY high OFFSET 1 LIMIT 1""").format(
        history=sql.Literal(history), table=sql.Identifier(history),
        key=sql.Identifier(key))).fetchone()
    purge = quota_config({"dsn": db.dsns["jobs"], "retention": {"mode": "purge"}})
    # Closed rows only: an open session's acctstoptime is NULL (a post-auth row has none).
    older = sql.SQL("{key} IS NOT NULL AND {key} < %(cutoff)s").format(key=sql.Identifier(key))
    with db.connect("jobs", autocommit=False) as conn:
        with Meter(pg, su) as delete:
            deleted = retention_job._move_batches(conn, f"{history}_unpartitioned", id_column,
                                                  older, cutoff, purge)
        with Meter(pg, su) as vacuum:
            su.execute(sql.SQL("VACUUM {}").format(sql.Identifier(f"{history}_unpartitioned")))
        with Meter(pg, su) as drop:
            dropped = conn.execute(sql.SQL("SELECT partition, rows FROM {}(%s)").format(
                sql.Identifier(f"captiva_{history}_drop")), (cutoff,)).fetchall()
            conn.commit()
    left = su.execute(sql.SQL("SELECT count(*) FROM {} WHERE {} < %s").format(
        sql.Identifier(history), sql.Identifier(key)), (cutoff,)).fetchone()[0]
    if deleted != rows or left != 0:
        raise RuntimeError(f"retention: {rows} rows before {cutoff}, {deleted} deleted, "
                           f"{left} left in the partitions")
    names = [name for name, _ in dropped if name != f"{history}_default"]
    print(f"  purge of {rows:,} rows {verb} before {cutoff:%Y-%m-%d} ({', '.join(names)}):")
    for label, m in ((f"DELETE in batches (before {migration})", delete),
                     ("  + the VACUUM it owes", vacuum),
                     (f"DROP of the partitions ({migration})", drop)):
        print(f"    {label:<34} {m.seconds:9.2f} s wall, {m.cpu_seconds:8.2f} s server CPU, "
              f"WAL {m.wal_bytes / 1048576:9.1f} MiB (load average {m.load:.1f})", flush=True)
    return {"rows": rows, "delete": delete, "vacuum": vacuum, "drop": drop}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=10_000_000,
                        help="closed sessions in radacct_history")
    parser.add_argument("--days", type=int, default=300, help="the history spans these days")
    parser.add_argument("--open", type=int, default=50_000, help="open sessions in radacct")
    parser.add_argument("--closed", type=int, default=200_000,
                        help="closed sessions still in radacct (before retention moves them)")
    parser.add_argument("--interims", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2,
                        help="interims per session (the sessions updated get this many each)")
    return parser.parse_args(argv)


def run_bench(args: argparse.Namespace) -> int:
    with radius_load.production_postgres(False) as pg, radius_database(pg) as db, \
            db.connect() as su:
        print(f"interim updates: radacct with {args.open:,} open and {args.closed:,} closed "
              f"sessions, {args.interims:,} interims in {args.rounds} rounds", flush=True)
        old_design(su)
        before = measure_interims(pg, db, su, args, "before 0130 (fillfactor 100, "
                                                    "index on acctupdatetime)")
        su.execute("DROP INDEX radacct_open_update_idx")
        measure_interims(pg, db, su, args, "without the index, fillfactor 100 (the index "
                                           "alone)")
        new_design(su)
        after = measure_interims(pg, db, su, args, "0130 (fillfactor 75, no such index)")
        print("history retention:", flush=True)
        retention = measure_retention(pg, db, su, args)
    delete, vacuum, drop = retention["delete"], retention["vacuum"], retention["drop"]
    checks = [
        (f"interims HOT with 0130 (at least {HOT_FLOOR:.0%})", f"{before['hot']:.1%}",
         f"{after['hot']:.1%}", after["hot"] >= HOT_FLOOR),
        ("server CPU per interim (ms)", f"{before['cpu_ms']:.3f}", f"{after['cpu_ms']:.3f}",
         True),
        ("WAL per interim (bytes, must shrink)", f"{before['wal']:.0f}", f"{after['wal']:.0f}",
         after["wal"] < before["wal"]),
        ("close-stale's selection (s, within its budget)", f"{before['stale_s']:.3f}",
         f"{after['stale_s']:.3f}", after["stale_s"] < DEFAULT_BUDGETS["close-stale"]),
        (f"purge of {retention['rows']:,} history rows (s wall, {DROP_FASTER:g}x faster)",
         f"{delete.seconds + vacuum.seconds:.2f}", f"{drop.seconds:.2f}",
         drop.seconds * DROP_FASTER <= delete.seconds + vacuum.seconds),
        ("  server CPU (s)", f"{delete.cpu_seconds + vacuum.cpu_seconds:.2f}",
         f"{drop.cpu_seconds:.2f}", True),
        ("  WAL (MiB)", f"{(delete.wal_bytes + vacuum.wal_bytes) / 1048576:.1f}",
         f"{drop.wal_bytes / 1048576:.1f}", True),
    ]
    return radius_load.floors_table(("figure", "before 0130", "0130"), checks)


def main(argv: list[str] | None = None) -> int:
    return radius_load.bench_main("radacct_history_bench", parse, run_bench, argv)


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    sys.exit(main())
