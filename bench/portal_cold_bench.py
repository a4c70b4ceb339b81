"""The portal's cold start (issue 27): the student page from the first second of 1,000 logins.

The student page after 1,000 students log in at once, through nginx + TLS, next to the warm
figure.

    .venv/bin/python bench/portal_cold_bench.py                 # as root (FreeRADIUS role)
    make bench-portal-cold BENCH_PORTAL_COLD_ARGS="--students 1000 --login-clients 100"

Sets up what bench/portal_scale_bench.py sets up (PostgreSQL with production durability,
--users provisioned by the reconcile with sha512-crypt passwords, a month of usage each,
--history closed sessions; FreeRADIUS rendered by roles/freeradius; one ``captiva-portal``
process with the role's portal.toml settings; nginx rendered from roles/portal's site
template with TLS), on a freshly started portal, then:

1. /healthz at --connections for --warm seconds (the baseline of nginx + TLS + the portal,
   and the portal's own warm-up: whatever it does before its first student is part of this);
2. the login burst: --students distinct students log in at once, --login-clients at a time
   (spread over --client-processes processes), each on its own TLS connection as a browser
   would: GET /login, POST /login (checked by FreeRADIUS, sha512-crypt), then GET /me, the
   redirect's target: their first page, timed by the client and by nginx (its access log's
   $request_time: the portal's time and nginx's, not the client's own time to read the
   answer, which on this machine shares the 2 cores with the servers);
3. right after the last login, the students coming back: /me with their cookies in turn
   (each request a different student) at --connections for --cold seconds (by default two
   figure-cache TTLs and 5 s, so the refreshes and expiries of the entries read during the
   burst are inside), every request timed (wrk, one connection per thread, LuaJIT's clock_gettime);
4. the warm figure: the same /me traffic for --warm seconds after that.

Prints p50/p99 of the logins and of the first pages, of the first second of step 3, of its
worst second, of the whole of step 3 and of the warm run, with /healthz's, next to the floor
(p99 under --floor-ms, 50, from the first second). Exits 1 when the first pages' p99 (as
nginx timed them), the first second's or the worst second's of step 3 is not under the
floor (or a page was not the student's 200), 2 when the servers could not be set up.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests"), str(ROOT / "tests" / "integration"),
                str(ROOT / "tools"), str(ROOT)]

import radius_load  # noqa: E402
import radload  # noqa: E402
from passlib.hash import sha512_crypt  # noqa: E402
from pg_fixtures import radius_database  # noqa: E402
from portal_fixtures import portal_config_dict, start_nginx, start_portal  # noqa: E402
from portal_scale_bench import (  # noqa: E402
    PORTAL_DEFAULTS,
    pool_min_size,
    post_login,
    tls_context,
)
from radius_fixtures import freeradius_for  # noqa: E402

FLOOR_MS = 50.0
# nginx's access log during the burst: when each request ended ($msec, epoch seconds), how long
# nginx spent on it, its status, method and path.
NGINX_LOG_FORMAT = "$msec $request_time $status $request_method $uri"

# wrk, one connection per thread: request() and response() alternate, so each thread times
# its own requests (CLOCK_MONOTONIC, the clock of Python's time.monotonic) and writes one line
# per answer to its file: start (ns), latency (us), status.
WRK_TIMED = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } captiva_timespec;
int clock_gettime(int clk_id, captiva_timespec *tp);
]]
local ts = ffi.new("captiva_timespec")
local function now_ns()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000000000 + tonumber(ts.tv_nsec)
end
local cookies = {COOKIES}
local counter = 0
setup = function(thread)
  counter = counter + 1
  thread:set("id", counter)
end
local out, i, started
init = function(args)
  out = io.open("OUTDIR/wrk-" .. id .. ".txt", "w")
  out:setvbuf("full", 1048576)
  i = id * 97
end
request = function()
  i = i + 1
  started = now_ns()
  if #cookies == 0 then return wrk.format("GET", "PATH") end
  return wrk.format("GET", "PATH", {["Cookie"] = cookies[i % #cookies + 1]})
end
response = function(status, headers, body)
  local t = now_ns()
  out:write(string.format("%d %d %d\\n", started, (t - started) / 1000, status))
  if i % 500 == 0 then out:flush() end
end
"""


