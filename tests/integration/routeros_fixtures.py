"""pytest fixtures: tools/routeros-sim started on loopback, one fresh router per test.

Import the fixtures you use into a test module: ``from routeros_fixtures import routeros_sim``.
"""

from __future__ import annotations

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


def start_sim(tmp_path: Path, *extra: str, hotspot: bool = False) -> Sim:
    ready = tmp_path / "sim.addr"
    coa_ready = tmp_path / "sim-coa.addr"
    hotspot_ready = tmp_path / "sim-hotspot.addr"
    hotspot_ready.unlink(missing_ok=True)
    if hotspot:
        extra = ("--hotspot-listen", "127.0.0.1:0", "--hotspot-ready-file", str(hotspot_ready),
                 *extra)
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
    return Sim(host, int(port), process, state, coa_port, hotspot_port=hotspot_port)


def stop_sim(sim: Sim) -> None:
    stop_process(sim.process)


@pytest.fixture
def routeros_sim(tmp_path):
    """A fresh simulated router on 127.0.0.1 (plain API) for one test."""
    sim = start_sim(tmp_path)
    yield sim
    stop_sim(sim)


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
