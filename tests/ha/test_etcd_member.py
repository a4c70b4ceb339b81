"""Replace a lost etcd member with the procedure of docs/ha.md ("Replace an etcd member"):
its data wiped, it is removed, added again and started through the role; afterwards etcd
has 3 healthy members and Patroni a leader throughout."""

from __future__ import annotations

import subprocess
import time

from conftest import report

import lab


def test_a_wiped_etcd_member_is_replaced_through_the_role(healthy_lab):
    primary = lab.wait_until(lab.primaries, 60, 1, "a primary")[0]
    # The member on a replica's host: its loss costs etcd one vote and Patroni nothing.
    lost = next(h for h in lab.group("postgres") if h != primary)
    survivor = primary
    started = time.monotonic()

    # The loss: the member stops and its data is gone.
    for command in (["systemctl", "stop", "etcd"], ["rm", "-rf", "/var/lib/etcd/captiva"]):
        subprocess.run(["podman", "exec", lost.container, *command], check=True,
                       capture_output=True)
    code, out = lab.etcdctl(survivor, "endpoint", "health", "--cluster")
    assert code != 0 and f"{lost.address}:{lab.ETCD_CLIENT_PORT} is unhealthy" in out, out

    # The procedure: remove the lost member, add it again, start it through the role.
    old_id = lab.etcd_members(survivor)[lost.name]["id"]
    code, out = lab.etcdctl(survivor, "member", "remove", old_id)
    assert code == 0, out
    assert lost.name not in lab.etcd_members(survivor)
    peer_url = f"https://{lost.address}:{lab.ETCD_PEER_PORT}"
    code, out = lab.etcdctl(survivor, "member", "add", lost.name, f"--peer-urls={peer_url}")
    assert code == 0 and 'ETCD_INITIAL_CLUSTER_STATE="existing"' in out, out
    converge = lab.run_converge("--limit", lost.name, "-e", "etcd_initial_cluster_state=existing")
    assert converge.returncode == 0, converge.stdout[-4000:] + converge.stderr[-2000:]

    listed = lab.etcd_members(survivor)
    code, health = lab.etcdctl(survivor, "endpoint", "health", "--cluster")
    figures = {"replaced": lost.name, "old_id": old_id, "new_id": listed[lost.name]["id"],
               "members": sorted(listed), "replaced_after_s": round(time.monotonic() - started, 1),
               "patroni_primary": [h.name for h in lab.primaries()]}
    report("etcd_member_replaced", figures)
    assert sorted(listed) == sorted(h.name for h in lab.group("postgres")), figures
    assert listed[lost.name]["id"] != old_id and listed[lost.name]["peer_urls"] == [peer_url]
    assert code == 0 and health.count("is healthy") == 3, health
    # The new member holds the cluster's data: Patroni's keys, read through it alone.
    code, out = lab.etcdctl(lost, "get", "--prefix", "--keys-only", "/captiva/captiva/leader")
    assert code == 0 and "/captiva/captiva/leader" in out, out
    assert len(figures["patroni_primary"]) == 1, figures
    lab.wait_until(lab.healthy, 120, 2, "Patroni cluster healthy")
