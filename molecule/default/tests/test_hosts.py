"""Every molecule host boots systemd and resolves every other host to its address."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import testinfra.utils.ansible_runner
import yaml

# Straight into each container with `podman exec`: much faster than one Ansible run per command.
testinfra_hosts = [
    f"podman://{name}"
    for name in testinfra.utils.ansible_runner.AnsibleRunner(
        os.environ["MOLECULE_INVENTORY_FILE"]
    ).get_hosts("all")
]

# The addresses molecule.yml gives the platforms: what each host must resolve.
PLATFORMS = {
    platform["name"]: platform["ip"]
    for platform in yaml.safe_load(Path(os.environ["MOLECULE_FILE"]).read_text())["platforms"]
}


def test_systemd_is_running(host):
    state = host.run("timeout 90 systemctl is-system-running --wait")
    failed = host.run("systemctl --failed --plain --no-legend").stdout
    assert state.stdout.strip() == "running", (
        f"systemd is {state.stdout.strip()}; failed units:\n{failed}"
    )


@pytest.mark.parametrize("peer", sorted(PLATFORMS))
def test_resolves_peer(host, peer):
    answer = host.run(f"getent hosts {peer}")
    assert answer.rc == 0, f"{peer} does not resolve"
    assert answer.stdout.split()[0] == PLATFORMS[peer]
