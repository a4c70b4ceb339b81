"""A one-hour PostgreSQL outage at 50,000 users (issue 12): the accounting backlog drains at
five times the steady rate or more, and nothing is lost, with FreeRADIUS restarted mid-replay.

    .venv/bin/python bench/radius_backlog.py            # about 20 minutes, as root
    .venv/bin/python bench/radius_backlog.py --users 10000 --minutes 10     # a shorter run

In one process, on the deployed path (bench/radius_load.py's setup: PostgreSQL 15 with
production durability, --users distinct users provisioned by the reconcile, FreeRADIUS
rendered by roles/freeradius, tools/radload as the routers):

  1. baseline: one Interim-Update for every user's open session (--users sessions) at
     --acct-rate offered, PostgreSQL up, end to end (until every update is in radacct);
  2. outage: PostgreSQL stopped; --minutes of interims at a --interim interval for every
     session (60 minutes at 300 s: 12 rounds, 600,000 records at 50,000 users), sent at
     --send-rate; every one must be acknowledged (it is then in the detail buffer), the
     routers retransmitting an unanswered one (--nas-timeout, --nas-retries) as a NAS does;
  3. PostgreSQL started; the buffer replays. When half of the sessions hold their last round,
     FreeRADIUS is stopped and started again (--no-restart to skip), as an operator or a
     crash would; the replay goes on from each shard's detail.work.

The drain is done when every session holds its last round's counters and the buffer holds
no detail file. Two checks of the result: radacct's counters of every session equal its last
round's, and captiva_usage_daily grew by exactly the bytes of the last rounds (the usage
trigger adds each record's delta over the previous one: a duplicate or a stale record applied
after a newer one would count bytes twice). The counters are cumulative, so a lost record
that is not a session's last loses no bytes; radload's acknowledgement count shows that none
was lost anyway. Prints the figures against the floor (drain >= 5 x the steady rate of
--users at --interim) and exits 1 when one is missed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from radius_load import (
    CORES,
    PASSWORDS,
    ROUTER_SECRET,
    bench_main,
    floors_table,
    freeradius_for,
    postgres_stopped,
    postmaster_pid,
    production_postgres,
    provision,
    radius_database,
    radload,
    seed_accounting,
    sha512_crypt,
    wait_applied,
)

ROUND_BYTES = 3_000_000  # tools/radload: round r of session i carries r * 3e6 + i octets in


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50000,
                        help="users, each with one open session")
    parser.add_argument("--minutes", type=int, default=60, help="length of the outage")
    parser.add_argument("--interim", type=int, default=300, help="Acct-Interim-Interval (s)")
    parser.add_argument("--acct-rate", type=float, default=1250.0,
                        help="baseline: Interim-Updates/s offered, PostgreSQL up")
    parser.add_argument("--send-rate", type=float, default=1500.0,
                        help="outage: Interim-Updates/s offered into the buffer")
    parser.add_argument("--nas-timeout", type=float, default=3.0,
                        help="seconds before the routers retransmit an unanswered record")
    parser.add_argument("--nas-retries", type=int, default=3,
                        help="retransmissions before a record counts as lost")
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="seconds to wait for the drain")
    parser.add_argument("--no-restart", action="store_true",
                        help="do not restart FreeRADIUS in the middle of the replay")
    return parser.parse_args(argv)


def buffer_bytes(buffer_dir: Path) -> int:
    """Bytes of detail files (and their .work copies) still in the buffer."""
    return sum(p.stat().st_size for p in buffer_dir.rglob("*")
               if p.is_file() and p.name.startswith("detail"))


def buffered_records(buffer_dir: Path) -> int:
    """Records in the detail buffer: each starts with an unindented timestamp line."""
    count = 0
    for path in buffer_dir.rglob("detail*"):
        with path.open("rb") as handle:
            count += sum(1 for line in handle if line[:1] not in (b"\t", b"\n", b""))
    return count


def usage_bytes(db) -> int:
    with db.connect() as conn:
        return int(conn.execute(
            "SELECT COALESCE(sum(bytes_in + bytes_out), 0) FROM captiva_usage_daily"
        ).fetchone()[0])


def sessions_at(conn, round_: int, event_ts: int) -> tuple[int, int]:
    """Sessions whose update time is round ``round_``'s, and of those, whose counters are
    not that round's (a wrong or missing record)."""
    done, wrong = conn.execute("""
        SELECT count(*),
               count(*) FILTER (WHERE acctinputoctets
                   <> %(round)s::bigint * %(bytes)s + substr(acctsessionid, 6)::bigint
                   OR acctoutputoctets
                   <> 4 * (%(round)s::bigint * %(bytes)s + substr(acctsessionid, 6)::bigint))
        FROM radacct
        WHERE acctsessionid LIKE 'live-%%' AND acctupdatetime = to_timestamp(%(ts)s)""",
        {"round": round_, "bytes": ROUND_BYTES, "ts": event_ts}).fetchone()
    return int(done), int(wrong)


