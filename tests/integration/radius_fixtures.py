"""Real FreeRADIUS for integration tests, configured by roles/freeradius itself.

``radius_server`` (module scope) starts the role's two FreeRADIUS processes, as its units do:
the server (``freeradius -f`` on 127.0.0.1) and the buffers' replay (``freeradius -f -n
captiva-radius-replay``: the readers of the accounting and login buffers), against a fresh migrated
database of the shared PostgreSQL (pg_fixtures.radius_database) and stops it at the end of the
module. Its configuration is the role's: once per PostgreSQL server (once per test session, or
per pytest-xdist worker) Debian's /etc/freeradius/3.0 is copied into a temp dir and the role
runs with ansible-playbook against localhost into that copy (packages and service management
off, so the role's real templates and its config-check handler are what is tested), on free
ports and for a database name of that session. Each module then gets that tree back as the role
left it (configuration, empty buffer and log directories), and a new database of that name.
``freeradius_for`` renders and runs a server of its own (other role inputs).

The routers' client is 127.0.0.1 and the status portal's 127.0.0.2 (both loopback): a request
is sent from one or the other by binding the client socket.

Both run without -X: debug output would hold the database password and user passwords.
Their normal logs (no passwords) are ``RadiusServer.log_path`` and ``replay_log_path``.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from pg_fixtures import ROLE_PASSWORDS, Database, PgServer, radius_database, role_name
from processes import free_port, missing, stop_process
from pyrad import packet
from pyrad.client import Client, Timeout
from pyrad.dictionary import Dictionary

__all__ = [
    "DB_RETRY_DELAY",
    "ROLE_VARS",
    "PORTAL_ADDRESS",
    "PORTAL_SECRET",
    "ROUTER_ADDRESS",
    "REPLAY_NAME",
    "ROUTER_SECRET",
    "RadiusServer",
    "copy_package_config",
    "message_authenticator_valid",
    "postgres_stopped",
    "radius_server",
    "require_freeradius",
    "run_role",
    "wait_for",
]

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_CONFIG = Path("/etc/freeradius/3.0")
DICTIONARY_DIR = Path("/usr/share/freeradius")
# pyrad cannot parse FreeRADIUS's full dictionary; these are the ones the tests use.
DICTIONARIES = ("rfc2865", "rfc2866", "rfc2869", "rfc3576", "mikrotik")

ROUTER_ADDRESS = "127.0.0.1"
ROUTER_SECRET = "test-router-secret-0123456789"
PORTAL_ADDRESS = "127.0.0.2"
PORTAL_SECRET = "test-portal-secret-0123456789"
MESSAGE_AUTHENTICATOR = 80
# The replay's configuration name (freeradius -n): roles/freeradius vars/main.yml
# __freeradius_replay_name, also its unit's name.
REPLAY_NAME = "captiva-radius-replay"

# How long a FreeRADIUS pool with no connection waits after a failed attempt before it
# tries again: the role's default, which the tests run as production does.
DB_RETRY_DELAY = yaml.safe_load(
    (ROOT / "roles" / "freeradius" / "defaults" / "main.yml").read_text()
)["freeradius_db_retry_delay"]

# The role's inputs for the test server; the database part is added per server.
ROLE_VARS = {
    "freeradius_manage_packages": False,
    "freeradius_manage_service": False,
    "freeradius_listen_ipaddr": "127.0.0.1",
    "freeradius_listen_ipv6addr": "",
    "freeradius_db_sslmode": "disable",
    # A short wait so the tests see a vanished database within seconds (the role's
    # freeradius_db_retry_delay, 1 s, is what production runs).
    "freeradius_db_connect_timeout": 2,
    "freeradius_buffer_retry_interval": 4,
    "freeradius_clients": [
        {"name": "test-router", "address": f"{ROUTER_ADDRESS}/32", "secret": ROUTER_SECRET},
    ],
    "freeradius_portal_client": {"address": PORTAL_ADDRESS, "secret": PORTAL_SECRET},
    # As site.yml passes it: the routers' profile of public workstations.
    "freeradius_workstation_group": yaml.safe_load(
        (ROOT / "group_vars" / "captiva_defaults.yml").read_text())["captiva_workstation_profile"],
}


def wait_for(predicate: Callable[[], object], timeout: float = 30.0, interval: float = 0.2):
    """Poll ``predicate`` until it returns something truthy; return it, or fail on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s (last value: {result!r})")
        time.sleep(interval)


