"""Crash a database member under a router's load (docs/ha.md, "A crash").

SIGKILL of a member's container (``podman kill -s KILL``): PostgreSQL, Patroni and the
host's etcd member vanish at once, without releasing anything, as when a host loses power.
Meanwhile the probe sends, as the router with two RADIUS servers, 50 logins/s (each with its
own Calling-Station-Id), 50 accounting records/s, and a voucher login every 0.5 s whose
codes have their first use around the crash. The floors (issue 28):

- no login rejected (student or voucher);
- at most 1 % of logins unanswered (no answer from either server);
- every acknowledged accounting record in radacct exactly once;
- a radpostauth row, exactly one, for every accepted login, and a first-use row for every
  voucher accepted;
- when the primary crashed, a new primary within 10 s.

Four crashes: the primary while etcd's Raft leader is elsewhere; the primary with etcd's
leader on the same host (an etcd member lost with the primary: etcd elects a leader, which
extends every lease, before the leader key can expire); the synchronous replica, with etcd's
leader elsewhere and on its host (the primary's Patroni must ride out etcd's election).
Each prints its figures next to the floors and keeps them in build/ha/<name>.json.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import report

import lab

PROMOTION_LIMIT = 10.0
UNANSWERED_LIMIT = 0.01
INTERVAL = 0.02  # 50 logins/s and 50 accounting records/s
KILL_AT = 6.0  # seconds of traffic before the crash
DURATION = 45.0
VOUCHER_BATCH = "lab-guests"
VOUCHERS = 12  # first uses every 0.5 s from 1 s before the crash: 6 s of them


def kill(host: lab.Host) -> None:
    subprocess.run(["podman", "kill", "-s", "KILL", host.container], check=True,
                   capture_output=True)


def primary_among(candidates: list[lab.Host]) -> list[lab.Host]:
    """Members whose Patroni answers GET /primary with 200, asked in parallel (a dead
    member's timeout must not slow the look at the others)."""
    with ThreadPoolExecutor(max_workers=len(candidates)) as pool:
        statuses = list(pool.map(lambda h: lab.patroni(h, "/primary", timeout=1.0)[0],
                                 candidates))
    return [host for host, status in zip(candidates, statuses, strict=True) if status == 200]


def etcd_leader(via: lab.Host) -> lab.Host:
    """The host of etcd's Raft leader, as the member on ``via`` sees the cluster."""
    code, out = lab.etcdctl(via, "endpoint", "status", "--cluster", "-w", "json")
    assert code == 0, out
    by_address = {h.address: h for h in lab.group("postgres")}  # etcd runs on them
    for status in json.loads(out):
        header = status["Status"]["header"]
        if header["member_id"] == status["Status"]["leader"]:
            return by_address[status["Endpoint"].split("://")[1].split(":")[0]]
    raise AssertionError(f"no etcd leader: {out}")


def move_etcd_leader(to: lab.Host) -> None:
    """Make ``to``'s member etcd's leader (etcdctl move-leader, run on the leader)."""
    leader = etcd_leader(to)
    if leader == to:
        return
    target = lab.etcd_members(to)[to.name]["id"]
    code, out = lab.etcdctl(leader, "move-leader", target)
    assert code == 0, out
    lab.wait_until(lambda: etcd_leader(to) == to, 30, 1, f"etcd leader on {to.name}")


def fresh_vouchers(primary: lab.Host, count: int) -> list[str]:
    """Codes of the lab batch that are not revoked, their first use forgotten, so that the
    probe's logins make it again during the crash."""
    code, out = lab.psql(primary, "SELECT v.code FROM captiva_voucher v WHERE v.batch ="
                                  " :'batch' AND NOT EXISTS (SELECT 1 FROM"
                                  " captiva_voucher_revocation r WHERE r.code = v.code)"
                                  " ORDER BY v.index LIMIT :'count'",
                         batch=VOUCHER_BATCH, count=str(count))
    assert code == 0, "reading the lab's voucher codes failed"
    codes = out.split()
    assert len(codes) == count, f"{len(codes)} usable vouchers in {VOUCHER_BATCH}"
    code, _ = lab.psql(primary, "DELETE FROM captiva_voucher_first_use WHERE code ="
                                " ANY (string_to_array(:'codes', ','))", codes=",".join(codes))
    assert code == 0, "forgetting the vouchers' first use failed"
    return codes


def postauth_rows(prefix: str) -> dict[tuple[str, str], int]:
    """radpostauth Access-Accept rows of the probe's login user per request: its
    Calling-Station-Id (the login) and Called-Station-Id (the attempt: probe-1 to the first
    server, probe-2 to the second after a timeout), of the last 30 minutes: the lab keeps
    earlier runs' rows, and a random prefix of 2 octets may come again. A login the first
    server answered too late has a row for each attempt, each recorded once."""
    primary = lab.wait_until(lab.primaries, 60, 1, "a primary")[0]
    code, out = lab.psql(primary, "SELECT callingstationid, calledstationid, count(*) FROM"
                                  " radpostauth WHERE username = :'user' AND reply ="
                                  " 'Access-Accept' AND callingstationid LIKE :'pattern' AND"
                                  " authdate > now() - interval '30 minutes' GROUP BY 1, 2",
                         user=lab.PROBE_USER, pattern=prefix + ":%")
    assert code == 0, out
    rows = [line.split("|") for line in out.splitlines() if line]
    return {(mac, attempt): int(count) for mac, attempt, count in rows}


def first_uses(codes: list[str]) -> set[str]:
    """Indexes (in ``codes``) of the vouchers with a first-use row; never the codes."""
    primary = lab.wait_until(lab.primaries, 60, 1, "a primary")[0]
    code, out = lab.psql(primary, "SELECT code FROM captiva_voucher_first_use WHERE code ="
                                  " ANY (string_to_array(:'codes', ','))", codes=",".join(codes))
    assert code == 0, "reading the first uses failed"
    found = set(out.split())
    return {str(i) for i, c in enumerate(codes) if c in found}


def patroni_settings() -> dict:
    for host in lab.group("postgres"):
        status, body = lab.patroni(host, "/config")
        if status == 200:
            return {k: body.get(k) for k in ("ttl", "loop_wait", "retry_timeout")}
    return {}


def crash_under_probe(name: str, victim_role: str, etcd_leader_with_victim: bool) -> None:
    run = f"crash-{int(time.time())}"
    prefix = "02:" + ":".join(f"{b:02X}" for b in secrets.token_bytes(2))
    primary = lab.wait_until(lab.primaries, 60, 1, "a primary")[0]
    if victim_role == "primary":
        victim = primary
    else:
        sync = [m["name"] for m in lab.cluster() if m.get("role") == "sync_standby"]
        victim = lab.hosts()[sync[0]]
    survivors = [h for h in lab.group("postgres") if h != victim]
    # etcd's leader on the victim's host, or elsewhere: on the primary when a replica dies.
    if etcd_leader_with_victim:
        move_etcd_leader(victim)
    else:
        move_etcd_leader(primary if victim != primary else survivors[0])
    etcd_leader_before = etcd_leader(primary).name
    codes = fresh_vouchers(primary, VOUCHERS)

    probe = lab.ProbeRun(run, duration=DURATION, interval=INTERVAL, workers=768,
                         vouchers=codes, voucher_from=KILL_AT - 1.0, voucher_every=0.5,
                         mac_prefix=prefix)
    time.sleep(KILL_AT)
    killed_at = time.monotonic()
    kill(victim)
    new = lab.wait_until(lambda: primary_among(survivors), 120, 0.2, "a primary")[0]
    promoted_after = time.monotonic() - killed_at
    probe_report = probe.report(timeout=DURATION + 120)

    acknowledged = set(probe_report["accounting"]["acknowledged"])
    # The RADIUS servers replay their buffers onto the new primary.
    try:
        rows = lab.wait_until(lambda: (r := lab.accounting_rows(run))
                              and acknowledged <= r.keys() and r, 120, 2,
                              "every acknowledged record in radacct")
    except AssertionError:
        rows = lab.accounting_rows(run)
    logins = probe_report["logins"]
    accepted_macs = logins["accepted_ids"]
    postauth = postauth_rows(prefix)
    vouchers = probe_report["vouchers"]
    accepted_vouchers = set(vouchers["first_accept_at"])
    used = first_uses(codes)

    figures = {
        "run": run, "killed": victim.name, "role": victim_role, "primary_after": new.name,
        "etcd_leader_before": etcd_leader_before, "patroni": patroni_settings(),
        "kill_at_s": KILL_AT,
        "logins_rate_per_s": round(1 / INTERVAL),
    } | lab.summary(probe_report, rows) | {
        "logins_unanswered_at_s": [logins["unanswered_at"][0], logins["unanswered_at"][-1]]
        if logins["unanswered_at"] else [],
        "logins_unanswered_share": round(logins["unanswered"] / max(logins["sent"], 1), 4),
        "postauth_missing": len(set(accepted_macs) - {mac for mac, _ in postauth}),
        "postauth_duplicated": len([key for key, count in postauth.items() if count > 1]),
        "postauth_late_attempts": len({mac for mac, attempt in postauth if attempt != "probe-1"}
                                      & {mac for mac, attempt in postauth if attempt == "probe-1"}),
        "vouchers_sent": vouchers["sent"], "vouchers_accepted": vouchers["accepted"],
        "vouchers_rejected": vouchers["rejected"],
        "vouchers_unanswered": vouchers["unanswered"],
        "voucher_first_uses_missing": len(accepted_vouchers - used),
    }
    if victim_role == "primary":
        figures["promoted_after_s"] = round(promoted_after, 1)
    else:
        figures["primary_unchanged"] = new == primary
    floors = {
        "logins rejected": (figures["logins_rejected"] + figures["vouchers_rejected"], "== 0",
                            figures["logins_rejected"] + figures["vouchers_rejected"] == 0),
        "logins unanswered": (figures["logins_unanswered_share"], f"<= {UNANSWERED_LIMIT}",
                              figures["logins_unanswered_share"] <= UNANSWERED_LIMIT),
        "accounting lost": (len(figures["accounting_lost"]), "== 0",
                            not figures["accounting_lost"]),
        "accounting duplicated": (len(figures["accounting_duplicated"]), "== 0",
                                  not figures["accounting_duplicated"]),
        "post-auth rows missing or doubled": (
            figures["postauth_missing"] + figures["postauth_duplicated"], "== 0",
            figures["postauth_missing"] + figures["postauth_duplicated"] == 0),
        "voucher first uses missing": (figures["voucher_first_uses_missing"], "== 0",
                                       figures["voucher_first_uses_missing"] == 0),
    }
    if victim_role == "primary":
        floors["new primary after (s)"] = (figures["promoted_after_s"], f"<= {PROMOTION_LIMIT}",
                                           promoted_after <= PROMOTION_LIMIT)
    else:
        floors["primary unchanged"] = (new.name, primary.name, new == primary)
    figures["floors"] = {k: {"measured": v, "floor": f, "met": ok}
                         for k, (v, f, ok) in floors.items()}
    report(name, figures)
    for what, (value, floor, ok) in floors.items():
        print(f"  {what:36} {value!s:>10}  floor {floor:8} {'ok' if ok else 'NOT MET'}")
    assert logins["accepted"] > 0, figures
    failed = [what for what, (_, _, ok) in floors.items() if not ok]
    assert not failed, f"floors not met: {failed}"


@pytest.mark.parametrize(("name", "victim_role", "etcd_leader_with_victim"), [
    ("postgres_primary_crashed", "primary", False),
    ("postgres_primary_crashed_with_etcd_leader", "primary", True),
    ("postgres_sync_replica_crashed", "replica", False),
    ("postgres_sync_replica_crashed_with_etcd_leader", "replica", True),
])
def test_a_crashed_member_costs_no_login_and_no_record(healthy_lab, name, victim_role,
                                                       etcd_leader_with_victim):
    crash_under_probe(name, victim_role, etcd_leader_with_victim)
