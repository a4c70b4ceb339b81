"""The running HA lab (make lab-ha) as the failure tests see it: its hosts, the Patroni
cluster through its REST API, SQL on a member, failures (stop, start, partition) and the
probe (probe.py) run as the router. Addresses come from inventories/lab-ha/hosts.yml.
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "inventories" / "lab-ha"
NETWORK = "captiva-lab-ha"
VAULT_ID = f"lab@{INVENTORY}/vault-password-lab-only.txt"
PATRONI_PORT = 8008
PROBE_USER = "lab-student1"
PROBE_PASSWORD = "lab-password-1"  # noqa: S105  (the lab roster's documented password)
# Accounting records of the probe: a user of their own, so they never count as sessions
# of the login user (Simultaneous-Use) and the tests can remove them afterwards.
PROBE_ACCT_USER = "ha-probe"


@dataclass(frozen=True)
class Host:
    name: str
    container: str
    address: str
    group: str


def hosts() -> dict[str, Host]:
    """The lab-ha hosts, by inventory name (lab/lab-hosts.py prints them)."""
    out = subprocess.run([sys.executable, str(ROOT / "lab" / "lab-hosts.py"),
                          str(INVENTORY / "hosts.yml"), "10.89.2.0/24"],
                         check=True, capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        name, container, address, group = line.split()
        found[name] = Host(name, container, address, group)
    return found


def group(name: str) -> list[Host]:
    return [host for host in hosts().values() if host.group == name]


def running(container: str) -> bool:
    result = subprocess.run(["podman", "container", "inspect", "--format",
                             "{{.State.Running}}", container], capture_output=True, text=True)
    return result.returncode == 0 and result.stdout.strip() == "true"


@functools.cache
def lab_ca() -> ssl.SSLContext:
    """A TLS client context that verifies servers with the lab CA (read once)."""
    return ssl.create_default_context(cafile=str(PKI / "ca.crt"))


def get(url: str, context: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    """(status, body) of a GET; (0, the error) when the server answered no HTTP."""
    scheme, rest = url.split("://", 1)
    address, path = rest.split("/", 1)
    hostname, port = address.split(":")
    connection = (http.client.HTTPSConnection(hostname, int(port), context=context, timeout=5)
                  if scheme == "https"
                  else http.client.HTTPConnection(hostname, int(port), timeout=5))
    try:
        connection.request("GET", "/" + path)
        response = connection.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException) as error:
        return 0, repr(error).encode()
    finally:
        connection.close()


def patroni(host: Host, path: str, timeout: float = 2.0) -> tuple[int, dict]:
    """GET a Patroni REST endpoint of a member over https, its certificate verified with the
    lab CA: (status, JSON body); (0, {}) if unreachable."""
    try:
        with urllib.request.urlopen(f"https://{host.address}:{PATRONI_PORT}{path}",  # noqa: S310
                                    timeout=timeout, context=lab_ca()) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        body = error.read()
        try:
            return error.code, json.loads(body or b"{}")
        except ValueError:
            return error.code, {}
    except (OSError, ValueError):
        return 0, {}


def primaries() -> list[Host]:
    """Members whose Patroni says they are the primary (GET /primary is 200)."""
    return [host for host in group("postgres") if patroni(host, "/primary")[0] == 200]


def cluster() -> list[dict]:
    """Patroni's member list (name, role, state, lag) as any reachable member reports it."""
    for host in group("postgres"):
        status, body = patroni(host, "/cluster")
        if status == 200:
            return body.get("members", [])
    return []


def psql(host: Host, sql: str, timeout: float = 10.0, database: str = "radius",
         **variables: str) -> tuple[int, str]:
    """Run SQL as postgres over the member's local socket (works on a partitioned member).

    Values go in as psql variables (``:'name'`` in ``sql``, quoted by psql), never into
    the SQL text; the SQL is read from stdin, where psql interpolates them.
    """
    command = ["podman", "exec", "-i", host.container, "runuser", "-u", "postgres", "--",
               "psql", "-X", "-d", database, "-v", "ON_ERROR_STOP=1", "-At"]
    for name, value in variables.items():
        command += ["-v", f"{name}={value}"]
    try:
        result = subprocess.run(command, input=sql, capture_output=True, text=True,
                                timeout=timeout)
    except subprocess.TimeoutExpired:
        return 124, "timeout"
    return result.returncode, (result.stdout if result.returncode == 0 else result.stderr).strip()


