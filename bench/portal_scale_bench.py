"""Portal at scale (issue 12): /me for 1,000 distinct logged-in students through nginx + TLS,
with accounting arriving at the same time.

    .venv/bin/python bench/portal_scale_bench.py                # as root (FreeRADIUS role)
    .venv/bin/python bench/portal_scale_bench.py --students 1000 --duration 15 --acct-rate 200

Sets up, in one process:
- PostgreSQL 15 with production durability (bench/radius_load.py: fsync, synchronous_commit and
  full_page_writes on, the role's memory settings), migrated, --users users provisioned by the
  real reconcile (sha512-crypt passwords), a month of usage each, --history closed sessions and
  an open session for every fifth user;
- FreeRADIUS rendered by roles/freeradius (quota, expiry, Simultaneous-Use on);
- ``captiva-portal`` (one uvicorn process, the role's pool size and figure cache), pointing at
  that FreeRADIUS as the deployed portal does (its own RADIUS client, 127.0.0.2);
- nginx with roles/portal's site template (TLS, HTTP/2, the /login limit_req zone).

Every one of --students distinct students logs in through nginx (GET /login, POST /login: the
real login endpoint, checked by FreeRADIUS). For that burst only, the nginx /login zone is
rendered with --login-rate/--login-burst (the role's default, 10r/s burst 50 per address, would
take minutes from the one bench address); the portal's own limits keep the role's defaults
(successful logins do not count against them).

Then wrk (HTTPS, keep-alive, closed loop) runs through the same nginx while tools/radload
sends Interim-Updates for the open sessions at --acct-rate through FreeRADIUS (the deployed
accounting path: the rows and captiva_usage_daily change under the portal):
1. baseline, for each --connections value: GET /healthz (nginx + TLS + uvicorn, no session);
2. GET /me with the students' session cookies in turn (each request a different student),
   for each --connections value, back to back after --steady seconds of the same traffic
   (by default the figure cache's TTL and 5 s): the students keep coming back, so the cache
   is in its steady state (entries read at spread times, refreshed ahead), not the state of
   the first seconds after 1,000 logins, when every entry was read in the same 3 s.
Per run: requests/s, p50/p90/p99, and CPU time per request of nginx, the portal and PostgreSQL
(/proc, process trees). Exits 1 when /me's p99 is not under --floor-ms (50), 2 when the servers
could not be set up.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests"), str(ROOT / "tests" / "integration"),
                str(ROOT / "tools"), str(ROOT)]

import radius_load  # noqa: E402
import radload  # noqa: E402
from passlib.hash import sha512_crypt  # noqa: E402
from pg_fixtures import radius_database  # noqa: E402
from portal_fixtures import csrf_of, portal_config_dict, start_nginx, start_portal  # noqa: E402
from radius_fixtures import ROUTER_SECRET, freeradius_for  # noqa: E402

FLOOR_MS = 50.0
PORTAL_DEFAULTS = yaml.safe_load((ROOT / "roles/portal/defaults/main.yml").read_text())


def pool_min_size(pool_max: int) -> int:
    """database.pool_min_size as roles/portal/templates/portal.toml.j2 writes it."""
    template = (ROOT / "roles/portal/templates/portal.toml.j2").read_text()
    line = next(t for t in template.splitlines() if t.startswith("pool_min_size"))
    value = line.split("=", 1)[1].strip()
    return pool_max if "portal_db_pool_max_size" in value else int(value)


def tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the bench's throw-away self-signed certificate
    return context


def post_login(conn: http.client.HTTPSConnection, username: str,
               password: str) -> tuple[http.client.HTTPResponse, float]:
    """GET /login then POST /login on ``conn`` (through nginx), as a browser does: the POST's
    answer (read) and its seconds."""
    conn.request("GET", "/login")
    response = conn.getresponse()
    body = response.read().decode()
    if response.status != 200:
        raise RuntimeError(f"GET /login for {username}: HTTP {response.status}")
    cookie = response.getheader("set-cookie").split(";")[0]
    form = urllib.parse.urlencode({"csrf": csrf_of(body), "username": username,
                                   "password": password})
    started = time.monotonic()
    conn.request("POST", "/login", body=form, headers={
        "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    response = conn.getresponse()
    response.read()
    return response, time.monotonic() - started


def login(port: int, username: str, password: str) -> str:
    """A login through nginx (post_login); the session cookie."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=tls_context())
    try:
        response, _ = post_login(conn, username, password)
        if response.status != 303 or not response.getheader("set-cookie"):
            raise RuntimeError(f"login of {username} failed: HTTP {response.status}")
        return response.getheader("set-cookie").split(";")[0]
    finally:
        conn.close()


