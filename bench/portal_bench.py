"""Portal benchmark: the student dashboard (/me) under load on loopback, measured with wrk.

    .venv/bin/python bench/portal_bench.py             # 100 students, 100 connections, 10 s
    .venv/bin/python bench/portal_bench.py --users 500 --duration 20

Starts a throw-away PostgreSQL 15 with the migrations, a campus roster and 30 days of
accounting per student (written with FreeRADIUS's queries, so the usage trigger fills
captiva_usage_daily), a loopback RADIUS responder for the logins (pyrad packets with
Message-Authenticator; the portal's own RADIUS client is what is exercised), and
``captiva-portal`` (one uvicorn process, as in production). Every student logs in over HTTP;
wrk then requests /me with the students' session cookies in turn, twice: with the default
30 s figure cache and with no cache (every request reads the database).
Prints requests per second and latency percentiles; the target is p99 < 50 ms.

    .venv/bin/python bench/portal_bench.py --flood 100000

instead signs the students in, sends 100,000 cookieless GET /login (50 keep-alive
connections, portal_fixtures.flood) and counts the students still signed in: a flood of
login pages must store nothing and log nobody out (docs/portal.md, Security).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "tests" / "integration")]
# The repository is the collection captiva.campus (collections/ansible_collections).
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.captiva.campus.plugins.module_utils.captiva_migrations import (  # noqa: E402
    apply_functions,
    load_functions,
    load_migrations,
    migrate,
)
from portal_fixtures import (  # noqa: E402
    Accounting,
    MiB,
    csrf_of,
    flood,
    seed_campus,
    start_portal,
)
from pyrad import packet  # noqa: E402
from quota_bench import Cluster  # noqa: E402

from captiva.portal.radius_auth import DICTIONARY  # noqa: E402

RADIUS_SECRET = "bench-portal-secret-0123456789"
PASSWORD = "bench-password"


class Responder:
    """Access-Accept for PASSWORD, Access-Reject otherwise; signed replies (RFC 3579)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            request = packet.AuthPacket(packet=data, secret=RADIUS_SECRET.encode(),
                                        dict=DICTIONARY)
            ok = request.PwDecrypt(request["User-Password"][0]) == PASSWORD
            reply = request.CreateReply()
            reply.code = packet.AccessAccept if ok else packet.AccessReject
            reply.add_message_authenticator()
            self.sock.sendto(reply.ReplyPacket(), peer)

    def close(self):
        self.sock.close()


class Db:
    """What portal_fixtures.seed_campus needs of a database (superuser or a role)."""

    def __init__(self, cluster: Cluster, name: str):
        self.cluster, self.name = cluster, name

    def connect(self, role: str | None = None):
        dsn = self.cluster.dsn(self.name)
        if role:
            dsn = dsn.replace("user=postgres", f"user=captiva_{role}")
        return psycopg.connect(dsn, autocommit=True)


def seed(db: Db, users: int, now: dt.datetime) -> list[str]:
    seed_campus(db, now)
    names = [f"BENCH{i:05d}" for i in range(users)]
    with db.connect() as conn:
        conn.execute("""
            INSERT INTO captiva_user (username, first_name, last_name, promotion, profile,
                                      enabled, status, expires_at, activated_on)
            SELECT u, 'Bench', u, 'L3-INFO-2025', 'etudiant-standard', true, 'active',
                   %s, %s FROM unnest(%s::text[]) AS u
            """, (now + dt.timedelta(days=90), (now - dt.timedelta(days=60)).date(), names))
    with db.connect("freeradius") as conn:
        acct = Accounting(conn)
        for n, name in enumerate(names):
            for day in range(0, 30, 3):
                start = now - dt.timedelta(days=day, hours=3 + n % 5)
                acct.session(f"{name}-{day}", name, start, ip=f"10.5.{n % 250}.{day + 1}",
                             mac=f"AA:BB:CC:{n // 256 % 256:02X}:{n % 256:02X}:{day % 3:02X}",
                             octets_in=(20 + day) * MiB + n, octets_out=3 * MiB,
                             stop=None if day == 0 else start + dt.timedelta(minutes=45),
                             interims=1)
    return names


def login(port: int, username: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/login")
    response = conn.getresponse()
    body = response.read().decode()
    cookie = response.getheader("set-cookie").split(";")[0]
    form = urllib.parse.urlencode({"csrf": csrf_of(body), "username": username,
                                   "password": PASSWORD})
    conn.request("POST", "/login", body=form, headers={
        "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    response = conn.getresponse()
    response.read()
    if response.status != 303:
        raise SystemExit(f"login of {username} failed: HTTP {response.status}")
    return response.getheader("set-cookie").split(";")[0]


def wrk(port: int, cookies: list[str], connections: int, duration: int, threads: int,
        workdir: Path) -> dict[str, str]:
    script = workdir / "cookies.lua"
    script.write_text(
        "local cookies = {" + ",".join(f'"{c}"' for c in cookies) + "}\n"
        "local i = math.random(#cookies)\n"
        "request = function()\n"
        "  i = i % #cookies + 1\n"
        '  return wrk.format("GET", "/me", {["Cookie"] = cookies[i]})\n'
        "end\n"
        "done = function(summary, latency, requests)\n"
        "  io.write(string.format('non2xx %d\\n', summary.errors.status))\n"
        "end\n")
    result = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency",
         "-s", str(script), f"http://127.0.0.1:{port}/me"],
        capture_output=True, text=True, check=True)
    out = result.stdout
    figures = {"rps": re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)}
    for pct in ("50", "90", "99"):
        figures[f"p{pct}"] = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", out, re.M).group(1)
    figures["non2xx"] = re.search(r"non2xx (\d+)", out).group(1)
    figures["errors"] = (re.search(r"Socket errors: (.*)", out) or [None, "none"])[1]
    return figures


