"""What every fixture that runs a real server needs: skip or fail when a part is missing,
a free loopback port, and a clean stop."""

from __future__ import annotations

import os
import random
import socket
import subprocess

import pytest


def missing(reason: str):
    """Skip a test whose real part is not installed; in CI (CI=true), fail it instead."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: integration tests must run)")
    pytest.skip(reason)


# Ports handed out by this process: never the same twice.
_GIVEN: set[int] = set()
# Below this, ports are left to the system's own services.
_LOWEST = 10000


def _ephemeral_low() -> int:
    """Where the kernel's ephemeral range starts: it gives ports from there up to any socket
    that connects or sends without binding (a database client, a RADIUS client)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A free port on 127.0.0.1 (TCP by default; socket.SOCK_DGRAM for UDP).

    Below the kernel's ephemeral range: a port the kernel picked (bind to port 0) is free
    when asked, but the kernel may give it to any client socket before the server binds it
    (FreeRADIUS failed once so: "Address already in use"). Below that range only explicit
    binds take ports, and each pytest-xdist worker draws from its own slice of it."""
    workers = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1), 1)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) % workers if worker[2:].isdigit() else 0
    span = (_ephemeral_low() - _LOWEST) // workers
    first = _LOWEST + index * span
    rng = random.Random()
    for _ in range(500):
        port = rng.randrange(first, first + span)
        if port in _GIVEN:
            continue
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    raise RuntimeError(f"no free port between {first} and {first + span} on 127.0.0.1")


def stop_process(process: subprocess.Popen | None) -> None:
    """Terminate a server process, killing it if it does not exit within 10 s."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