def patronictl(host: Host, *args: str, timeout: float = 60.0) -> tuple[int, str]:
    """patronictl on a member, as docs/ha.md runs it: (exit status, its output)."""
    command = ["podman", "exec", host.container, "patronictl", "-c", "/etc/patroni/config.yml",
               *args]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return 124, "timeout"
    return result.returncode, (result.stdout + result.stderr).strip()


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.5,
               what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not met within {timeout} s (last: {value!r})")
        time.sleep(interval)


def healthy() -> bool:
    """One leader, a synchronous replica, every replica running on the leader's timeline
    with under 1 MB of lag: the state each test starts from and leaves behind."""
    members = cluster()
    if len(members) != len(group("postgres")):
        return False
    leaders = [m for m in members if m.get("role") == "leader"]
    replicas = [m for m in members if m.get("role") in ("replica", "sync_standby")]
    if len(leaders) != 1 or len(replicas) != len(members) - 1:
        return False
    timeline = leaders[0].get("timeline")
    return (any(m["role"] == "sync_standby" for m in replicas)
            and all(m.get("state") in ("running", "streaming") for m in members)
            and all(m.get("timeline") == timeline for m in replicas)
            and all(isinstance(m.get("lag"), int) and m["lag"] < 1_048_576 for m in replicas))


def restore() -> None:
    """Every lab-ha container running and connected, the cluster healthy again."""
    for host in hosts().values():
        if not running(host.container):
            subprocess.run(["podman", "start", host.container], check=True,
                           capture_output=True)
        reconnect(host)
    wait_until(healthy, 180, 2, "Patroni cluster healthy (1 leader, replicas streaming)")


def stop(host: Host) -> None:
    subprocess.run(["podman", "stop", "-t", "30", host.container], check=True,
                   capture_output=True)


def start(host: Host) -> None:
    subprocess.run(["podman", "start", host.container], check=True, capture_output=True)


def disconnect(host: Host) -> None:
    subprocess.run(["podman", "network", "disconnect", NETWORK, host.container], check=True,
                   capture_output=True)


def reconnect(host: Host) -> None:
    """Put a disconnected container back at its address (a no-op when connected)."""
    networks = subprocess.run(["podman", "container", "inspect", "--format",
                               "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
                               host.container], capture_output=True, text=True).stdout.split()
    if NETWORK not in networks:
        subprocess.run(["podman", "network", "connect", "--ip", host.address, NETWORK,
                        host.container], check=True, capture_output=True)


def router_secret(router: str = "lab-gw1") -> str:
    result = subprocess.run([sys.executable, str(ROOT / "lab" / "lab-router.py"), "-i",
                             str(INVENTORY), router, "radius-secret"],
                            check=True, capture_output=True, text=True,
                            env={**os.environ, "ANSIBLE_VAULT_IDENTITY_LIST": VAULT_ID})
    return result.stdout.strip()


