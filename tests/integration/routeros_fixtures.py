"""pytest fixtures: tools/routeros-sim started on loopback, one fresh router per test.

Import the fixtures you use into a test module: ``from routeros_fixtures import routeros_sim``.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import librouteros
import pytest
from processes import stop_process

ROOT = Path(__file__).resolve().parents[2]
SIM = ROOT / "tools" / "routeros-sim"
USER = "captiva"
PASSWORD = "sim-Passw0rd"


@dataclass
class Sim:
    host: str
    port: int
    process: subprocess.Popen
    state: Path
    coa_port: int = 0  # its RADIUS Disconnect/CoA listener, on the same host
    hotspot_port: int = 0  # its hotspot HTTP login (start_sim(..., hotspot=True))
    hotspot_tls_port: int = 0  # its hotspot HTTPS login (start_sim(..., hotspot_tls=True))
    user: str = USER
    password: str = PASSWORD

    def connect(self, **kwargs) -> librouteros.api.Api:
        return librouteros.connect(host=self.host, port=self.port, username=self.user,
                                   password=self.password, timeout=5, **kwargs)

    def stats(self) -> dict[str, int]:
        api = self.connect()
        try:
            (row,) = api("/captiva-sim/stats/print")
            return {k: int(v) for k, v in row.items()}
        finally:
            api.close()

    def reset_stats(self) -> None:
        api = self.connect()
        try:
            tuple(api("/captiva-sim/stats/reset"))
        finally:
            api.close()

    def reconcile(self, desired: dict, **options) -> dict:
        """Captiva's planner (captiva_routeros.reconcile) against this router, as the module
        runs it, with the write and print counters reset first."""
        from ansible_collections.captiva.campus.plugins.module_utils.captiva_routeros import (
            RouterOSClient,
            reconcile,
        )
        self.reset_stats()
        client = RouterOSClient(self.host, self.user, self.password, port=self.port, tls=False,
                                timeout=5)
        try:
            return reconcile(client, desired, **options)
        finally:
            client.close()

    def rows(self, path: str) -> list[dict]:
        api = self.connect()
        try:
            return list(api.rawCmd(f"{path}/print"))
        finally:
            api.close()

    def command(self, path: str, **args: str) -> list[dict]:
        api = self.connect()
        try:
            return list(api.rawCmd(path, *(f"={k}={v}" for k, v in args.items())))
        finally:
            api.close()

    def accept_disconnects(self, *servers: tuple[str, str]) -> None:
        """As the mikrotik role leaves a router: ``/radius`` entries ``(address, secret)`` and
        ``/radius/incoming accept=yes``."""
        for address, secret in servers:
            self.command("/radius/add", address=address, secret=secret, service="hotspot")
        self.command("/radius/incoming/set", accept="yes")

    def add_sessions(self, sessions: list[dict[str, str]]) -> None:
        """Hotspot sessions (``user``, ``address``, ``session-id``) over one connection."""
        api = self.connect()
        try:
            for session in sessions:
                tuple(api.rawCmd("/captiva-sim/active/add",
                                 *(f"={k}={v}" for k, v in session.items())))
        finally:
            api.close()

    def coa(self) -> dict[str, str]:
        (row,) = self.command("/captiva-sim/coa/print")
        return row

    def wait_accounted(self, timeout: float = 30.0) -> None:
        """Wait until the router's hotspot has every Accounting-Request it queued so far
        answered: its accounting goes out one at a time from a queue, after the login's or
        the command's answer (tools/routeros_sim/accounting.py)."""
        deadline = time.monotonic() + timeout
        while int(self.command("/captiva-sim/accounting/print")[0]["pending"]):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the router's accounting still pending after {timeout} s")
            time.sleep(0.05)


# What start_sim(..., hotspot=True) sets on the router's built-in "default" hotspot profile
# (RouterOS's own defaults are use-radius=no, login-by=cookie,http-chap).
HOTSPOT_PROFILE = {"use-radius": "yes", "login-by": "http-chap,http-pap"}


