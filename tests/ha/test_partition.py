"""Partition the primary from the others: never two primaries accepting writes (docs/ha.md).

The primary's container leaves the lab network (podman network disconnect): it loses etcd's
quorum and Patroni demotes it, while the two others elect a new primary once the leader
lock expires. Meanwhile every member is asked for a write about twice a second, over its
local socket (which the partition does not cut): a write counts as accepted only if its
commit returns within 3 s without a warning (under synchronous replication an isolated
primary's commit waits for a replica it cannot reach, and is never acknowledged).
"""

from __future__ import annotations

import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import report

import lab

TABLE = "captiva_ha_partition_probe"


def try_write(host: lab.Host) -> tuple[str, bool, float]:
    try:
        result = subprocess.run(
            ["podman", "exec", "-i", host.container, "runuser", "-u", "postgres", "--", "psql",
             "-X", "-d", "radius", "-v", "ON_ERROR_STOP=1", "-q", "-v", f"member={host.name}"],
            input="INSERT INTO captiva_ha_partition_probe (member) VALUES (:'member');\n",
            capture_output=True, text=True, timeout=3)
    except subprocess.TimeoutExpired:
        return host.name, False, time.monotonic()
    accepted = result.returncode == 0 and "WARNING" not in result.stderr
    return host.name, accepted, time.monotonic()


def test_a_partitioned_primary_never_leaves_two_primaries_accepting_writes(healthy_lab):
    members = lab.group("postgres")
    old = lab.wait_until(lab.primaries, 60, 1, "a primary")[0]
    code, out = lab.psql(old, f"CREATE TABLE IF NOT EXISTS {TABLE} (member text,"
                              " at timestamptz DEFAULT clock_timestamp())")
    assert code == 0, out
    rounds: list[list[tuple[str, bool, float]]] = []
    done = threading.Event()

    def sample() -> None:
        with ThreadPoolExecutor(max_workers=len(members)) as pool:
            while not done.is_set():
                started = time.monotonic()
                rounds.append(list(pool.map(try_write, members)))
                time.sleep(max(0.0, 0.5 - (time.monotonic() - started)))

    sampler = threading.Thread(target=sample)
    try:
        lab.disconnect(old)
        cut_at = time.monotonic()
        sampler.start()
        lab.wait_until(lambda: [h for h in lab.primaries() if h != old], 60, 1,
                       "a primary among the others")
        time.sleep(10)  # writes go on during the partition
        others = [h for h in lab.primaries() if h != old]
    finally:
        lab.reconnect(old)
    healed_at = time.monotonic()
    try:
        # Back on the network the former primary follows; sampling goes on through it.
        lab.wait_until(lab.healthy, 180, 2, "cluster healthy after the partition")
        time.sleep(10)
    finally:
        done.set()
        sampler.join()
    accepted = [[(name, at) for name, ok, at in samples if ok] for samples in rounds]
    # While cut off, the former primary's last accepted write (none, under synchronous mode).
    old_last = max((at for r in accepted for name, at in r
                    if name == old.name and at < healed_at), default=None)
    new_first = min((at for r in accepted for name, at in r if name != old.name), default=None)
    writers = sorted({name for r in accepted for name, _ in r})
    figures = {
        "partitioned": old.name,
        "new_primary": others[0].name if others else None,
        "rounds": len(rounds),
        "healed_after_s": round(healed_at - cut_at, 1),
        "members_that_accepted_writes": writers,
        "rounds_with_two_writers": sum(1 for r in accepted if len({n for n, _ in r}) > 1),
        "old_primary_last_write_s": None if old_last is None else round(old_last - cut_at, 1),
        "new_primary_first_write_s": None if new_first is None else round(new_first - cut_at, 1),
    }
    figures["primaries_after"] = [h.name for h in lab.primaries()]
    report("database_partition", figures)
    lab.psql(lab.primaries()[0], f"DROP TABLE IF EXISTS {TABLE}")
    assert others, figures
    assert figures["rounds_with_two_writers"] == 0, figures
    assert new_first is not None, figures
    assert old_last is None or old_last < new_first, figures
    assert len(figures["primaries_after"]) == 1, figures
