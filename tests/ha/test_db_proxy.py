"""Each RADIUS host's database proxy (docs/ha.md, "The database proxy").

HAProxy on ha-radius1 and ha-radius2 asks every member's Patroni who it is: the writes'
port reaches the primary only, the login reads' port every member within 1 MB of WAL of the
primary. After a switchover both proxies follow within a few seconds, and FreeRADIUS talks
to the members only through them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
import time

from conftest import report

import lab

STATS = ("import socket; s = socket.socket(socket.AF_UNIX); s.connect('/run/haproxy/admin.sock');"
         " s.sendall(b'show stat\\n'); print(b''.join(iter(lambda: s.recv(65536), b'')).decode())")


def proxy_rows(radius: lab.Host) -> tuple[list[dict[str, str]], float]:
    """HAProxy's servers on ``radius`` (its admin socket's show stat), with the time (epoch)
    the answer was back: a row's ``lastchg`` is the seconds since its last UP or DOWN."""
    out = subprocess.run(["podman", "exec", radius.container, "python3", "-c", STATS],
                         check=True, capture_output=True, text=True, timeout=30).stdout
    answered = time.time()
    rows = [row for row in csv.DictReader(io.StringIO(out.lstrip("# ")))
            if row["svname"] not in ("FRONTEND", "BACKEND")]
    return rows, answered


def proxy_view(radius: lab.Host) -> dict[str, set[str]]:
    """The members HAProxy on ``radius`` has UP, by proxy."""
    view: dict[str, set[str]] = {}
    for row in proxy_rows(radius)[0]:
        view.setdefault(row["pxname"], set())
        if row["status"] == "UP":
            view[row["pxname"]].add(row["svname"])
    return view


def writes_followed_at(radius: lab.Host, primary: lab.Host) -> float | None:
    """When (epoch) the proxy on ``radius`` last changed a member of its writes' port,
    by HAProxy's own clock (lastchg), once it sends writes to ``primary`` only; else None.
    Not the time a poll saw it: a poll through podman exec can take seconds on a loaded
    machine, and polling two hosts one after the other adds them up."""
    rows, answered = proxy_rows(radius)
    writes = [row for row in rows if row["pxname"] == "captiva_db_write"]
    if {row["svname"] for row in writes if row["status"] == "UP"} != {primary.address}:
        return None
    # lastchg is whole seconds, rounded down: the change was at most this long ago.
    return max(answered - int(row["lastchg"]) for row in writes)


def expected_view() -> dict[str, set[str]]:
    primary = lab.wait_until(lab.primaries, 60, 1, "a primary")
    members = {host.address for host in lab.group("postgres")}
    writes = {host.address for host in primary}
    return {"captiva_db_write": writes, "captiva_db_read": members}


# Run inside a RADIUS host as the server's user (who may read its /proc fds): the remote
# address:port of every established TCP connection FreeRADIUS's processes hold, the server's
# and the buffers' replay's (their socket inodes in /proc/<pid>/fd, matched in /proc/net/tcp).
PEERS = """
import os, socket, struct, subprocess
inodes = set()
for unit in ("freeradius", "captiva-radius-replay"):
    pid = subprocess.run(["systemctl", "show", "-p", "MainPID", "--value", unit],
                         capture_output=True, text=True).stdout.strip()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:  # a descriptor may close between the listing and its read
            target = os.readlink(f"/proc/{pid}/fd/" + fd)
        except FileNotFoundError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
for line in open("/proc/net/tcp").read().splitlines()[1:]:
    fields = line.split()
    if fields[9] in inodes and fields[3] == "01":  # established
        address, port = fields[2].split(":")
        print(socket.inet_ntoa(struct.pack("<I", int(address, 16))) + ":" + str(int(port, 16)))
"""


def database_peers(radius: lab.Host) -> set[str]:
    """Where FreeRADIUS's own TCP connections go, as seen inside the RADIUS host."""
    out = subprocess.run(["podman", "exec", radius.container, "runuser", "-u", "freerad", "--",
                          "python3", "-c", PEERS],
                         check=True, capture_output=True, text=True, timeout=30).stdout
    return set(out.split())


def read_sessions(member: lab.Host) -> int:
    """Connections of FreeRADIUS's sql_read pool on ``member``."""
    code, out = lab.psql(member, "SELECT count(*) FROM pg_stat_activity"
                                 " WHERE application_name LIKE '%sql_read%'")
    assert code == 0, out
    return int(out)


def test_each_proxy_sends_writes_to_the_primary_and_reads_to_every_member(healthy_lab):
    expected = expected_view()
    for radius in lab.group("freeradius"):
        assert proxy_view(radius) == expected, radius.name
        # Logins and accounting make both pools connect (the reads, the writes).
        lab.ProbeRun(f"proxy-{int(time.time())}", duration=3, servers=[radius.address]).report()
        peers = database_peers(radius)
        assert peers, f"{radius.name}: FreeRADIUS holds no connection after logins"
        assert {peer.rsplit(":", 1)[0] for peer in peers} == {"127.0.0.1"}, peers