def run_bench(args: argparse.Namespace) -> int:
    n = args.users
    rounds = args.minutes * 60 // args.interim
    hashes = [sha512_crypt.hash(password, rounds=5000) for password in PASSWORDS]
    steady = n / args.interim
    floor = 5 * steady
    with production_postgres(False) as pg, radius_database(pg) as db, \
            tempfile.TemporaryDirectory(prefix="captiva-bench-backlog-") as tmp:
        seconds = provision(db, n, "hashed", hashes)
        print(f"provisioned {n} users through the reconcile in {seconds:.1f} s")
        seed_accounting(db, n, history=10000, online_every=1)
        # Session i is 'live-<i * 1>': radload's user index i (its counters) matches it.
        online = [(f"STU{i:06d}", f"live-{i}") for i in range(n)]
        secret = ROUTER_SECRET.encode()
        start_ts = int(time.time()) - (rounds + 2) * args.interim
        with freeradius_for(Path(tmp), db) as radius:
            sources = [radload.CpuSource("freeradius", pid=radius.process.pid),
                       radload.CpuSource("postgresql", pid=postmaster_pid(pg))]

            def interims(count: int, offset: int, rate: float) -> radload.Workload:
                return radload.Workload(kind="acct", server=("127.0.0.1", radius.acct_port),
                                        secret=secret, users=online, count=count,
                                        offset=offset, rate=rate, timeout=args.nas_timeout,
                                        retries=args.nas_retries, event_timestamp=start_ts,
                                        interim_interval=args.interim)

            usage_before = usage_bytes(db)
            # 1. Baseline: round 1 of every session, PostgreSQL up.
            before = radload.snapshot(sources)
            base = radload.run(interims(n, 0, args.acct_rate), args.processes)
            applied, finished = wait_applied(db, start_ts + args.interim, n - base.lost, 600)
            cpu = radload.spent(before, radload.snapshot(sources))
            base_rate = applied / (finished - base.first_send)
            base_cpu = sum(cpu.values()) / max(1, applied) * 1e3
            print(f"baseline: {base.summary()}")
            print(f"  end to end: {applied} of {n} in radacct: {base_rate:,.0f}/s, server CPU "
                  f"per interim {base_cpu:.3f} ms")

            # 2. The outage: rounds 2 .. rounds + 1 go to the buffer.
            backlog = n * rounds
            last_round = rounds + 1
            last_ts = start_ts + last_round * args.interim
            with postgres_stopped(pg):
                sent_at = time.perf_counter()
                buffered = radload.run(interims(backlog, n, args.send_rate), args.processes)
                send_seconds = time.perf_counter() - sent_at
                size = buffer_bytes(radius.buffer_dir)
                in_buffer = buffered_records(radius.buffer_dir)
                print(f"outage: {buffered.summary()}")
                print(f"  {backlog:,} records sent ({args.minutes} min of {n:,} sessions at "
                      f"{args.interim} s) in {send_seconds:.0f} s; {in_buffer:,} in the buffer, "
                      f"{size / 2**20:,.0f} MiB of detail files")
            restarted_pg = time.perf_counter()
            sources[1] = radload.CpuSource("postgresql", pid=postmaster_pid(pg))  # a new one
            before = radload.snapshot(sources)

            # 3. The replay, with FreeRADIUS restarted when half the sessions are done.
            restarted_radius = None
            deadline = restarted_pg + args.timeout
            cpu_total: dict[str, float] = {}

            def add_spent() -> None:  # the CPU since ``before`` (a phase, or half of one)
                for name, value in radload.spent(before, radload.snapshot(sources)).items():
                    cpu_total[name] = cpu_total.get(name, 0.0) + value

            # One connection watches (a new one per poll would add its fork to the figures).
            with db.connect() as watch:
                while True:
                    done, wrong = sessions_at(watch, last_round, last_ts)
                    watch.rollback()
                    now = time.perf_counter()
                    if done >= n - buffered.lost and buffer_bytes(radius.buffer_dir) == 0:
                        break
                    if now > deadline:
                        break
                    if restarted_radius is None and not args.no_restart and done >= n // 2:
                        add_spent()
                        radius.stop()
                        radius.start()
                        restarted_radius = now
                        sources[0] = radload.CpuSource("freeradius", pid=radius.process.pid)
                        before = radload.snapshot(sources)
                        print(f"  FreeRADIUS restarted {now - restarted_pg:.0f} s into the replay "
                              f"({done:,} of {n:,} sessions at their last round)")
                    time.sleep(0.5)
            drained = time.perf_counter()
            add_spent()
            usage_after = usage_bytes(db)

    drain_seconds = drained - restarted_pg
    drain_rate = in_buffer / drain_seconds
    # Every session started at 0 octets: the deltas the trigger adds sum to the last round.
    expected_usage = 5 * (n * last_round * ROUND_BYTES + n * (n - 1) // 2)
    usage_delta = usage_after - usage_before
    drain_cpu = sum(cpu_total.values()) / max(1, in_buffer) * 1e3
    print(f"replay: {done:,} of {n:,} sessions at their last round after {drain_seconds:.0f} s, "
          f"{wrong} with wrong counters; {in_buffer:,} records: {drain_rate:,.0f}/s; server CPU "
          f"per replayed record {drain_cpu:.3f} ms "
          f"({', '.join(f'{k} {v / max(1, in_buffer) * 1e3:.3f}' for k, v in cpu_total.items())})")
    print(f"usage: captiva_usage_daily grew by {usage_delta:,} bytes, the last rounds carry "
          f"{expected_usage:,}")
    print(f"ratio: drain {drain_rate:,.0f}/s = {drain_rate / steady:.1f} x the steady "
          f"{steady:,.0f}/s of {n:,} users; baseline end to end {base_rate:,.0f}/s in the same "
          f"process; {CORES} cores shared with the load generator")
    floors = [
        (f"backlog of {args.minutes} min at {n:,} users drained", f">= {floor:,.0f}/s (5x)",
         f"{drain_rate:,.0f}/s ({drain_rate / steady:.1f}x)", drain_rate >= floor),
        ("records acknowledged during the outage", "all", f"{buffered.lost} lost",
         buffered.lost == 0),
        ("sessions at their last round, right counters", f"{n:,}", f"{done:,}, {wrong} wrong",
         done == n and wrong == 0),
        ("usage counted exactly once", f"{expected_usage:,}", f"{usage_delta:,}",
         usage_delta == expected_usage),
    ]
    return floors_table(("floor", "required", "measured"), floors)


def main(argv: list[str] | None = None) -> int:
    return bench_main("radius-backlog", parse, run_bench, argv)


if __name__ == "__main__":
    sys.exit(main())