def check_me(port: int, cookie: str, username: str) -> None:
    """The cookie is a student's session: /me answers 200 with that student's page."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=tls_context())
    try:
        conn.request("GET", "/me", headers={"Cookie": cookie})
        response = conn.getresponse()
        body = response.read().decode()
    finally:
        conn.close()
    if response.status != 200 or username not in body:
        raise RuntimeError(f"/me for {username}: HTTP {response.status}, not the student's page")


def wrk_command(url: str, path: str, cookies: list[str], connections: int, duration: int,
                threads: int, workdir: Path) -> list[str]:
    script = workdir / f"wrk{path.replace('/', '-')}.lua"
    script.write_text(
        "local cookies = {" + ",".join(f'"{c}"' for c in cookies) + "}\n"
        "local i = 0\n"
        "setup = function(thread) thread:set('offset', math.random(1000)) end\n"
        "request = function()\n"
        "  i = i + 1\n"
        "  if #cookies == 0 then return wrk.format('GET', '" + path + "') end\n"
        "  return wrk.format('GET', '" + path + "',"
        " {['Cookie'] = cookies[(i + (offset or 0)) % #cookies + 1]})\n"
        "end\n"
        "done = function(summary, latency, requests)\n"
        "  io.write(string.format('non2xx %d\\n', summary.errors.status))\n"
        "  io.write(string.format('total %d\\n', summary.requests))\n"
        "  io.write(string.format('p99us %d\\n', latency:percentile(99)))\n"
        "  io.write(string.format('p50us %d\\n', latency:percentile(50)))\n"
        "end\n")
    return ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency",
            "-s", str(script), url + path]


def parse_wrk(out: str) -> dict:
    def number(name):
        match = re.search(rf"^{name} (\d+)$", out, re.M)
        if match is None:
            raise RuntimeError(f"wrk printed no {name}:\n{out}")
        return int(match.group(1))
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": number("p50us") / 1e3, "p99": number("p99us") / 1e3,
            "p90": re.search(r"^\s+90%\s+(\S+)", out, re.M).group(1),
            "requests": number("total"), "non2xx": number("non2xx"),
            "errors": (re.search(r"Socket errors: (.*)", out) or [None, "none"])[1]}


def run_phase(label: str, command: list[str], acct: radload.Workload | None,
              sources: list[radload.CpuSource]) -> dict:
    """wrk in the background, the accounting stream in this process meanwhile."""
    before = radload.snapshot(sources)
    cpu_start = time.process_time()
    wrk = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    report = radload.run(acct, 1) if acct is not None else None
    out, err = wrk.communicate(timeout=600)
    if wrk.returncode != 0:
        raise RuntimeError(f"wrk failed: {err}")
    cpu = radload.spent(before, radload.snapshot(sources))
    figures = parse_wrk(out)
    figures.update(label=label, cpu=cpu, acct=report, bench_cpu=time.process_time() - cpu_start)
    return figures


def print_phase(f: dict) -> None:
    per = ", ".join(f"{name} {seconds / max(1, f['requests']) * 1e3:.3f}"
                    for name, seconds in f["cpu"].items())
    print(f"{f['label']:<34} {f['rps']:>9,.0f} {f['p50']:>8.2f} {f['p90']:>9} "
          f"{f['p99']:>8.2f} {f['non2xx']:>7}  {f['errors']}")
    print(f"  {f['requests']} requests; CPU ms per request: {per}")
    if f["acct"] is not None:
        print(f"  accounting meanwhile: {f['acct'].summary()}")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=5000, help="users provisioned")
    parser.add_argument("--students", type=int, default=1000,
                        help="distinct students logged in (each /me request is one of them)")
    parser.add_argument("--history", type=int, default=100000,
                        help="closed radacct sessions seeded")
    parser.add_argument("--connections", type=lambda text: [int(c) for c in text.split(",")],
                        default=[10], help="wrk connections (requests in flight), "
                        "comma-separated: one baseline and one /me run each")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    parser.add_argument("--acct-rate", type=float, default=200.0,
                        help="Interim-Updates/s during the runs (50,000 users at a 5-minute "
                             "interim send 167/s)")
    parser.add_argument("--cache-seconds", type=float,
                        default=float(PORTAL_DEFAULTS["portal_cache_seconds"]),
                        help="the portal's figure cache (the role's default; 0: off)")
    parser.add_argument("--login-rate", default="1000r/s",
                        help="nginx /login zone rate for the login burst (bench only)")
    parser.add_argument("--login-burst", type=int, default=2000)
    parser.add_argument("--login-workers", type=int, default=8, help="logins in parallel")
    parser.add_argument("--steady", type=float, default=None,
                        help="seconds of /me traffic before the /me runs (default: the figure "
                             "cache's TTL + 5 s, 0 with the cache off)")
    parser.add_argument("--floor-ms", type=float, default=FLOOR_MS)
    return parser.parse_args(argv)


def run_bench(args: argparse.Namespace) -> int:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    if args.students > args.users:
        raise SystemExit("--students must not exceed --users")
    passwords = radius_load.PASSWORDS
    hashes = [sha512_crypt.hash(password, rounds=5000) for password in passwords]
    every = 5
    with radius_load.production_postgres(False) as pg, radius_database(pg) as db, \
            tempfile.TemporaryDirectory(prefix="captiva-portal-scale-") as tmp:
        workdir = Path(tmp)
        seconds = radius_load.provision(db, args.users, "hashed", hashes)
        radius_load.seed_accounting(db, args.users, args.history, every)
        print(f"provisioned {args.users} users through the reconcile in {seconds:.1f} s; "
              f"{args.history} closed sessions, {len(range(0, args.users, every))} open")
        with freeradius_for(workdir / "radius", db) as radius:
            pool_max = int(PORTAL_DEFAULTS["portal_db_pool_max_size"])
            config = portal_config_dict(
                db, radius,
                trusted_proxies=["127.0.0.1/32", "::1/128"],
                radius={"timeout": float(PORTAL_DEFAULTS["portal_radius_timeout"]),
                        "retries": int(PORTAL_DEFAULTS["portal_radius_retries"])},
                session={"max_sessions": int(PORTAL_DEFAULTS["portal_max_sessions"])},
                dashboard={"cache_seconds": args.cache_seconds},
                database={"pool_min_size": pool_min_size(pool_max),
                          "pool_max_size": pool_max})
            (workdir / "portal").mkdir()
            portal = start_portal(workdir / "portal", config)
            nginx = None
            try:
                nginx = start_nginx(workdir / "nginx", portal.port,
                                    portal_nginx_login_rate=args.login_rate,
                                    portal_nginx_login_burst=args.login_burst)
                port = nginx.https_port
                students = [(f"STU{i:06d}", passwords[i % len(passwords)])
                            for i in range(args.students)]
                t0 = time.perf_counter()
                with concurrent.futures.ThreadPoolExecutor(args.login_workers) as pool:
                    cookies = list(pool.map(lambda s: login(port, *s), students))
                took = time.perf_counter() - t0
                if len(set(cookies)) != len(students):
                    raise RuntimeError("two students got the same session cookie")
                for k in (0, len(students) // 2, len(students) - 1):
                    check_me(port, cookies[k], students[k][0])
                print(f"{len(cookies)} distinct students logged in through nginx, the portal "
                      f"and FreeRADIUS in {took:.1f} s (load average "
                      f"{os.getloadavg()[0]:.1f})")

                sources = [radload.CpuSource("nginx", pid=nginx.process.pid),
                           radload.CpuSource("portal", pid=portal.process.pid),
                           radload.CpuSource("postgresql", pid=radius_load.postmaster_pid(pg)),
                           radload.CpuSource("freeradius", pid=radius.process.pid)]
                online = [(f"STU{i:06d}", f"live-{i}") for i in range(0, args.users, every)]
                acct_count = int(args.acct_rate * args.duration)
                rounds = {"offset": 0}

                def accounting() -> radload.Workload | None:
                    if args.acct_rate <= 0:
                        return None
                    work = radload.Workload(
                        kind="acct", server=("127.0.0.1", radius.acct_port),
                        secret=ROUTER_SECRET.encode(), users=online, count=acct_count,
                        rate=args.acct_rate, timeout=5.0, offset=rounds["offset"],
                        event_timestamp=int(time.time()) - 7200, interim_interval=60)
                    rounds["offset"] += acct_count
                    return work

                url = f"https://127.0.0.1:{port}"
                warm = wrk_command(url, "/me", cookies, 10, 3, args.threads, workdir)
                subprocess.run(warm, check=True, capture_output=True)  # warm caches, pool
                load = os.getloadavg()
                baselines = [run_phase(
                    f"GET /healthz (baseline), {connections} conn",
                    wrk_command(url, "/healthz", [], connections, args.duration, args.threads,
                                workdir), accounting(), sources)
                    for connections in args.connections]
                steady = args.steady if args.steady is not None else (
                    args.cache_seconds + 5 if args.cache_seconds > 0 else 0)
                if steady > 0:
                    subprocess.run(wrk_command(url, "/me", cookies, args.connections[0],
                                               int(steady), args.threads, workdir),
                                   check=True, capture_output=True)
                pages = [run_phase(
                    f"GET /me, {len(cookies)} students, {connections} conn",
                    wrk_command(url, "/me", cookies, connections, args.duration, args.threads,
                                workdir), accounting(), sources)
                    for connections in args.connections]
                runs = [(c, run) for c, base, page in zip(args.connections, baselines, pages,
                                                          strict=True) for run in (base, page)]
                load_after = os.getloadavg()
            finally:
                if nginx is not None:
                    nginx.stop()
                portal.stop()
    print()
    print(f"wrk over HTTPS through nginx (closed loop: each connection sends its next request "
          f"when the last is answered), {args.threads} threads, {args.duration} s per run; "
          f"figure cache {args.cache_seconds:g} s, /me runs after {steady:g} s of /me traffic; "
          f"Interim-Updates at {args.acct_rate:g}/s through FreeRADIUS meanwhile; load average "
          f"{load[0]:.1f} before, {load_after[0]:.1f} after (2 cores shared)")
    print(f"{'run':<34} {'req/s':>9} {'p50 ms':>8} {'p90':>9} {'p99 ms':>8} {'non-2xx':>7}"
          "  socket errors")
    for _, figures in runs:
        print_phase(figures)
    print()
    print(f"{'floor':<66} {'required':<10} measured")
    missed = 0
    for k in range(0, len(runs), 2):
        (connections, base), (_, me) = runs[k], runs[k + 1]
        ok = me["p99"] < args.floor_ms and me["non2xx"] == 0
        missed += not ok
        name = (f"/me p99, {len(cookies)} distinct students, {connections} connections, "
                "accounting on")
        print(f"{name:<66} {'< ' + format(args.floor_ms, 'g') + ' ms':<10} "
              f"{me['p99']:.1f} ms (/healthz {base['p99']:.1f} ms)  {'ok' if ok else 'MISSED'}")
    return 1 if missed else 0


def main(argv: list[str] | None = None) -> int:
    return radius_load.bench_main("portal_scale_bench", parse, run_bench, argv)


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    sys.exit(main())
