"""freeradius_quota_enabled: false, through a real FreeRADIUS rendered by the role.

Also the one line of radiusd.conf the role owns: ``proxy_requests = no``.
"""

from __future__ import annotations

import datetime as dt
import re
import socket

import pytest
from pg_fixtures import radius_database
from pyrad import packet
from quota_radius_fixtures import GIB, Nas, provision, wait_replayed
from radius_fixtures import (
    RadiusServer,
    copy_package_config,
    require_freeradius,
    run_role,
    server_role_vars,
)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(pg_server, tmp_path_factory):
    require_freeradius()
    base = tmp_path_factory.mktemp("freeradius-noquota")
    config_dir = copy_package_config(base)
    # As Debian ships it: the role must turn proxying off itself.
    radiusd_conf = config_dir / "radiusd.conf"
    radiusd_conf.write_text(radiusd_conf.read_text().replace("proxy_requests = no",
                                                              "proxy_requests  = yes"))
    with radius_database(pg_server) as db:
        server = RadiusServer(config_dir=config_dir, log_path=base / "log" / "radius.log",
                              buffer_dir=base / "buffer", auth_port=free_udp_port(),
                              acct_port=free_udp_port(), db=db)
        role_vars = dict(server_role_vars(server), freeradius_quota_enabled=False)
        result = run_role(base, config_dir, role_vars)
        assert result.returncode == 0, result.stdout[-4000:]
        again = run_role(base, config_dir, role_vars)
        assert again.returncode == 0 and re.search(r"changed=0\b", again.stdout), again.stdout
        server.start()
        try:
            yield server
        finally:
            server.stop()


def test_the_write_pool_leaves_threads_to_logins(server):
    """sql (the writes) has fewer connections than Debian's 32 threads, so a primary that
    vanishes cannot hold them all; sql_read has as many, so a login always finds one
    (docs/freeradius.md, the pools)."""
    text = (server.config_dir / "mods-available" / "sql").read_text()
    pools = dict(re.findall(r"^sql(?: (\w+))? \{.*?^\s*max = (\d+)$", text, re.M | re.S))
    threads = re.search(r"^\s*max_servers\s*=\s*(\d+)",
                        (server.config_dir / "radiusd.conf").read_text(), re.M)
    assert {name or "sql": int(size) for name, size in pools.items()} == {
        "sql": 16, "sql_read": int(threads.group(1))}
    assert int(threads.group(1)) == 32


def test_proxying_is_off(server):
    lines = (server.config_dir / "radiusd.conf").read_text().splitlines()
    assert [line for line in lines if re.match(r"\s*proxy_requests\s*=", line)] == [
        "proxy_requests = no"]


def test_without_the_quota_check_an_over_quota_user_logs_in(server):
    provision(server, [{"username": "olivia", "password": "olivia-Pass-0123",
                        "promotion": "daily-1g", "email": "olivia@campus.test"}])
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    Nas(server).session("olivia", "olivia-1", now, [(now, 2 * GIB, 0)])
    wait_replayed(server)
    with server.db.connect() as conn:
        decision = conn.execute("SELECT captiva_quota_login_xlat('olivia', '127.0.0.1')"
                                ).fetchone()[0]
    assert decision.startswith("reject|")  # the database says over quota ...
    reply = server.authenticate("olivia", "olivia-Pass-0123")
    assert reply is not None and reply.code == packet.AccessAccept  # ... nobody asks it
    assert "Mikrotik-Total-Limit" not in reply and "Reply-Message" not in reply


def test_without_the_quota_check_a_blocked_device_is_still_refused(server):
    """The device block rides on the quota check's call when that is on; off, it asks alone."""
    provision(server, [{"username": "paul", "password": "paul-Pass-0123",
                        "promotion": "daily-1g", "email": "paul@campus.test"}])
    with server.db.connect() as conn:
        conn.execute("SELECT captiva_device_act('paul', 'paul', 'aa:bb:cc:00:22:11',"
                     " 'device-block', NULL, NULL)")
    reply = server.authenticate("paul", "paul-Pass-0123", Calling_Station_Id="AA-BB-CC-00-22-11")
    assert reply is not None and reply.code == packet.AccessReject
    assert reply["Reply-Message"] == [
        "Cet appareil est bloqué pour ce compte (portail Wi-Fi, Mes appareils) / This device is"
        " blocked for this account (Wi-Fi portal, My devices)"]
    reply = server.authenticate("paul", "paul-Pass-0123", Calling_Station_Id="AA-BB-CC-00-22-33")
    assert reply is not None and reply.code == packet.AccessAccept
