"""Workstations benchmark: 500 kiosk pages on Server-Sent Events and a console watching a site
of 200 workstations, against one portal process (uvicorn) and a throw-away PostgreSQL 15.

    .venv/bin/python bench/workstation_bench.py                       # 500 kiosks, 20 s
    .venv/bin/python bench/workstation_bench.py --kiosks 100 --seconds 10

Three sites (200, 200 and 100 workstations), every workstation's kiosk connected to
/kiosk/events (its address through the trusted proxy's X-Forwarded-For), one console
connected to /admin/workstations/site-1/events. Meanwhile sessions are issued and time added
(``--rate`` actions a second, through the console's SQL functions). For each action, the
update latency is the time from its commit to the event on the workstation's kiosk stream
(and on the console stream for site-1). The portal's CPU is the server process's user +
system time over the measured window. Target: p99 < 1 s.

The portal runs in its own process with a stand-in for RADIUS (the console's staff login is
not what is measured); everything else is the shipped code.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import socket
import statistics
import sys
import time
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
from quota_bench import Cluster  # noqa: E402

SITES = {"site-1": 200, "site-2": 200, "site-3": 100}
ADMIN = "bench.admin"


def seed(conn) -> list[tuple[str, str, str]]:
    """Sites, rules (always open), workstations; returns (name, site, ip)."""
    workstations = []
    conn.execute("UPDATE captiva_quota_settings SET timezone = 'Africa/Douala'")
    for s, (site, count) in enumerate(SITES.items(), start=1):
        conn.execute("INSERT INTO captiva_site VALUES (%s, 'Africa/Douala', 1, 1)", (site,))
        conn.execute("INSERT INTO captiva_workstation_rules VALUES (%s, 3600, 7200, 100, NULL,"
                     " '{300,120,60,30,10}', 90)", (site,))
        for day in range(1, 8):
            conn.execute("INSERT INTO captiva_workstation_hours VALUES (%s, %s, 0, 1440)",
                         (site, day))
        for n in range(count):
            name, ip = f"{site}-pc{n:03d}", f"10.6{s}.{n // 250}.{n % 250 + 1}"
            mac = f"02:00:{s:02X}:00:{n // 256:02X}:{n % 256:02X}"
            conn.execute("INSERT INTO captiva_workstation VALUES (%s, %s, %s, %s, '', false)",
                         (name, site, mac, ip))
            workstations.append((name, site, ip))
    conn.execute("INSERT INTO captiva_user (username, language, profile, enabled, status,"
                 " activated_on) SELECT 'member' || g, 'fr', 'captiva-default', true, 'active',"
                 " '2026-01-01' FROM generate_series(1, 2000) g")
    conn.execute("INSERT INTO captiva_user (username, language, profile, enabled, status,"
                 " activated_on) VALUES (%s, 'fr', 'captiva-default', true, 'active',"
                 " '2026-01-01')", (ADMIN,))
    conn.execute("INSERT INTO captiva_staff VALUES (%s, 'admin', '{}')", (ADMIN,))
    conn.execute("ANALYZE")
    return workstations


def serve(dsn: str, port: int) -> None:
    import uvicorn

    from captiva.portal.app import create_app
    from captiva.portal.config import parse
    from captiva.portal.radius_auth import AuthResult

    config = parse({"dsn": dsn, "session_secret": "bench-session-secret-0123456789abcdef",
                    "trusted_proxies": ["127.0.0.1/32"],
                    "radius": {"server": "127.0.0.1", "port": 1812,
                               "secret": "bench-radius-secret-01", "timeout": 1, "retries": 1},
                    "database": {"pool_min_size": 4, "pool_max_size": 8}})
    app = create_app(config, authenticate=lambda *a, **k: AuthResult(True))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", workers=1,
                timeout_keep_alive=60)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def http(port: int, request: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**22)
    writer.write(request)
    await writer.drain()
    return reader, writer


async def sse(port, path, headers, on_event, ready):
    head = f"GET {path} HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n{headers}\r\n"
    reader, writer = await http(port, head.encode())
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"{path}: {status!r}")
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    ready()
    # Chunked transfer encoding: size line, data, CRLF.
    buffer = b""
    try:
        while True:
            size = int((await reader.readline()).strip() or b"0", 16)
            if size == 0:
                return
            buffer += await reader.readexactly(size)
            await reader.readexactly(2)
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                if event.startswith(b"data: "):
                    on_event(json.loads(event[6:]), time.monotonic())
    finally:
        writer.close()


async def login(port: int) -> str:
    async def get(path, cookie=""):
        reader, writer = await http(port, (f"GET {path} HTTP/1.1\r\nHost: bench\r\n"
                                           f"Connection: close\r\n{cookie}\r\n").encode())
        data = await reader.read()
        writer.close()
        return data.decode(errors="replace")

    page = await get("/login")
    cookies = "; ".join(line.split(":", 1)[1].strip().split(";")[0]
                        for line in page.split("\r\n") if line.lower().startswith("set-cookie"))
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    body = f"csrf={csrf}&username={ADMIN}&password=x"
    reader, writer = await http(port, (
        f"POST /login HTTP/1.1\r\nHost: bench\r\nConnection: close\r\nCookie: {cookies}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}").encode())
    answer = (await reader.read()).decode(errors="replace")
    writer.close()
    session = [line.split(":", 1)[1].strip().split(";")[0] for line in answer.split("\r\n")
               if line.lower().startswith("set-cookie") and "login" not in line.split("=")[0]]
    return "; ".join(session)


def percentile(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def run(args, dsn, port, pid):
    with psycopg.connect(dsn, autocommit=True) as seed_conn:
        workstations = seed(seed_conn)
    workstations = workstations[:args.kiosks] if args.kiosks < len(workstations) else workstations
    pending: dict[str, float] = {}  # workstation -> commit time of the action awaited
    kiosk_latency, console_latency = [], []
    console_pending: dict[str, float] = {}
    connected = 0

    def ready():
        nonlocal connected
        connected += 1

    def kiosk_event(name):
        def on_event(data, at):
            if name in pending and data["row"]["state"] != "free":
                kiosk_latency.append(at - pending.pop(name))
        return on_event

    def console_event(data, at):
        for row in data["rows"]:
            if row["name"] in console_pending and row["status"] != "free":
                console_latency.append(at - console_pending.pop(row["name"]))

    tasks = []
    for name, _site, ip in workstations:
        tasks.append(asyncio.create_task(sse(port, "/kiosk/events",
                                             f"X-Forwarded-For: {ip}\r\n", kiosk_event(name),
                                             ready)))
        if len(tasks) % 50 == 0:
            await asyncio.sleep(0.05)
    cookie = await login(port)
    tasks.append(asyncio.create_task(sse(port, "/admin/workstations/site-1/events",
                                         f"Cookie: {cookie}\r\n", console_event, ready)))
    deadline = time.monotonic() + 60
    while connected < len(tasks) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    failed = [t for t in tasks if t.done()]
    if failed:
        raise RuntimeError(f"{len(failed)} streams ended: {failed[0].exception()!r}")
    print(f"{connected} streams connected ({len(workstations)} kiosks + 1 console)")
    await asyncio.sleep(2)

    free = list(workstations)
    random.shuffle(free)
    cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
    member = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        end = time.monotonic() + args.seconds
        while time.monotonic() < end and free:
            name, site, _ip = free.pop()
            member += 1
            conn.execute("SELECT * FROM captiva_workstation_issue(%s, %s, %s, NULL, NULL)",
                         (ADMIN, name, f"member{member}"))
            now = time.monotonic()
            pending[name] = now
            if site == "site-1":
                console_pending[name] = now
            await asyncio.sleep(1 / args.rate)
        await asyncio.sleep(2)  # the last events
    cpu = cpu_seconds(pid) - cpu_before
    wall = time.monotonic() - wall_before
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"kiosks": len(workstations), "actions": member, "lost": len(pending),
            "kiosk_p50": percentile(kiosk_latency, 50), "kiosk_p99": percentile(kiosk_latency, 99),
            "console_p50": percentile(console_latency, 50),
            "console_p99": percentile(console_latency, 99),
            "console_events": len(console_latency),
            "cpu_percent": 100 * cpu / wall, "wall": wall,
            "mean": statistics.mean(kiosk_latency) if kiosk_latency else float("nan")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kiosks", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rate", type=float, default=10, help="actions a second")
    args = parser.parse_args()
    cluster = Cluster()
    cluster.start()
    server = None
    try:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE radius")
        dsn = cluster.dsn("radius")
        with psycopg.connect(dsn, autocommit=True) as conn:
            migrate(conn, load_migrations(ROOT / "roles/postgres/files/migrations"))
            apply_functions(conn, load_functions(ROOT / "roles/postgres/files/functions"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = multiprocessing.get_context("spawn").Process(target=serve, args=(dsn, port))
        server.start()
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        result = asyncio.run(run(args, dsn, port, server.pid))
    finally:
        if server is not None:
            server.terminate()
            server.join(10)
        cluster.stop()
    print(f"{result['kiosks']} kiosk streams + 1 console stream (site-1, 200 workstations); "
          f"{result['actions']} actions in {result['wall']:.1f} s; {result['lost']} not seen")
    print(f"update latency, kiosk:   p50 {result['kiosk_p50'] * 1000:.0f} ms, "
          f"p99 {result['kiosk_p99'] * 1000:.0f} ms")
    print(f"update latency, console: p50 {result['console_p50'] * 1000:.0f} ms, "
          f"p99 {result['console_p99'] * 1000:.0f} ms ({result['console_events']} updates)")
    print(f"portal CPU: {result['cpu_percent']:.0f} % of one core over the window")
    ok = result["kiosk_p99"] < 1.0 and result["console_p99"] < 1.0 and result["lost"] == 0
    print("target p99 < 1 s:", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