def message_authenticator_valid(raw_reply: bytes, request_authenticator: bytes,
                                secret: bytes) -> bool:
    """RFC 3579 3.2 check of a reply's Message-Authenticator, independent of pyrad.

    HMAC-MD5 over the reply with the Request Authenticator in place of the Response
    Authenticator and the Message-Authenticator value zeroed.
    """
    length = struct.unpack("!H", raw_reply[2:4])[0]
    data = bytearray(raw_reply[:length])
    data[4:20] = request_authenticator
    offset, found = 20, None
    while offset < length:
        attr_type, attr_len = data[offset], data[offset + 1]
        if attr_type == MESSAGE_AUTHENTICATOR and attr_len == 18:
            found = bytes(data[offset + 2:offset + 18])
            data[offset + 2:offset + 18] = bytes(16)
        offset += attr_len
    if found is None:
        return False
    expected = hmac.new(secret, bytes(data), hashlib.md5).digest()
    return hmac.compare_digest(found, expected)


@functools.cache
def radius_dictionary() -> Dictionary:
    """FreeRADIUS's own dictionaries, loaded on first use (not at import: a machine without
    FreeRADIUS skips, or in CI fails, the tests that need it instead of breaking collection)."""
    files = [DICTIONARY_DIR / f"dictionary.{name}" for name in DICTIONARIES]
    absent = [str(f) for f in files if not f.exists()]
    if absent:
        missing(f"FreeRADIUS dictionaries not installed ({', '.join(absent)}): "
                "apt-get install freeradius-common")
    return Dictionary(*(str(f) for f in files))