def start_sim(tmp_path: Path, *extra: str, hotspot: bool = False, hotspot_tls: bool = False,
              hotspot_profile: dict[str, str] | None = None) -> Sim:
    """A simulator on loopback. ``hotspot``: with its HTTP login, the ``default`` hotspot
    profile set to ``hotspot_profile`` (default HOTSPOT_PROFILE: RADIUS, PAP or CHAP);
    ``hotspot_tls``: its HTTPS login too."""
    ready = tmp_path / "sim.addr"
    coa_ready = tmp_path / "sim-coa.addr"
    hotspot_ready = tmp_path / "sim-hotspot.addr"
    tls_ready = tmp_path / "sim-hotspot-tls.addr"
    hotspot_ready.unlink(missing_ok=True)
    tls_ready.unlink(missing_ok=True)
    hotspot = hotspot or hotspot_tls
    if hotspot:
        extra = ("--hotspot-listen", "127.0.0.1:0", "--hotspot-ready-file", str(hotspot_ready),
                 *extra)
    if hotspot_tls:
        extra = ("--hotspot-tls-listen", "127.0.0.1:0", "--hotspot-tls-ready-file",
                 str(tls_ready), *extra)
    state = tmp_path / "sim-state.json"
    ready.unlink(missing_ok=True)
    coa_ready.unlink(missing_ok=True)
    process = subprocess.Popen(
        [sys.executable, str(SIM), "--listen", "127.0.0.1:0", "--user", USER,
         "--password", PASSWORD, "--state", str(state), "--ready-file", str(ready),
         "--coa-listen", "127.0.0.1:0", "--coa-ready-file", str(coa_ready), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while not ready.exists() or not ready.read_text():
        if process.poll() is not None:
            raise RuntimeError(f"routeros-sim exited: {process.stderr.read().decode()}")
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("routeros-sim did not start within 20 s")
        time.sleep(0.05)
    host, port = ready.read_text().rsplit(":", 1)
    coa_port = int(coa_ready.read_text().rsplit(":", 1)[1]) if coa_ready.exists() else 0
    hotspot_port = int(hotspot_ready.read_text().rsplit(":", 1)[1]) if hotspot else 0
    tls_port = int(tls_ready.read_text().rsplit(":", 1)[1]) if hotspot_tls else 0
    sim = Sim(host, int(port), process, state, coa_port, hotspot_port=hotspot_port,
              hotspot_tls_port=tls_port)
    if hotspot:
        sim.command("/ip/hotspot/profile/set", **{".id": "*0"},
                    **(HOTSPOT_PROFILE if hotspot_profile is None else hotspot_profile))
    return sim


def stop_sim(sim: Sim) -> None:
    stop_process(sim.process)


@pytest.fixture
def routeros_sim(tmp_path):
    """A fresh simulated router on 127.0.0.1 (plain API) for one test."""
    sim = start_sim(tmp_path)
    yield sim
    stop_sim(sim)


@pytest.fixture
def api(routeros_sim):
    """A librouteros connection to the fresh router of ``routeros_sim``."""
    connection = routeros_sim.connect()
    yield connection
    connection.close()


def make_certificate(common_name: str = "hotspot.campus.test", *, ip: str | None = "127.0.0.1",
                     days: int = 30, passphrase: str | None = None) -> tuple[str, str]:
    """A self-signed certificate and its private key (PEM texts), as an inventory would hold
    them for a router's hotspot; the key encrypted with ``passphrase`` when given."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    alt = [x509.DNSName(common_name)] + ([x509.IPAddress(ipaddress.ip_address(ip))] if ip else [])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .sign(key, hashes.SHA256()))
    encryption = (serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
                  else serialization.NoEncryption())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                encryption).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


# ----------------------------------------------------------------------------------------------
# A RADIUS server for the simulator's own tests (the Captiva tests use the real FreeRADIUS):
# coded here from RFC 2865/2866/3579 with hashlib, independent of the simulator's client.

ACCEPT, REJECT, ACCOUNTING_RESPONSE = 2, 3, 5
MIKROTIK = 14988


def vsa(kind: int, value: bytes | int) -> tuple[int, bytes]:
    """A MikroTik vendor attribute (type 26, vendor 14988)."""
    data = value.to_bytes(4, "big") if isinstance(value, int) else value
    return 26, MIKROTIK.to_bytes(4, "big") + bytes([kind, len(data) + 2]) + data


def _attributes(data: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 20
    while pos + 2 <= len(data):
        out.append((data[pos], data[pos + 2:pos + data[pos + 1]]))
        pos += data[pos + 1]
    return out


class Packet(dict):
    """Attributes of a received request: type -> list of values."""

    def int(self, kind: int) -> int | None:
        values = self.get(kind)
        return int.from_bytes(values[0], "big") if values else None

    def text(self, kind: int) -> str | None:
        values = self.get(kind)
        return values[0].decode() if values else None


class FakeRadius:
    """Authentication and accounting on 127.0.0.1. ``users``: name -> password (PAP or CHAP
    checked); ``replies``: name -> Access-Accept attributes; ``sign``: "good" (a right
    Message-Authenticator), "none" or "bad"."""

    def __init__(self, secret: str, users: dict[str, str], replies=None, sign: str = "good"):
        import threading

        self.secret = secret.encode()
        self.users = users
        self.replies = replies or {}
        self.sign = sign
        self.access: list[Packet] = []
        self.accounting: list[Packet] = []
        self.sockets = []
        for handler in (self._access, self._accounting):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            self.sockets.append(sock)
            threading.Thread(target=self._serve, args=(sock, handler), daemon=True).start()
        self.auth_port = self.sockets[0].getsockname()[1]
        self.acct_port = self.sockets[1].getsockname()[1]

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()

    def _serve(self, sock, handler) -> None:
        while True:
            try:
                data, peer = sock.recvfrom(4096)
            except OSError:
                return
            answer = handler(data)
            if answer:
                try:
                    sock.sendto(answer, peer)
                except OSError:  # closed meanwhile
                    return

    def _answer(self, code: int, request: bytes, attributes, signed: bool) -> bytes:
        import hmac

        body = b"".join(bytes([k, len(v) + 2]) + v for k, v in attributes)
        if signed:
            body += bytes([80, 18]) + bytes(16)
        header = bytes([code, request[1]]) + (20 + len(body)).to_bytes(2, "big")
        if signed:
            mac = hmac.new(self.secret, header + request[4:20] + body, hashlib.md5).digest()
            if self.sign == "bad":
                mac = bytes([mac[0] ^ 0xFF]) + mac[1:]
            body = body[:-16] + mac
        auth = hashlib.md5(header + request[4:20] + body + self.secret).digest()  # noqa: S324
        return header + auth + body

    def _access(self, data: bytes) -> bytes:
        packet = Packet()
        for kind, value in _attributes(data):
            packet.setdefault(kind, []).append(value)
        self.access.append(packet)
        user = packet.text(1)
        password = self.users.get(user)
        good = False
        if password is not None and 2 in packet:
            hidden, last, plain = packet[2][0], data[4:20], b""
            for start in range(0, len(hidden), 16):
                key = hashlib.md5(self.secret + last).digest()  # noqa: S324
                plain += bytes(a ^ b for a, b in zip(hidden[start:start + 16], key, strict=True))
                last = hidden[start:start + 16]
            good = plain.rstrip(b"\0") == password.encode()
        elif password is not None and 3 in packet:
            chap = packet[3][0]
            challenge = packet[60][0] if 60 in packet else data[4:20]
            good = chap[1:] == hashlib.md5(chap[:1] + password.encode() + challenge).digest()  # noqa: S324
        if good:
            return self._answer(ACCEPT, data, self.replies.get(user, []), self.sign != "none")
        return self._answer(REJECT, data, [(18, b"invalid username or password")],
                            self.sign != "none")

    def _accounting(self, data: bytes) -> bytes:
        packet = Packet()
        for kind, value in _attributes(data):
            packet.setdefault(kind, []).append(value)
        self.accounting.append(packet)
        return self._answer(ACCOUNTING_RESPONSE, data, [], False)

    def wait_accounting(self, count: int, timeout: float = 5.0) -> list[Packet]:
        deadline = time.monotonic() + timeout
        while len(self.accounting) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.accounting) >= count, self.accounting
        return self.accounting


def radius_router(sim: Sim, radius: FakeRadius, secret: str, **radius_fields: str) -> None:
    """Point the simulator's /radius at ``radius`` (service hotspot), incoming accepted."""
    sim.command("/radius/add", address="127.0.0.1", secret=secret, service="hotspot",
                timeout="1s", **{"authentication-port": str(radius.auth_port),
                                 "accounting-port": str(radius.acct_port), **radius_fields})
    sim.command("/radius/incoming/set", accept="yes")