@dataclass(frozen=True)
class Timed:
    start: float  # monotonic seconds
    ms: float
    status: int


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank), as wrk reports it."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered))) - 1))]


def timed_wrk(url: str, path: str, cookies: list[str], connections: int, seconds: float,
              workdir: Path) -> list[Timed]:
    """wrk for ``seconds``; every answer with its start and latency."""
    outdir = workdir / f"wrk-{time.monotonic_ns()}"
    outdir.mkdir()
    script = outdir / "timed.lua"
    script.write_text(WRK_TIMED.replace("COOKIES", ",".join(f'"{c}"' for c in cookies))
                      .replace("OUTDIR", str(outdir)).replace("PATH", path))
    subprocess.run(["wrk", f"-t{connections}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
                    "-s", str(script), url + path], check=True, capture_output=True, text=True)
    answers = []
    for name in outdir.glob("wrk-*.txt"):
        for line in name.read_text().splitlines():
            start, micros, status = line.split()
            answers.append(Timed(int(start) / 1e9, int(micros) / 1e3, int(status)))
    if not answers:
        raise RuntimeError(f"wrk answered nothing on {path}")
    return sorted(answers, key=lambda a: a.start)


def login(port: int, username: str, password: str) -> tuple[str | None, float, Timed | None]:
    """A student's login as a browser makes it, on its own TLS connection: GET /login, POST
    /login (post_login), then GET /me, the redirect's target. The session cookie (None: the
    login was not a redirect to /me), the POST's ms and the first page."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=60, context=tls_context())
    try:
        response, took = post_login(conn, username, password)
        t1 = time.monotonic()
        if response.status != 303 or response.getheader("location") != "/me":
            print(f"login of {username}: HTTP {response.status} after {took:.1f} s")
            return None, took * 1e3, None
        session = response.getheader("set-cookie").split(";")[0]
        conn.request("GET", "/me", headers={"Cookie": session})
        response = conn.getresponse()
        page = response.read().decode()
        t2 = time.monotonic()
        status = response.status if username in page else 0
        return session, took * 1e3, Timed(t1, (t2 - t1) * 1e3, status)
    finally:
        conn.close()


def login_chunk(port: int, students: list[tuple[str, str]], threads: int) -> list:
    """One client process's share of the burst: its students' logins, ``threads`` at once."""
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda s: login(port, *s), students))


def nginx_timed(log: Path, method: str, path: str, expected: int = 200) -> list[Timed]:
    """The requests of nginx's access log (NGINX_LOG_FORMAT) to ``method path``, as nginx
    timed them: from the request's first byte read to the response's last byte sent, the
    portal's time included; the client's own time to read the answer is not. The
    ``expected`` status counts as 200 (a login's is its redirect, 303)."""
    answers = []
    for line in log.read_text().splitlines():
        end, seconds, status, verb, uri = line.split()
        if verb == method and uri == path:
            answers.append(Timed(float(end) - float(seconds), float(seconds) * 1e3,
                                 200 if int(status) == expected else int(status)))
    return sorted(answers, key=lambda a: a.start)


def row(label: str, answers: list[Timed] | list[float], floor: float | None = None) -> bool:
    """Print one line of the table; True when it meets ``floor`` (or there is none)."""
    ms = [a.ms if isinstance(a, Timed) else a for a in answers]
    bad = sum(1 for a in answers if isinstance(a, Timed) and a.status != 200)
    p50, p99 = percentile(ms, 50), percentile(ms, 99)
    ok = floor is None or (p99 < floor and bad == 0)
    verdict = "" if floor is None else f"< {floor:g} ms  {'ok' if ok else 'MISSED'}"
    print(f"{label:<52} {len(ms):>8} {p50:>8.2f} {p99:>8.2f} {max(ms):>8.1f} {bad:>6}  "
          f"{verdict}")
    return ok


def seconds_of(answers: list[Timed], since: float) -> dict[int, list[Timed]]:
    buckets: dict[int, list[Timed]] = {}
    for answer in answers:
        buckets.setdefault(int(answer.start - since), []).append(answer)
    return buckets


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=5000, help="users provisioned")
    parser.add_argument("--students", type=int, default=1000,
                        help="distinct students who log in (each /me request is one of them)")
    parser.add_argument("--history", type=int, default=100000,
                        help="closed radacct sessions seeded")
    parser.add_argument("--login-clients", type=int, default=50,
                        help="students logging in at the same moment (each its own TLS "
                             "connection)")
    parser.add_argument("--client-processes", type=int, default=5,
                        help="processes the --login-clients are spread over")
    parser.add_argument("--connections", type=int, default=10,
                        help="wrk connections (requests in flight) for /me and /healthz")
    parser.add_argument("--cold", type=float, default=None,
                        help="seconds of /me right after the logins (default: two figure-cache "
                             "TTLs and 5 s)")
    parser.add_argument("--warm", type=float, default=15, help="seconds of each warm run")
    parser.add_argument("--login-rate", default="1000r/s",
                        help="nginx /login zone rate for the login burst (bench only)")
    parser.add_argument("--login-burst", type=int, default=2000)
    parser.add_argument("--floor-ms", type=float, default=FLOOR_MS)
    return parser.parse_args(argv)