@dataclass
class RadiusServer:
    """A running FreeRADIUS configured by the role, and its database: the server
    (``process``: the RADIUS ports and the buffers' writers) and the buffers' replay
    (``replay_process``: their readers)."""

    config_dir: Path
    log_path: Path
    buffer_dir: Path
    auth_port: int
    acct_port: int
    db: Database
    process: subprocess.Popen | None = None
    # The login buffer (radpostauth rows, vouchers' first use); default: next to buffer_dir.
    login_buffer_dir: Path | None = None
    replay_process: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        if self.login_buffer_dir is None:
            self.login_buffer_dir = self.buffer_dir.parent / "login-buffer"

    @property
    def replay_log_path(self) -> Path:
        return self.log_path.with_name("replay.log")

    @property
    def dictionary(self) -> Dictionary:
        return radius_dictionary()

    def login_buffer_files(self) -> list[Path]:
        """The login buffer's files not yet replayed (detail-* and the readers' detail.work)."""
        return sorted(p for p in self.login_buffer_dir.rglob("detail*") if p.is_file())

    def wait_logins_replayed(self, timeout: float = 30.0) -> None:
        """Wait until the login buffer is drained: every login's writes are in the database."""
        wait_for(lambda: not self.login_buffer_files(), timeout=timeout)

    def read_only(self, on: bool) -> None:
        """Make the database read-only (default_transaction_read_only: what a hot standby
        answers while there is no primary), or writable again; the pools reconnect."""
        # From another database: once on, this one's own sessions cannot turn it off.
        with self.db.server.connect("postgres") as conn:
            conn.execute(f"ALTER DATABASE {self.db.name} SET default_transaction_read_only"
                         f" = {'on' if on else 'off'}")
            # The pools' connections reconnect and get the new setting.
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                         " WHERE datname = %s AND pid <> pg_backend_pid()", (self.db.name,))

    def client(self, *, source: str = ROUTER_ADDRESS, secret: str = ROUTER_SECRET,
               timeout: float = 3.0, retries: int = 1) -> Client:
        client = Client(server="127.0.0.1", authport=self.auth_port, acctport=self.acct_port,
                        secret=secret.encode(), dict=self.dictionary, timeout=timeout,
                        retries=retries)
        client.bind((source, 0))
        return client

    def authenticate(self, username: str, password: str, *, chap: bool = False,
                     source: str = ROUTER_ADDRESS, secret: str = ROUTER_SECRET,
                     message_authenticator: bool = True, timeout: float = 3.0,
                     **attributes) -> packet.Packet | None:
        """Send one Access-Request (PAP, or CHAP as a MikroTik hotspot does); None if no reply."""
        client = self.client(source=source, secret=secret, timeout=timeout)
        request = client.CreateAuthPacket(code=packet.AccessRequest, User_Name=username,
                                          message_authenticator=message_authenticator,
                                          **attributes)
        if chap:
            chap_id = os.urandom(1)
            challenge = os.urandom(16)
            # CHAP (RFC 1994) is MD5 by definition.
            digest = hashlib.md5(chap_id + password.encode() + challenge,
                                 usedforsecurity=False).digest()
            request["CHAP-Password"] = chap_id + digest
            request["CHAP-Challenge"] = challenge
        else:
            request["User-Password"] = request.PwCrypt(password)
        try:
            return client.SendPacket(request)
        except Timeout:
            return None

    def open_sessions(self, username: str) -> int:
        """The user's sessions radacct holds open (accounting reaches it through the buffer,
        about a second after the router's packet)."""
        with self.db.connect() as conn:
            return conn.execute("SELECT count(*) FROM radacct WHERE username = %s"
                                " AND acctstoptime IS NULL", (username,)).fetchone()[0]

    def account(self, username: str, status: str, session_id: str, *,
                timeout: float = 3.0, **attributes) -> packet.Packet:
        """Send one Accounting-Request from the router client; fails if not acknowledged."""
        client = self.client(timeout=timeout, retries=2)
        request = client.CreateAcctPacket(User_Name=username, Acct_Status_Type=status,
                                          Acct_Session_Id=session_id,
                                          NAS_IP_Address=ROUTER_ADDRESS, **attributes)
        return client.SendPacket(request)

    def log_tail(self, lines: int = 40) -> str:
        """The end of both logs: the server's, then the replay's."""
        tails = []
        for name, path in (("server", self.log_path), ("replay", self.replay_log_path)):
            text = path.read_text(errors="replace") if path.exists() else "(no log)"
            tails.append(f"--- {name} ({path.name})\n"
                         + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(tails)

    def _launch(self, log_path: Path, *args: str) -> subprocess.Popen:
        """``freeradius -f`` with ``args``, once its log says it is ready."""
        log_path.write_text("")
        process = subprocess.Popen(
            ["freeradius", "-f", "-d", str(self.config_dir), "-l", str(log_path), *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 15
        while "Ready to process requests" not in log_path.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                stop_process(process)
                self.stop()
                pytest.fail(f"freeradius {' '.join(args)} did not start:\n{self.log_tail()}")
            time.sleep(0.05)
        return process

    def start(self) -> None:
        """The server, then the buffers' replay (the role's two units)."""
        self.process = self._launch(self.log_path)
        self.start_replay()

    def start_replay(self) -> None:
        self.replay_process = self._launch(self.replay_log_path, "-n", REPLAY_NAME)

    def stop_replay(self) -> None:
        """The buffers' readers stopped (SIGTERM, as systemctl stop): the server goes on."""
        stop_process(self.replay_process)
        self.replay_process = None

    def kill_replay(self) -> None:
        """kill -9 of the buffers' readers: no clean shutdown, they stop wherever they are."""
        self.replay_process.send_signal(signal.SIGKILL)
        self.replay_process.wait(timeout=10)
        self.replay_process = None

    def stop(self) -> None:
        self.stop_replay()
        stop_process(self.process)
        self.process = None


def copy_package_config(base: Path) -> Path:
    """Debian's configuration tree, with only what a test run needs changed in radiusd.conf."""
    config_dir = base / "raddb"
    shutil.copytree(PACKAGE_CONFIG, config_dir, symlinks=True)
    for name in ("log", "run"):
        (base / name).mkdir()
    radiusd_conf = config_dir / "radiusd.conf"
    replacements = {
        "logdir": f"logdir = {base / 'log'}",
        "run_dir": f"run_dir = {base / 'run'}",
        # Not root's business here: the test (root) owns every file the server touches.
        "user": "#user = freerad",
        "group": "#group = freerad",
        # No proxy socket on all addresses: Captiva does not proxy.
        "proxy_requests": "proxy_requests = no",
    }
    lines = []
    for line in radiusd_conf.read_text().splitlines():
        key = line.strip().split("=")[0].strip()
        if "=" in line and not line.lstrip().startswith("#") and key in replacements:
            line = replacements.pop(key)
        lines.append(line)
    assert not replacements, f"radiusd.conf lacks {sorted(replacements)}"
    radiusd_conf.write_text("\n".join(lines) + "\n")
    return config_dir


def run_role(base: Path, config_dir: Path, role_vars: dict,
             *args: str) -> subprocess.CompletedProcess:
    """Run roles/freeradius against localhost with ``role_vars`` (written to a file: secrets).

    ``args`` are more ansible-playbook options (``--check``).
    """
    playbook = base / "freeradius.yml"
    playbook.write_text(
        "- hosts: localhost\n"
        "  connection: local\n"
        "  gather_facts: false\n"
        "  roles:\n"
        "    - captiva.campus.freeradius\n"
    )
    vars_file = base / "role-vars.json"
    vars_file.write_text(json.dumps(dict(role_vars, freeradius_config_dir=str(config_dir))))
    vars_file.chmod(0o600)
    ansible_playbook = Path(sys.executable).with_name("ansible-playbook")
    return subprocess.run(
        [str(ansible_playbook), "-i", "localhost,", str(playbook), "-e", f"@{vars_file}",
         "-e", f"ansible_python_interpreter={sys.executable}", *args],
        cwd=ROOT, capture_output=True, text=True, check=False,
        env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0"),
    )


def server_role_vars(server: RadiusServer) -> dict:
    return dict(
        ROLE_VARS,
        freeradius_auth_port=server.auth_port,
        freeradius_acct_port=server.acct_port,
        freeradius_buffer_dir=str(server.buffer_dir),
        freeradius_login_buffer_dir=str(server.login_buffer_dir),
        freeradius_db_host="127.0.0.1",
        freeradius_db_port=server.db.server.port,
        freeradius_db_name=server.db.name,
        freeradius_db_user=role_name("freeradius"),
        freeradius_db_password=ROLE_PASSWORDS["freeradius"],
    )


def require_freeradius() -> None:
    """Skip (fail in CI) without the packages, or when not root (the role chowns files)."""
    if shutil.which("freeradius") is None or not PACKAGE_CONFIG.is_dir():
        missing("FreeRADIUS is not installed (apt-get install freeradius "
                 "freeradius-postgresql freeradius-utils)")
    if os.geteuid() != 0:
        missing("the role sets root/freerad ownership: run the FreeRADIUS tests as root")


@contextmanager
def freeradius_for(base: Path, db: Database,
                   role_vars: dict | None = None) -> Iterator[RadiusServer]:
    """Render the role into a copy of the package tree under ``base`` and run the server;
    ``role_vars``: more role inputs (or other values) than the tests' defaults."""
    require_freeradius()
    config_dir = copy_package_config(base)
    server = RadiusServer(config_dir=config_dir, log_path=base / "log" / "radius.log",
                          buffer_dir=base / "buffer", auth_port=free_port(socket.SOCK_DGRAM),
                          acct_port=free_port(socket.SOCK_DGRAM), db=db)
    result = run_role(base, config_dir, dict(server_role_vars(server), **(role_vars or {})))
    if result.returncode != 0:
        pytest.fail(f"the freeradius role failed:\n{result.stdout[-6000:]}\n{result.stderr}")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class _Rendered:
    """The role rendered with the tests' defaults (ROLE_VARS) into ``base``; ``pristine`` is a
    copy of ``base`` as the role left it."""

    base: Path
    pristine: Path
    auth_port: int
    acct_port: int
    db_name: str

    def server(self, db: Database) -> RadiusServer:
        """``base`` back as the role left it, and a server on it for ``db`` (not started)."""
        shutil.rmtree(self.base)
        subprocess.run(["cp", "-a", str(self.pristine), str(self.base)], check=True)
        return RadiusServer(config_dir=self.base / "raddb",
                            log_path=self.base / "log" / "radius.log",
                            buffer_dir=self.base / "buffer", auth_port=self.auth_port,
                            acct_port=self.acct_port, db=db)


# By PostgreSQL server (its base_dir): one per test session, or per pytest-xdist worker.
_RENDERED: dict[str, _Rendered] = {}


def _rendered(pg_server: PgServer, tmp_path_factory) -> _Rendered:
    """roles/freeradius rendered with the tests' defaults, once per PostgreSQL server."""
    key = str(pg_server.base_dir)
    if key not in _RENDERED:
        require_freeradius()
        base = tmp_path_factory.mktemp("freeradius")
        config_dir = copy_package_config(base)
        db_name = f"test_radius_{os.urandom(4).hex()}"
        # The role's config check runs the server's modules: the database exists meanwhile.
        with radius_database(pg_server, db_name) as db:
            server = RadiusServer(config_dir=config_dir, log_path=base / "log" / "radius.log",
                                  buffer_dir=base / "buffer",
                                  auth_port=free_port(socket.SOCK_DGRAM),
                                  acct_port=free_port(socket.SOCK_DGRAM), db=db)
            result = run_role(base, config_dir, server_role_vars(server))
        if result.returncode != 0:
            pytest.fail(f"the freeradius role failed:\n{result.stdout[-6000:]}\n{result.stderr}")
        pristine = base.with_name(base.name + "-rendered")
        subprocess.run(["cp", "-a", str(base), str(pristine)], check=True)
        _RENDERED[key] = _Rendered(base, pristine, server.auth_port, server.acct_port, db_name)
    return _RENDERED[key]


@pytest.fixture(scope="module")
def radius_server(pg_server, tmp_path_factory) -> Iterator[RadiusServer]:
    rendered = _rendered(pg_server, tmp_path_factory)
    with radius_database(pg_server, rendered.db_name) as db:
        server = rendered.server(db)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@contextmanager
def postgres_stopped(server: PgServer) -> Iterator[None]:
    """Stop the shared PostgreSQL, and start it again with the same options on exit."""
    opts = shlex.split((server.data_dir / "postmaster.opts").read_text())
    args = opts[1:]
    if "-D" in args:
        index = args.index("-D")
        del args[index:index + 2]
    server.run("pg_ctl", "-D", str(server.data_dir), "-m", "fast", "-w", "stop")
    try:
        yield
    finally:
        result = server.run(
            "pg_ctl", "-D", str(server.data_dir), "-l", str(server.base_dir / "server.log"),
            "-o", shlex.join(args), "-w", "-t", "60", "start", check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"PostgreSQL did not start again: {result.stderr}")
