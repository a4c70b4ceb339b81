"""Reconcile N hotspot user profiles against tools/routeros-sim and report time and round trips.

    .venv/bin/python bench/routeros_bench.py [--profiles 5000]

Runs: first run (empty router), no-op re-run, then a run where 1% of the profiles changed.
API sentences are counted by the simulator (its own stats connection excluded).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))


# The repository is the collection captiva.campus (collections/ansible_collections).
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.captiva.campus.plugins.module_utils.captiva_routeros import (  # noqa: E402
    RouterOSClient,
    reconcile,
)
from routeros_fixtures import start_sim, stop_sim  # noqa: E402


def profiles(count: int, changed_every: int = 0) -> list[dict]:
    out = []
    for i in range(count):
        rate = "4M/20M" if changed_every and i % changed_every == 0 else "2M/10M"
        out.append({"name": f"profile-{i:05d}", "rate-limit": rate, "shared-users": 1,
                    "session-timeout": "8h", "idle-timeout": "10m"})
    return out


def measure(sim, label: str, desired: dict) -> None:
    sim.reset_stats()
    start = time.perf_counter()
    client = RouterOSClient(sim.host, sim.user, sim.password, port=sim.port, tls=False,
                            timeout=10)
    try:
        result = reconcile(client, desired, allow_mass_prune=True)
    finally:
        client.close()
    elapsed = time.perf_counter() - start
    stats = sim.stats()
    # The stats connection's own /login is one sentence: leave it out.
    print(f"{label:<12} {elapsed:8.2f} s  sentences={stats['sentences'] - 1:>6}  "
          f"writes={stats['writes']:>6}  prints={stats['prints']:>3}  counts={result['counts']}",
          flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sim = start_sim(Path(tmp))
        try:
            print(f"{args.profiles} hotspot user profiles against routeros-sim "
                  f"at {sim.host}:{sim.port}")
            base = {"/ip/hotspot/user/profile": profiles(args.profiles)}
            measure(sim, "first run", base)
            measure(sim, "no-op", base)
            measure(sim, "1% change", {"/ip/hotspot/user/profile": profiles(args.profiles, 100)})
        finally:
            stop_sim(sim)
    return 0


if __name__ == "__main__":
    sys.exit(main())