def portal_config(db, radius) -> dict:
    """The portal's settings as roles/portal's portal.toml renders them from its defaults."""
    pool_max = int(PORTAL_DEFAULTS["portal_db_pool_max_size"])
    return portal_config_dict(
        db, radius, trusted_proxies=["127.0.0.1/32", "::1/128"],
        radius={"timeout": float(PORTAL_DEFAULTS["portal_radius_timeout"]),
                "retries": int(PORTAL_DEFAULTS["portal_radius_retries"])},
        session={"max_sessions": int(PORTAL_DEFAULTS["portal_max_sessions"])},
        dashboard={"cache_seconds": float(PORTAL_DEFAULTS["portal_cache_seconds"])},
        database={"pool_min_size": pool_min_size(pool_max), "pool_max_size": pool_max})


def run_bench(args: argparse.Namespace) -> int:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    if args.students > args.users:
        raise SystemExit("--students must not exceed --users")
    ttl = float(PORTAL_DEFAULTS["portal_cache_seconds"])
    cold = args.cold if args.cold is not None else 2 * ttl + 5
    passwords = radius_load.PASSWORDS
    hashes = [sha512_crypt.hash(password, rounds=5000) for password in passwords]
    with radius_load.production_postgres(False) as pg, radius_database(pg) as db, \
            tempfile.TemporaryDirectory(prefix="captiva-portal-cold-") as tmp:
        workdir = Path(tmp)
        seconds = radius_load.provision(db, args.users, "hashed", hashes)
        radius_load.seed_accounting(db, args.users, args.history, 5)
        print(f"provisioned {args.users} users through the reconcile in {seconds:.1f} s; "
              f"{args.history} closed sessions")
        with freeradius_for(workdir / "radius", db) as radius:
            (workdir / "portal").mkdir()
            config = portal_config(db, radius)
            portal = start_portal(workdir / "portal", config)
            nginx = None
            try:
                nginx = start_nginx(workdir / "nginx", portal.port,
                                    access_log=workdir / "burst.log",
                                    log_format=NGINX_LOG_FORMAT,
                                    portal_nginx_login_rate=args.login_rate,
                                    portal_nginx_login_burst=args.login_burst)
                url = f"https://127.0.0.1:{nginx.https_port}"
                sources = [radload.CpuSource("portal", pid=portal.process.pid),
                           radload.CpuSource("postgresql", pid=radius_load.postmaster_pid(pg)),
                           radload.CpuSource("freeradius", pid=radius.process.pid)]
                health = timed_wrk(url, "/healthz", [], args.connections, args.warm, workdir)

                students = [(f"STU{i:06d}", passwords[i % len(passwords)])
                            for i in range(args.students)]
                before = radload.snapshot(sources)
                t0 = time.perf_counter()
                burst = time.monotonic()
                # The students' browsers are other machines: here, --client-processes
                # processes, so that one interpreter's lock does not queue 50 clients' reads.
                processes = max(1, min(args.client_processes, args.login_clients))
                chunks = [students[k::processes] for k in range(processes)]
                with concurrent.futures.ProcessPoolExecutor(processes) as pool:
                    done = list(pool.map(login_chunk, [nginx.https_port] * processes, chunks,
                                         [max(1, args.login_clients // processes)] * processes))
                logins = [result for chunk in done for result in chunk]
                took = time.perf_counter() - t0
                burst_log = workdir / "burst.log"
                served_first = nginx_timed(burst_log, "GET", "/me")
                served_logins = nginx_timed(burst_log, "POST", "/login", expected=303)
                burst_log.unlink()  # the /me runs below are timed by wrk
                os.kill(nginx.process.pid, signal.SIGUSR1)  # reopen: a new, empty log
                login_cpu = radload.spent(before, radload.snapshot(sources))
                cookies = [cookie for cookie, _, _ in logins if cookie is not None]
                failed = len(students) - len(cookies)
                if len(set(cookies)) != len(cookies):
                    raise RuntimeError("two students got the same session cookie")
                started = time.monotonic()
                after_login = timed_wrk(url, "/me", cookies, args.connections, cold, workdir)
                warm = timed_wrk(url, "/me", cookies, args.connections, args.warm, workdir)
            finally:
                if nginx is not None:
                    nginx.stop()
                portal.stop()
    per_login = ", ".join(f"{name} {spent / len(students) * 1e3:.2f}"
                          for name, spent in login_cpu.items())
    print(f"{len(cookies)} distinct students logged in through nginx, {args.login_clients} at "
          f"a time, in {took:.1f} s ({len(students) / took:.0f}/s); "
          f"CPU ms per login: {per_login}")
    buckets = seconds_of(after_login, started)
    worst = max(buckets, key=lambda s: percentile([a.ms for a in buckets[s]], 99))
    print(f"\nwrk over HTTPS through nginx, {args.connections} connections (closed loop), "
          f"each /me request a different student of {len(cookies)}; figure cache {ttl:g} s; "
          f"load average {os.getloadavg()[0]:.1f} (2 cores shared)")
    print(f"{'run':<52} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'non-200':>6}"
          "  floor")
    row(f"/healthz (baseline), {args.warm:g} s, before the logins", health)
    first_pages = sorted((page for _, _, page in logins if page is not None),
                         key=lambda a: a.start)
    burst_buckets = seconds_of(first_pages, burst)
    row(f"the login burst: POST /login, {args.login_clients} at once",
        [took for _, took, _ in logins])
    if failed:
        print(f"{'':<52} {failed} of the {len(students)} logins failed (above)")
    row("the login burst: POST /login, as nginx timed it", served_logins)
    row("the login burst: the first /me, the client's clock", first_pages)
    row("  those of the burst's first second", burst_buckets[min(burst_buckets)])
    burst_ok = row("the login burst: the first /me, as nginx timed it", served_first,
                   args.floor_ms)
    served_buckets = seconds_of(served_first, min(a.start for a in served_first))
    row("  those of the burst's first second", served_buckets[min(served_buckets)],
        args.floor_ms)
    first = row("/me, the first second after the logins", buckets.get(0, []), args.floor_ms)
    worst_ok = row(f"/me, the worst second of {cold:g} s (second {worst + 1})", buckets[worst],
                   args.floor_ms)
    row(f"/me, the {cold:g} s after the logins", after_login)
    row(f"/me, warm ({args.warm:g} s after those)", warm)
    per_second = [percentile([a.ms for a in buckets[s]], 99) for s in sorted(buckets)]
    print("\n/me p99 per second after the logins (ms): "
          + " ".join(f"{p:.0f}" for p in per_second))
    print(f"median of the per-second p99: {statistics.median(per_second):.1f} ms")
    burst_p99 = [percentile([a.ms for a in burst_buckets[s]], 99) for s in sorted(burst_buckets)]
    print("first /me after the login, p99 per second of the burst (ms): "
          + " ".join(f"{p:.0f}" for p in burst_p99[:15])
          + (f" ... ({len(burst_p99)} s, the worst {max(burst_p99):.0f})"
             if len(burst_p99) > 15 else ""))
    if took > ttl:
        print(f"note: the logins took longer than the figure cache's TTL ({ttl:g} s): the "
              "first students' figures were older than the TTL when the /me runs began, so "
              "their pages there read the database (the machine is too busy for this run)")
    return 0 if first and worst_ok and burst_ok and not failed else 1


def main(argv: list[str] | None = None) -> int:
    return radius_load.bench_main("portal_cold_bench", parse, run_bench, argv)


if __name__ == "__main__":
    socket.setdefaulttimeout(60)
    sys.exit(main())