def signed_in(port: int, cookie: str) -> bool:
    """The login page sends a signed-in user on to /me (and reads no database)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/login", headers={"Cookie": cookie})
    response = conn.getresponse()
    response.read()
    return response.status == 303


def flood_run(config: dict, names: list[str], requests: int, connections: int,
              workdir: Path) -> None:
    portal = start_portal(workdir, config)
    try:
        cookies = [login(portal.port, name) for name in names]
        result = flood(portal.port, requests, connections)
        still = sum(signed_in(portal.port, cookie) for cookie in cookies)
    finally:
        portal.stop()
    print(f"flood: {result.requests} cookieless GET /login over {connections} connections in "
          f"{result.seconds:.1f} s ({result.requests / result.seconds:,.0f} req/s)")
    print(f"  statuses {dict(result.statuses)}, cookies set {dict(result.cookies)}")
    print(f"  students still signed in afterwards: {still} of {len(names)}")
    if still != len(names):
        raise SystemExit("FAIL: the flood logged students out")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100, help="students logged in")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--caches", default="30,0",
                        help="cache_seconds values to measure, comma-separated (0: no cache)")
    parser.add_argument("--flood", type=int, default=0, metavar="N",
                        help="instead of wrk: N cookieless GET /login, then check the "
                             "students are still signed in")
    args = parser.parse_args(argv)
    if not args.flood and shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    workdir = Path(tempfile.mkdtemp(prefix="captiva-portal-bench-"))
    cluster = Cluster()
    cluster.start()
    responder = Responder()
    try:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE radius")
        db = Db(cluster, "radius")
        with db.connect() as conn:
            migrate(conn, load_migrations(ROOT / "roles/postgres/files/migrations"))
            apply_functions(conn, load_functions(ROOT / "roles/postgres/files/functions"))
            for role in ("portal", "freeradius"):  # trust authentication: no password
                conn.execute(f"ALTER ROLE captiva_{role} LOGIN")
        t0 = time.perf_counter()
        names = seed(db, args.users, now)
        with db.connect() as conn:
            rows = conn.execute("SELECT (SELECT count(*) FROM radacct),"
                                " (SELECT count(*) FROM captiva_usage_daily)").fetchone()
        print(f"seeded {len(names)} students, {rows[0]} sessions, {rows[1]} usage days "
              f"in {time.perf_counter() - t0:.1f} s")
        if args.flood:
            config = {
                "dsn": db.connect("portal").info.dsn,
                "session_secret": "bench-session-secret-0123456789abcdef",
                "radius": {"server": "127.0.0.1", "port": responder.port,
                           "secret": RADIUS_SECRET},
            }
            flood_run(config, names, args.flood, min(args.connections, 50), workdir)
            return 0
        print(f"wrk: {args.connections} connections, {args.threads} threads, "
              f"{args.duration} s, GET /me with {len(names)} students' cookies in turn")
        print(f"{'figure cache':<14} {'req/s':>9} {'p50':>9} {'p90':>9} {'p99':>9} "
              f"{'non-2xx':>8}  socket errors")
        for run, cache in enumerate(float(c) for c in args.caches.split(",")):
            config = {
                "dsn": db.connect("portal").info.dsn,
                "session_secret": "bench-session-secret-0123456789abcdef",
                "radius": {"server": "127.0.0.1", "port": responder.port,
                           "secret": RADIUS_SECRET},
                "dashboard": {"cache_seconds": cache},
                "database": {"pool_min_size": 4, "pool_max_size": 8},
            }
            run_dir = workdir / f"run-{run}"
            run_dir.mkdir()
            portal = start_portal(run_dir, config)
            try:
                cookies = [login(portal.port, name) for name in names]
                wrk(portal.port, cookies, args.connections, 2, args.threads, run_dir)  # warm
                f = wrk(portal.port, cookies, args.connections, args.duration, args.threads,
                        run_dir)
            finally:
                portal.stop()
            label = f"{cache:g} s" if cache else "off"
            print(f"{label:<14} {f['rps']:>9} {f['p50']:>9} {f['p90']:>9} {f['p99']:>9} "
                  f"{f['non2xx']:>8}  {f['errors']}")
    finally:
        responder.close()
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