class ProbeRun:
    """probe.py running as the router (in its container's network namespace)."""

    def __init__(self, run: str, duration: float, servers: list[str] | None = None,
                 interval: float = 0.1, workers: int = 64, vouchers: list[str] = (),
                 voucher_from: float = 0.0, voucher_every: float = 0.5,
                 mac_prefix: str = "02:00:00") -> None:
        router = group("routers")[0]
        pid = subprocess.run(["podman", "container", "inspect", "--format", "{{.State.Pid}}",
                              router.container], check=True, capture_output=True,
                             text=True).stdout.strip()
        servers = servers or [host.address for host in group("freeradius")]
        self.run = run
        self.process = subprocess.Popen(
            [shutil.which("nsenter") or "nsenter", "--target", pid, "--net", "--",
             sys.executable, str(Path(__file__).with_name("probe.py")),
             "--servers", ",".join(servers), "--source", router.address,
             "--nas-address", router.address, "--user", PROBE_USER,
             "--password", PROBE_PASSWORD, "--acct-user", PROBE_ACCT_USER, "--run", run,
             "--duration", str(duration), "--interval", str(interval),
             "--workers", str(workers), "--mac-prefix", mac_prefix,
             "--vouchers", str(len(vouchers)), "--voucher-from", str(voucher_from),
             "--voucher-every", str(voucher_every)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # The secret and the voucher codes go through stdin, never on a command line.
        self.process.stdin.write("".join(line + "\n" for line in [router_secret(), *vouchers]))
        self.process.stdin.close()
        self.process.stdin = None  # communicate() then only reads
        self.started = time.monotonic()

    def report(self, timeout: float = 120) -> dict:
        out, err = self.process.communicate(timeout=timeout)
        assert self.process.returncode == 0, f"probe failed: {err[-2000:]}"
        return json.loads(out)

    def stop(self) -> dict:
        self.process.send_signal(signal.SIGTERM)
        return self.report()


def accounting_rows(run: str) -> dict[str, int]:
    """radacct rows per Acct-Session-Id of a probe run, read on the primary."""
    primary = wait_until(primaries, 60, 1, "a primary")[0]
    code, out = psql(primary, "SELECT acctsessionid, count(*) FROM radacct"
                              " WHERE acctsessionid LIKE :'pattern' GROUP BY 1",
                     pattern=f"{run}-%")
    assert code == 0, out
    return {line.split("|")[0]: int(line.split("|")[1]) for line in out.splitlines() if line}


def forget_probe_rows() -> None:
    primary = wait_until(primaries, 60, 1, "a primary")[0]
    psql(primary, "DELETE FROM radacct WHERE username = :'user'", user=PROBE_ACCT_USER)


def summary(report: dict, rows: dict[str, int] | None = None) -> dict:
    """The figures each test reports: unanswered, rejects, records lost or duplicated."""
    logins, accounting = report["logins"], report["accounting"]
    out = {"logins_sent": logins["sent"], "logins_unanswered": logins["unanswered"],
           "logins_rejected": logins["rejected"], "logins_answered_by": logins["answered_by"],
           "accounting_sent": accounting["sent"],
           "accounting_unanswered": len(accounting["unanswered"]),
           "accounting_answered_by": accounting["answered_by"]}
    if rows is not None:
        acknowledged = set(accounting["acknowledged"])
        out["accounting_lost"] = sorted(acknowledged - rows.keys())
        out["accounting_duplicated"] = sorted(s for s, n in rows.items() if n > 1)
    return out


ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
PKI = ROOT / "build" / "pki" / "lab-ha"


def etcdctl(host: Host, *args: str, timeout: float = 30.0) -> tuple[int, str]:
    """etcdctl on a member as an operator runs it: with the settings roles/etcd writes to
    /etc/etcd/etcdctl.env (endpoint, CA, client certificate). (exit status, its output)."""
    command = ["podman", "exec", host.container, "bash", "-c",
               '. /etc/etcd/etcdctl.env && exec etcdctl "$@"', "etcdctl", *args]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return 124, "timeout"
    # Both streams: etcdctl endpoint health reports on stderr, healthy or not.
    return result.returncode, (result.stdout + result.stderr).strip()


def etcd_members(host: Host) -> dict[str, dict]:
    """etcd's member list as a member reports it, by name: id (hex), peer and client URLs."""
    code, out = etcdctl(host, "member", "list", "-w", "json")
    assert code == 0, out
    return {m.get("name", ""): {"id": format(m["ID"], "x"), "peer_urls": m.get("peerURLs", []),
                                "client_urls": m.get("clientURLs", [])}
            for m in json.loads(out)["members"]}


def run_converge(*ansible_args: str, timeout: float = 1200) -> subprocess.CompletedProcess:
    """make lab-ha-converge with CAPTIVA_LAB_ANSIBLE_ARGS: site.yml through the roles."""
    return subprocess.run(["make", "--no-print-directory", "lab-ha-converge",
                           "CAPTIVA_LAB_ANSIBLE_ARGS=" + " ".join(ansible_args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def load_hosts_file() -> dict:
    return yaml.safe_load((INVENTORY / "hosts.yml").read_text(encoding="utf-8"))
