"""Console benchmark: search and the user page at 50,000 users and 1 million radacct rows.

    .venv/bin/python bench/console_bench.py                  # 50,000 users, 1,000,000 rows
    .venv/bin/python bench/console_bench.py --users 5000 --rows 100000 --samples 100

Starts a throw-away PostgreSQL 15 with the migrations and functions, loads the quota bench's
campus (quota_bench.load) with a MAC per session and a name per user, then times, with the
console's own functions (captiva.portal.console.data), ``--samples`` random searches of each kind
(username fragment, last name, email, MAC prefix, IP address) and user pages. Baseline in the
same process: the same searches again with migration 0110's search indexes dropped.
Prints p50/p95/p99 per kind; the target is p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "tests" / "integration")]
# The repository is the collection captiva.campus (collections/ansible_collections).
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.captiva.campus.plugins.module_utils.captiva_migrations import (  # noqa: E402
    apply_functions,
    load_functions,
    load_migrations,
    migrate,
)
from quota_bench import Cluster, load, timed  # noqa: E402

from captiva.portal.console import data as console  # noqa: E402

SEARCH_INDEXES = ("captiva_user_search_username_idx", "captiva_user_search_name_idx",
                  "captiva_user_search_email_idx", "captiva_user_username_prefix_idx",
                  "radacct_callingstationid_prefix_idx", "radacct_framedipaddress_idx")
LAST_NAMES = ("Ngono", "Mbarga", "Tchoua", "Eyenga", "Kamga", "Fotso", "Abena", "Nkodo",
              "Essomba", "Mvondo", "Owona", "Biya", "Atangana", "Onana", "Manga", "Ekani")


def enrich(conn, users: int) -> None:
    """A last name per user, a MAC per session (one device per user, a second for some)."""
    conn.execute("UPDATE captiva_user SET last_name = (%s::text[])[1 + (substr(username, 2)"
                 "::int %% %s)] || substr(username, 2)", (list(LAST_NAMES), len(LAST_NAMES)))
    conn.execute("""
        UPDATE radacct SET callingstationid = upper(concat_ws(':', 'AA', 'BB',
            lpad(to_hex((substr(username, 2)::int >> 16) & 255), 2, '0'),
            lpad(to_hex((substr(username, 2)::int >> 8) & 255), 2, '0'),
            lpad(to_hex(substr(username, 2)::int & 255), 2, '0'),
            lpad(to_hex(radacctid::int % 2), 2, '0')))
    """)
    conn.execute("VACUUM ANALYZE")


def samples(conn, kind: str, n: int, users: int, rng: random.Random) -> list[console.Query]:
    out = []
    for _ in range(n):
        i = rng.randint(1, users)
        if kind == "username":
            text = f"u{i}"[: rng.randint(3, len(str(i)) + 1)]
        elif kind == "name":
            text = LAST_NAMES[i % len(LAST_NAMES)] + str(i)
        elif kind == "email":
            text = f"{i}@campus"
        elif kind == "mac":
            text = f"AA:BB:{(i >> 16) & 255:02X}:{(i >> 8) & 255:02X}:{i & 255:02X}"
        else:  # ip: an address some session had
            text = conn.execute("SELECT host(framedipaddress) FROM radacct WHERE radacctid = %s",
                                (rng.randint(1, 1000),)).fetchone()[0]
        out.append(console.Query(text=text))
    return out


def p99(times: list[float]) -> float:
    return statistics.quantiles(times, n=100, method="inclusive")[98]


def percentiles(times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p = statistics.quantiles(ms, n=100, method="inclusive")
    return f"p50 {p[49]:7.1f} ms  p95 {p[94]:7.1f} ms  p99 {p[98]:7.1f} ms  max {ms[-1]:7.1f} ms"


def measure(conn, queries: list[console.Query]) -> list[float]:
    times = []
    for query in queries:
        start = time.perf_counter()
        console.search(conn, query)
        times.append(time.perf_counter() - start)
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--baseline-samples", type=int, default=20,
                        help="searches per kind without the indexes (each may scan)")
    args = parser.parse_args(argv)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    rng = random.Random(17)
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
            timed("names and MACs", lambda: enrich(conn, args.users))
            kinds = ("username", "name", "email", "mac", "ip")
            queries = {k: samples(conn, k, args.samples, args.users, rng) for k in kinds}
            for k in kinds:  # warm the caches once, as a running portal has them
                measure(conn, queries[k][:5])
            print(f"\nsearch, {args.samples} random queries per kind, with the indexes")
            worst = 0.0
            for k in kinds:
                times = measure(conn, queries[k])
                worst = max(worst, p99(times))
                print(f"  {k:<9} {percentiles(times)}")
            users = [f"u{rng.randint(1, args.users)}" for _ in range(args.samples)]
            page_times = []
            for username in users:
                start = time.perf_counter()
                console.user_page(conn, username, now)
                console.history(conn, username)
                page_times.append(time.perf_counter() - start)
            print(f"  {'user page':<9} {percentiles(page_times)}")
            list_times = []
            for status in ("online", "", "never"):
                start = time.perf_counter()
                console.search(conn, console.Query(status=status))
                list_times.append((status or "all", time.perf_counter() - start))
            print("  list (first page): " + ", ".join(f"{s} {t * 1000:.1f} ms"
                                                     for s, t in list_times))

            print(f"\nbaseline, same process: {args.baseline_samples} queries per kind "
                  "without migration 0110's search indexes")
            with conn.transaction():
                for index in SEARCH_INDEXES:
                    conn.execute(f"DROP INDEX {index}")  # noqa: S608 - constant names
                for k in kinds:
                    times = measure(conn, queries[k][:args.baseline_samples])
                    print(f"  {k:<9} {percentiles(times)}")
                raise psycopg.Rollback()  # the indexes come back
        print(f"\nsearch p99 (worst kind) {worst * 1000:.1f} ms; "
              f"user page p99 {p99(page_times) * 1000:.1f} ms"
              " (target < 100 ms)")
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
