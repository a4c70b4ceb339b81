"""False failovers of the HA lab (issue 28, docs/ha.md "A crash"): the price of Patroni's
timing, measured on the running lab (make lab-ha) with nothing crashed.

For --minutes, the router's probe sends 50 logins/s and 50 accounting records/s while
--busy processes per database host burn CPU and --flush ones write and flush to disk (a
busy host), and the cluster is read every second: each change of leader is a failover
nobody asked for. Prints the figures beside the floor (none) and exits non-zero when one
happened.

    make bench-ha-stability BENCH_HA_STABILITY_ARGS="--minutes 10 --busy 1"
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "ha"))

import lab  # noqa: E402

BURN = "exec timeout {seconds} sh -c 'while :; do :; done'"
# 64 MB written and flushed to the host's disk, again and again: etcd's and PostgreSQL's
# fsyncs queue behind it.
FLUSH = ("exec timeout {seconds} sh -c 'while :; do dd if=/dev/zero of=/var/tmp/captiva-flush"
         " bs=1M count=64 conv=fsync status=none; done; rm -f /var/tmp/captiva-flush'")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--busy", type=int, default=1,
                        help="CPU-burning processes started on each database host")
    parser.add_argument("--flush", type=int, default=0,
                        help="processes writing and flushing 64 MB in a loop on each database host")
    args = parser.parse_args()
    if os.geteuid() != 0 or not all(lab.running(h.container) for h in lab.hosts().values()):
        print("bench-ha-stability needs root and the running HA lab (make lab-ha)")
        return 2
    lab.wait_until(lab.healthy, 180, 2, "the cluster healthy")
    seconds = args.minutes * 60
    settings = {k: lab.patroni(lab.primaries()[0], "/config")[1].get(k)
                for k in ("ttl", "loop_wait", "retry_timeout")}
    burners = [subprocess.Popen(["podman", "exec", host.container, "sh", "-c",
                                 BURN.format(seconds=int(seconds) + 5)])
               for host in lab.group("postgres") for _ in range(args.busy)]
    burners += [subprocess.Popen(["podman", "exec", host.container, "sh", "-c",
                                  FLUSH.format(seconds=int(seconds) + 5)])
                for host in lab.group("postgres") for _ in range(args.flush)]
    probe = lab.ProbeRun(f"stability-{int(time.time())}", duration=seconds, interval=0.02,
                         workers=768)
    started = time.monotonic()
    leaders, changes, unreadable = [], [], 0
    while time.monotonic() - started < seconds:
        members = lab.cluster()
        leader = [m["name"] for m in members if m.get("role") == "leader"]
        if not leader:
            unreadable += 1
        elif not leaders or leaders[-1] != leader[0]:
            if leaders:
                changes.append({"at_s": round(time.monotonic() - started, 1),
                                "from": leaders[-1], "to": leader[0]})
            leaders.append(leader[0])
        time.sleep(1)
    report = probe.report(timeout=180)
    for burner in burners:
        burner.wait(timeout=30)
    figures = {"patroni": settings, "minutes": args.minutes, "busy_per_db_host": args.busy,
               "flush_per_db_host": args.flush,
               "load_average_1m": os.getloadavg()[0], "failovers": len(changes),
               "changes": changes, "seconds_without_leader": unreadable} | lab.summary(report)
    print(json.dumps(figures, indent=2, sort_keys=True))
    print(f"  failovers with no crash {len(changes):>6}  floor == 0  "
          f"{'ok' if not changes else 'NOT MET'}")
    return 1 if changes else 0


if __name__ == "__main__":
    sys.exit(main())
