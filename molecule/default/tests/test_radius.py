"""FreeRADIUS runs and listens for RADIUS, and its buffers' replay runs beside it (the
server reads no buffer); a login sent from the router's address, signed with a
Message-Authenticator (lab/radtest), is accepted for an active lab user and rejected for a
disabled one, with a signed answer."""

from __future__ import annotations

import pytest

testinfra_hosts = ["podman://captiva-mol-radius"]

RADIUS_ADDRESS = "10.89.1.11"
ROUTER = ["-r", "lab-gw1", "-c", "captiva-mol-router-campus-lab", "-s", RADIUS_ADDRESS]


def test_freeradius_is_running_and_enabled(host):
    service = host.service("freeradius")
    assert service.is_running
    assert service.is_enabled


def test_the_buffers_replay_is_running_and_enabled(host):
    # The readers of the accounting and login buffers, in a FreeRADIUS process of their own
    # (docs/freeradius.md, "The buffers' replay").
    service = host.service("captiva-radius-replay")
    assert service.is_running
    assert service.is_enabled
    pid = host.check_output("systemctl show -p MainPID --value captiva-radius-replay")
    assert host.check_output(f"stat -c %U /proc/{pid}") == "freerad"
    conf = host.file("/etc/freeradius/3.0/captiva-radius-replay.conf")
    assert conf.contains("^\\$INCLUDE sites-available/buffered-login$")
    assert conf.contains("^\\$INCLUDE sites-available/buffered-sql$")


@pytest.mark.parametrize("site", ["buffered-sql", "buffered-login"])
def test_the_server_does_not_read_the_buffers(host, site):
    # The writers' fcntl locks keep out readers of another process only.
    assert not host.file(f"/etc/freeradius/3.0/sites-enabled/{site}").exists


@pytest.mark.parametrize("port", [1812, 1813])
def test_listens_for_radius(host, port):
    assert host.socket(f"udp://0.0.0.0:{port}").is_listening


def test_listens_on_no_tcp_port(host):
    assert [s for s in host.socket.get_listening_sockets() if s.startswith("tcp")] == []


def test_active_user_is_accepted(run, inventory_args):
    result = run("lab/radtest", *inventory_args, *ROUTER, "lab-student1", "lab-password-1",
                 check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    answer = result.stdout.split("Received ", 1)[1]
    assert answer.startswith("Access-Accept")
    assert 'Mikrotik-Group = "etudiant-standard"' in answer
    assert "Message-Authenticator = 0x" in answer


def test_disabled_user_is_rejected(run, inventory_args):
    result = run("lab/radtest", *inventory_args, *ROUTER, "lab-disabled1", "lab-password-4",
                 check=False)
    assert result.returncode != 0
    answer = result.stdout.split("Received ", 1)[1]
    assert answer.startswith("Access-Reject")
    assert "WiFi account disabled" in answer
    assert "Message-Authenticator = 0x" in answer
