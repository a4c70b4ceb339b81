"""Disconnect-Requests against simulated routers: sessions ended per second, time lost to a
silent router. Figures and ratios against a baseline measured in the same process.

    .venv/bin/python bench/disconnect_bench.py [--routers 10] [--sessions 10000]
        [--baseline 300] [--timeout 3 --retries 2] [--delay 0.01]

Starts ``--routers`` tools/routeros-sim processes on 127.0.0.1, each with its share of
``--sessions`` hotspot sessions and a Disconnect listener that accepts 127.0.0.1 and answers
after ``--delay`` seconds (a router across the campus network; 0: loopback speed), then:

1. baseline: one request at a time (what enforce did before), over ``--baseline`` sessions;
2. concurrent: ``coa.dispatch`` (enforce's engine: bounded per router and overall) over all
   the sessions; checks through the API that every router's /ip/hotspot/active is empty;
3. the same with one more router that never answers: when the answering routers are done
   (as fast as without it), and when the run is (expected: one window,
   ``timeout x (retries + 1)``, for all the silent router's sessions together).

No database: ``still_open`` answers "open" and ``record`` counts (enforce adds one batched
INSERT per 200 answers).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from routeros_fixtures import start_sim, stop_sim  # noqa: E402

from captiva.runtime import coa  # noqa: E402

SECRET = "bench-radius-secret-0123456789"


def sessions_for(router: int, count: int) -> list[dict[str, str]]:
    return [{"user": f"r{router}-u{n:05d}", "address": f"10.{router}.{n // 250}.{n % 250 + 1}",
             "session-id": f"{router:02x}{n:06x}"} for n in range(count)]


def work_for(name: str, router: int, sessions: list[dict[str, str]]) -> list[coa.Work]:
    return [coa.Work(router * 1_000_000 + n, name,
                     coa.Session(s["user"], s["session-id"], s["address"]))
            for n, s in enumerate(sessions)]


def run_dispatch(targets: dict[str, coa.Router], work: list[coa.Work], limits: coa.Limits,
                 done: dict[str, float] | None = None) -> tuple[float, dict]:
    """Seconds taken, reports; ``done``: seconds until each router's last answer."""
    began = time.monotonic()

    def record(item: coa.Work, outcome: coa.Outcome) -> None:
        if done is not None:
            done[item.router] = time.monotonic() - began

    reports = asyncio.run(coa.dispatch(
        targets, work, limits=limits, deadline=time.monotonic() + 3600,
        still_open=lambda keys: set(keys), record=record))
    return time.monotonic() - began, reports


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--routers", type=int, default=10)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--baseline", type=int, default=300)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--retries", type=int, default=2)
    parser.add_argument("--delay", type=float, default=0.01)
    args = parser.parse_args()
    limits = coa.Limits(timeout=args.timeout, retries=args.retries)
    per_router = args.sessions // args.routers
    with tempfile.TemporaryDirectory() as tmp:
        sims = []
        try:
            for number in range(args.routers + 1):
                (Path(tmp) / str(number)).mkdir()
                sim = start_sim(Path(tmp) / str(number))
                sims.append(sim)
                sim.accept_disconnects(("127.0.0.1", SECRET))
                sim.command("/captiva-sim/coa/set", delay=str(args.delay))
            silent = sims.pop()
            silent.command("/captiva-sim/coa/set", mode="silent")
            names = [f"gw-{n:02d}" for n in range(args.routers)]
            targets = {name: coa.Router(name, "127.0.0.1", sim.coa_port, SECRET)
                       for name, sim in zip(names, sims, strict=True)}
            targets["gw-silent"] = coa.Router("gw-silent", "127.0.0.1", silent.coa_port, SECRET)

            def load() -> list[coa.Work]:
                work = []
                for number, (name, sim) in enumerate(zip(names, sims, strict=True)):
                    sessions = sessions_for(number, per_router)
                    sim.add_sessions(sessions)
                    work += work_for(name, number, sessions)
                return work

            print(f"{args.routers} routers x {per_router} sessions (routeros-sim, "
                  f"127.0.0.1, answers after {args.delay * 1000:g} ms), "
                  f"timeout {args.timeout:g} s x {args.retries + 1} tries "
                  f"(window {limits.window:g} s), {limits.per_router} in flight per router, "
                  f"{limits.concurrency} overall")

            # 1. baseline: one at a time
            work = load()
            sample = work[:args.baseline]
            began = time.monotonic()
            for item in sample:
                router = targets[item.router]
                outcome = coa.disconnect(router.address, router.port, SECRET,
                                         username=item.session.username,
                                         session_id=item.session.session_id,
                                         framed_ip=item.session.framed_ip,
                                         timeout=args.timeout, retries=args.retries)
                assert outcome.result == "ack", outcome
            serial = time.monotonic() - began
            serial_rate = len(sample) / serial
            print(f"baseline, one at a time: {len(sample)} sessions in {serial:.2f} s = "
                  f"{serial_rate:,.0f} sessions/s")

            # 2. concurrent, all answering
            rest = work[args.baseline:]
            seconds, reports = run_dispatch(targets, rest, limits)
            acked = sum(r.ack for r in reports.values())
            assert acked == len(rest), {k: v.__dict__ for k, v in reports.items()}
            left = sum(len(sim.rows("/ip/hotspot/active")) for sim in sims)
            assert left == 0, f"{left} sessions still active on the routers"
            rate = acked / seconds
            print(f"concurrent: {acked:,} sessions in {seconds:.2f} s = {rate:,.0f} sessions/s "
                  f"(x{rate / serial_rate:.1f} the baseline); /ip/hotspot/active empty on "
                  f"every router")

            # 3. the same plus a silent router
            work = load()
            silent_work = work_for("gw-silent", 99, sessions_for(99, per_router))
            done: dict[str, float] = {}
            with_silent, reports = run_dispatch(targets, work + silent_work, limits, done)
            report = reports["gw-silent"]
            assert report.unreachable and report.skipped == per_router - limits.per_router
            assert sum(r.ack for r in reports.values()) == len(work)
            answered = max(v for k, v in done.items() if k != "gw-silent")
            print(f"with a silent router ({per_router} sessions) as well: the answering "
                  f"routers done in {answered:.2f} s (x{answered / seconds:.2f} the run "
                  f"without it); the run took {with_silent:.2f} s = "
                  f"{with_silent / limits.window:.2f} windows; {report.timeout} requests timed "
                  f"out together, {report.skipped} sessions skipped")
        finally:
            for sim in sims + [silent]:
                stop_sim(sim)
    return 0


if __name__ == "__main__":
    sys.exit(main())