def promotion_time(member: lab.Host) -> float | None:
    """When (epoch) ``member`` was promoted: the newest timeline of Patroni's history, if it
    names ``member`` (the containers share this machine's clock)."""
    code, out = lab.patronictl(member, "history", "-f", "json")
    assert code == 0, out
    timelines = json.loads(out)
    if not timelines or timelines[-1]["New Leader"] != member.name:
        return None
    return dt.datetime.fromisoformat(timelines[-1]["Timestamp"]).timestamp()


def test_the_proxies_follow_a_switchover(healthy_lab):
    old = lab.wait_until(lab.primaries, 60, 1, "a primary")[0]
    candidate = next(m["name"] for m in lab.cluster() if m.get("role") == "sync_standby")
    code, out = lab.patronictl(old, "switchover", "--leader", old.name, "--candidate",
                               candidate, "--force")
    assert code == 0, out
    new = lab.wait_until(lambda: [h for h in lab.primaries() if h != old], 60, 0.5,
                         "the new primary")[0]
    promoted_at = lab.wait_until(lambda: promotion_time(new), 30, 0.5,
                                 f"{new.name}'s promotion in Patroni's history")
    followed_after = {}
    for radius in lab.group("freeradius"):
        followed_at = lab.wait_until(lambda radius=radius: writes_followed_at(radius, new),
                                     15, 0.25,
                                     f"{radius.name}'s proxy sends writes to {new.name} only")
        followed_after[radius.name] = round(max(0.0, followed_at - promoted_at), 1)
    print(f"the proxies sent writes to the new primary only, after its promotion: "
          f"{followed_after} s")
    assert max(followed_after.values()) < 5, followed_after
    lab.wait_until(lab.healthy, 120, 2, "the cluster healthy again")
    for radius in lab.group("freeradius"):
        lab.wait_until(lambda radius=radius: proxy_view(radius) == expected_view(), 15, 0.5,
                       f"{radius.name}'s proxy matches Patroni")


def replay(member: lab.Host, signal: str) -> None:
    """Freeze (STOP) or thaw (CONT) the member's WAL replay: its recovery process."""
    subprocess.run(["podman", "exec", member.container, "pkill", f"-{signal}", "-f",
                    "postgres: .*: startup"], check=True, capture_output=True)


def test_logins_leave_a_replica_that_falls_behind(healthy_lab):
    """What a login reads is at most freeradius_db_proxy_replica_max_lag (1 MB of WAL)
    behind the primary: replicas whose replay stops (their recovery process frozen with
    SIGSTOP; Patroni would resume a pg_wal_replay_pause) leave the read pool once the primary
    has written more than that, the logins read from the primary meanwhile, and the replicas
    come back once they have caught up."""
    primary = lab.wait_until(lab.primaries, 60, 1, "a primary")[0]
    replicas = [h for h in lab.group("postgres") if h != primary]
    radius = lab.group("freeradius")
    try:
        for replica in replicas:
            replay(replica, "STOP")
        code, out = lab.psql(primary, "CREATE TABLE captiva_lag_probe AS SELECT repeat('x', 1000)"
                                      " AS filler FROM generate_series(1, 4000);"
                                      " DROP TABLE captiva_lag_probe")
        assert code == 0, out
        paused_at = time.monotonic()
        for host in radius:
            lab.wait_until(lambda host=host: proxy_view(host)["captiva_db_read"]
                           == {primary.address}, 30, 0.5,
                           f"{host.name}'s proxy drops the lagging replicas")
        left_after = time.monotonic() - paused_at
        run = f"lag-{int(time.time())}"
        probe = lab.ProbeRun(run, duration=3).report()
        figures = {"replicas_left_after_s": round(left_after, 1)} | lab.summary(probe)
        report("db_proxy_lagging_replicas", figures)
        assert probe["logins"]["accepted"] > 0 and probe["logins"]["rejected"] == 0, figures
        assert probe["logins"]["unanswered"] == 0, figures
        # The login reads' connections (rlm_sql names them after the sql_read instance)
        # are on the primary now; the lagging replicas hold none.
        readers = {host.name: read_sessions(host) for host in lab.group("postgres")}
        assert readers[primary.name] > 0 and not any(
            readers[replica.name] for replica in replicas), readers
    finally:
        for replica in replicas:
            replay(replica, "CONT")
    for host in radius:
        lab.wait_until(lambda host=host: proxy_view(host)["captiva_db_read"]
                       == {h.address for h in lab.group("postgres")}, 60, 0.5,
                       f"{host.name}'s proxy takes the replicas back")
