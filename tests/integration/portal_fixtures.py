"""The status portal against real parts: PostgreSQL, FreeRADIUS, accounting as FreeRADIUS writes it.

- :func:`seed_campus`: a roster (site, router, profiles, promotions, users) as the reconcile
  writes it, and the RADIUS policy rows FreeRADIUS authenticates against (sha512-crypt
  passwords, one group per profile, the status groups).
- :class:`Accounting`: radacct rows written as the ``captiva_freeradius`` role with FreeRADIUS
  3.2's own PostgreSQL queries (queries.conf: start, interim-update, stop), so the usage
  trigger fills ``captiva_usage_daily`` exactly as in production.
- :func:`portal_config`: a portal configuration for a FreeRADIUS of radius_fixtures.
- :class:`PortalProcess`: ``captiva-portal`` as a real uvicorn process on 127.0.0.1.
- :func:`start_nginx`: Debian's nginx with roles/portal's site template in front of a portal.
- :func:`flood`: many cookieless requests over keep-alive connections (a small asyncio HTTP/1.1
  client, fast enough for 100,000 requests in bench/portal_bench.py).
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pytest
import yaml
from ansible.plugins.filter.core import FilterModule
from passlib.hash import sha512_crypt
from processes import free_port, missing, stop_process
from radius_fixtures import PORTAL_ADDRESS, PORTAL_SECRET, ROUTER_ADDRESS
from rlm_sql import Radius

from captiva.portal.config import parse

ROOT = Path(__file__).resolve().parents[2]
GiB = 1024**3
MiB = 1024**2
SESSION_SECRET = "test-session-secret-0123456789abcdef"
TIMEZONE = "Africa/Douala"
ADMIN = "admin.wifi"

# username: (password, first, last, promotion, own profile, status)
USERS = {
    "STU2025001": ("awa-Pass-1", "Awa", "Ngono", "L3-INFO-2025", None, "active"),
    "STU2025002": ("paul-Pass-2", "Paul", "Mbarga", "L3-INFO-2025", None, "active"),
    "STU2024009": ("old-Pass-9", "Éric", "Tchoua", "L3-GESTION-2024", None, "wifi-off"),
    ADMIN: ("admin-Pass-0", "Admin", "Wifi", None, "staff", "active"),
}
PROFILES = {
    # name: daily, weekly, monthly, total quota; down/up rate; session/idle timeout; sim-use
    "etudiant-standard": (1 * GiB, 5 * GiB, 20 * GiB, None, 10_000_000, 2_000_000, 28800,
                          600, 1),
    "staff": (None, None, None, None, 50_000_000, 10_000_000, None, 1800, None),
}
PROMOTIONS = {"L3-INFO-2025": ("etudiant-standard", True),
              "L3-GESTION-2024": ("etudiant-standard", False)}


def password(username: str) -> str:
    return USERS[username][0]


def seed_campus(db, now: dt.datetime, nas: str = ROUTER_ADDRESS) -> None:
    """Roster and RADIUS policy (superuser connection: the fixture plays the reconcile)."""
    expires = now + dt.timedelta(days=45)
    with db.connect() as conn:
        conn.execute("UPDATE captiva_quota_settings SET timezone = %s, week_start = 1,"
                     " month_start_day = 1", (TIMEZONE,))
        conn.execute("INSERT INTO captiva_site VALUES ('campus-ndogbong', %s, 1, 1)",
                     (TIMEZONE,))
        conn.execute("INSERT INTO captiva_router (name, site, nasipaddress)"
                     " VALUES ('ndogbong-gw1', 'campus-ndogbong', %s)", (nas,))
        for name, (qd, qw, qm, qt, down, up, st, it, sim) in PROFILES.items():
            conn.execute(
                "INSERT INTO captiva_profile (name, quota_daily, quota_weekly, quota_monthly,"
                " quota_total, rate_download, rate_upload, session_timeout, idle_timeout,"
                " simultaneous_use, validity_days) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,365)",
                (name, qd, qw, qm, qt, down, up, st, it, sim))
        for name, (profile, wifi) in PROMOTIONS.items():
            conn.execute("INSERT INTO captiva_promotion VALUES (%s, %s, %s)",
                         (name, profile, wifi))
        for username, (secret, first, last, promotion, own, status) in USERS.items():
            profile = own or PROMOTIONS[promotion][0]
            conn.execute(
                "INSERT INTO captiva_user (username, first_name, last_name, language, promotion,"
                " own_profile, profile, enabled, status, expires_at, activated_on)"
                " VALUES (%s, %s, %s, 'fr', %s, %s, %s, true, %s, %s, %s)",
                (username, first, last, promotion, own, profile, status,
                 expires if own is None else None, (now - dt.timedelta(days=60)).date()))
            group = profile if status == "active" else f"captiva-{status}"
            conn.execute("INSERT INTO radcheck (username, attribute, op, value, managed_by)"
                         " VALUES (%s, 'Crypt-Password', ':=', %s, 'captiva')",
                         (username, sha512_crypt.using(rounds=5000).hash(secret)))
            conn.execute("INSERT INTO radusergroup (username, groupname, priority, managed_by)"
                         " VALUES (%s, %s, 0, 'captiva')", (username, group))
        conn.execute("INSERT INTO radgroupcheck (groupname, attribute, op, value, managed_by)"
                     " VALUES ('captiva-wifi-off', 'Auth-Type', ':=', 'Reject', 'captiva')")
        # staff, as the reconcile writes the roster's captiva_staff
        conn.execute("INSERT INTO captiva_staff (username, role) VALUES (%s, 'admin')", (ADMIN,))


class Accounting(Radius):
    """Start / interim / stop from one router, as rlm_sql runs them (see rlm_sql.py)."""

    def __init__(self, conn, nas: str = ROUTER_ADDRESS):
        super().__init__(conn)
        self.nas = nas

    def start(self, session, user, when, ip, mac):
        return super().start(session, user, self.nas, when, ip=ip, mac=mac)

    def interim(self, session, user, when, octets_in, octets_out, session_time, ip):
        return super().interim(session, user, self.nas, when, octets_in, octets_out,
                               session_time, ip=ip)

    def stop(self, session, user, when, octets_in, octets_out, session_time,
             cause="User-Request"):
        return super().stop(session, user, self.nas, when, octets_in, octets_out, session_time,
                            cause=cause)

    def session(self, session, user, start, *, ip, mac, octets_in, octets_out,
                stop: dt.datetime | None = None, interims: int = 3):
        """A whole session: start, interims spread evenly, and a stop unless ``stop`` is None."""
        end = stop or start + dt.timedelta(minutes=5 * interims)
        self.start(session, user, start, ip, mac)
        for i in range(1, interims + 1):
            when = start + (end - start) * i / (interims + 1)
            self.interim(session, user, when, octets_in * i // (interims + 1),
                         octets_out * i // (interims + 1),
                         int((when - start).total_seconds()), ip)
        if stop is None:
            self.interim(session, user, end, octets_in, octets_out,
                         int((end - start).total_seconds()), ip)
        else:
            self.stop(session, user, stop, octets_in, octets_out,
                      int((stop - start).total_seconds()))


def seed_accounting(db, now: dt.datetime) -> None:
    """30 days of history for STU2025001, an open session, other users' sessions."""
    with db.connect("freeradius") as conn:
        acct = Accounting(conn)
        for day in range(1, 30, 2):
            start = now - dt.timedelta(days=day, hours=2)
            acct.session(f"hist-{day}", "STU2025001", start, ip=f"10.5.50.{day + 10}",
                         mac="AA:BB:CC:00:00:01" if (day // 2) % 2 else "AA:BB:CC:00:00:02",
                         octets_in=(50 + day * 7) * MiB, octets_out=(5 + day) * MiB,
                         stop=start + dt.timedelta(minutes=50))
        # today: one closed session and one open one (with its last interim)
        acct.session("today-1", "STU2025001", now - dt.timedelta(minutes=200), ip="10.5.50.77",
                     mac="AA:BB:CC:00:00:01", octets_in=300 * MiB, octets_out=20 * MiB,
                     stop=now - dt.timedelta(minutes=140))
        acct.session("open-1", "STU2025001", now - dt.timedelta(minutes=40), ip="10.5.50.78",
                     mac="AA:BB:CC:00:00:03", octets_in=400 * MiB, octets_out=30 * MiB,
                     stop=None, interims=2)
        acct.session("paul-1", "STU2025002", now - dt.timedelta(minutes=30), ip="10.5.50.90",
                     mac="AA:BB:CC:00:00:09", octets_in=2 * GiB, octets_out=100 * MiB,
                     stop=None, interims=1)
    with db.connect() as conn:  # a failed login, as the post-auth query logs it
        conn.execute("INSERT INTO radpostauth (username, reply, callingstationid, authdate)"
                     " VALUES ('STU2024009', 'Access-Reject', 'AA:BB:CC:00:00:42', %s)",
                     (now - dt.timedelta(minutes=5),))


def portal_config_dict(db, radius_server, **overrides) -> dict:
    data = {
        "dsn": db.dsns["portal"],
        "session_secret": SESSION_SECRET,
        "site_name": "Captiva test",
        "radius": {"server": "127.0.0.1", "port": radius_server.auth_port,
                   "secret": PORTAL_SECRET, "source_address": PORTAL_ADDRESS,
                   "timeout": 3, "retries": 1},
        "dashboard": {"cache_seconds": 0},
        "database": {"pool_min_size": 1, "pool_max_size": 4},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def portal_config(db, radius_server, **overrides):
    return parse(portal_config_dict(db, radius_server, **overrides))


def toml_dump(data: dict) -> str:
    """The little TOML the portal's configuration needs (strings, numbers, lists, tables)."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
    top = [f"{k} = {value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    tables = [f"\n[{k}]\n" + "\n".join(f"{kk} = {value(vv)}" for kk, vv in v.items())
              for k, v in data.items() if isinstance(v, dict)]
    return "\n".join(top) + "\n" + "\n".join(tables) + "\n"


@dataclass
class PortalProcess:
    """``python -m captiva.portal.cli`` serving on 127.0.0.1 (a real uvicorn)."""

    config_path: Path
    port: int
    log_path: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def start(self) -> None:
        self.log_file = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "captiva.portal.cli", "--config", str(self.config_path),
             "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
            cwd=ROOT, stdout=self.log_file, stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz",  # noqa: S310
                                            timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail("captiva-portal did not start:\n" + self.log_path.read_text())
            time.sleep(0.1)

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None
        if getattr(self, "log_file", None):
            self.log_file.close()


def start_portal(tmp_path: Path, config: dict) -> PortalProcess:
    path = tmp_path / "portal.toml"
    path.write_text(toml_dump(config))
    path.chmod(0o600)
    portal = PortalProcess(path, free_port(), tmp_path / "portal.log")
    portal.start()
    return portal


CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


@dataclass
class FloodResult:
    statuses: collections.Counter
    cookies: collections.Counter  # names of the cookies the responses set
    seconds: float

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


async def _flood(port: int, total: int, connections: int, path: str) -> FloodResult:
    statuses: collections.Counter = collections.Counter()
    cookies: collections.Counter = collections.Counter()
    request = (f"GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\n"
               "Accept-Language: fr\r\n\r\n").encode()

    async def worker(count: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for _ in range(count):  # no Cookie header, ever: each request is a new visitor
                writer.write(request)
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                lines = head.split("\r\n")
                statuses[int(lines[0].split()[1])] += 1
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                    elif name.lower() == "set-cookie":
                        cookies[value.strip().split("=", 1)[0]] += 1
                await reader.readexactly(length)
        finally:
            writer.close()

    start = time.perf_counter()
    share, rest = divmod(total, connections)
    await asyncio.gather(*(worker(share + (i < rest)) for i in range(connections)))
    return FloodResult(statuses, cookies, time.perf_counter() - start)


def flood(port: int, total: int, connections: int = 50, path: str = "/login") -> FloodResult:
    """``total`` cookieless ``GET path`` to 127.0.0.1:port over ``connections`` keep-alive
    connections; the status codes and the names of the cookies set."""
    return asyncio.run(_flood(port, total, connections, path))


ROLE = ROOT / "roles" / "portal"
NGINX = Path("/usr/sbin/nginx")


def role_defaults() -> dict:
    return yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())


def render_role_template(name: str, variables: dict) -> str:
    """A template of roles/portal rendered with Ansible's own filters (``comment`` ...)."""
    env = jinja2.Environment(  # noqa: S701 - configuration files, not HTML (as Ansible)
        loader=jinja2.FileSystemLoader(ROLE / "templates"), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True)
    env.filters.update(FilterModule().filters())
    return env.get_template(name).render(ansible_managed="Ansible managed", **variables)


@dataclass
class NginxProcess:
    directory: Path
    https_port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def stop(self) -> None:
        stop_process(self.process)


def start_nginx(directory: Path, upstream_port: int, access_log: Path | None = None,
                log_format: str | None = None, **overrides) -> NginxProcess:
    """nginx as roles/portal configures it (its site template, the role's defaults), on free
    ports, with a throw-away self-signed certificate, proxying to 127.0.0.1:upstream_port.
    Its access log is off unless ``access_log`` names a file (Debian's nginx.conf logs every
    request of its sites to /var/log/nginx/access.log), in nginx's combined format or in
    ``log_format`` (nginx's variables, e.g. ``$msec $request_time $uri``)."""
    if not NGINX.exists() or shutil.which("openssl") is None:
        missing("nginx or openssl is not installed (apt-get install nginx-light openssl)")
    tls = directory / "tls"
    tls.mkdir(parents=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=localhost", "-keyout", str(tls / "portal.key"),
                    "-out", str(tls / "portal.crt")], check=True, capture_output=True)
    defaults = role_defaults()
    variables = {name: defaults[name] for name in defaults
                 if name.startswith("portal_nginx_login_")}
    variables.update(portal_listen_host="127.0.0.1", portal_listen_port=upstream_port,
                     portal_http_port=free_port(), portal_https_port=free_port(),
                     portal_server_name="localhost", portal_config_dir=str(directory),
                     **overrides)
    (directory / "site.conf").write_text(
        render_role_template("nginx-captiva-portal.conf.j2", variables))
    temp = "".join(f"{kind}_temp_path {directory / kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (directory / "nginx.conf").write_text(
        f"daemon off;\npid {directory / 'nginx.pid'};\nerror_log {directory / 'error.log'};\n"
        f"events {{}}\nhttp {{\n{temp}"
        + (f"log_format timed '{log_format}';\n" if log_format else "")
        + f"access_log {access_log or 'off'}{' timed' if access_log and log_format else ''};\n"
        f"include {directory / 'site.conf'};\n}}\n")
    command = [str(NGINX), "-p", str(directory), "-c", str(directory / "nginx.conf"),
               "-e", str(directory / "error.log")]
    check = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    nginx = NginxProcess(directory, variables["portal_https_port"], process)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", nginx.https_port), timeout=1):
                return nginx
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                nginx.stop()
                pytest.fail("nginx did not start:\n" + (directory / "error.log").read_text())
            time.sleep(0.1)
