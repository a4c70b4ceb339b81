"""A bare Debian 12 controller (issue 10): the lab installs what podman needs for DNS between
containers, configures netavark, and refuses to go on, saying what to do, when podman is
still on CNI, without ever resetting the user's containers."""

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "lab"


def host_packages():
    lines = (LAB / "host-packages").read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def test_the_packages_podman_needs_for_dns_between_containers_are_installed():
    # Debian's podman pulls neither netavark nor aardvark-dns (only recommends), and
    # netavark runs iptables: `make lab` installs with --no-install-recommends.
    assert {"podman", "netavark", "aardvark-dns", "iptables"} <= host_packages()


def test_containers_conf_selects_netavark():
    conf = tomllib.loads((LAB / "containers.conf").read_text())
    assert conf["network"]["network_backend"] == "netavark"
    assert conf["engine"]["runtime"] == "runc"


def fake_podman(tmp_path, backend, containers=(), networks=("podman",)):
    """A podman that answers info/ps/network ls like one holding CNI state, and records every
    other call (a reset, a removal) so the test can see that none was made."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    script = f"""#!/bin/bash
case "$1 $2" in
  "info --format") echo {backend} ;;
  "ps -a") printf '%s\\n' {' '.join(containers)} ;;
  "network ls") printf '%s\\n' {' '.join(networks)} ;;
  *) echo "$*" >> {calls}; exit 99 ;;
esac
"""
    (bin_dir / "podman").write_text(script)
    (bin_dir / "podman").chmod(0o755)
    return bin_dir, calls


def check(bin_dir):
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return subprocess.run(["bash", "-c", f". {LAB}/lib.sh && check_network_backend"],
                          env=env, capture_output=True, text=True, check=False)


def test_podman_on_cni_fails_naming_what_holds_it_and_how_to_move(tmp_path):
    bin_dir, calls = fake_podman(tmp_path, "cni", containers=("my-app", "my-db"),
                                 networks=("podman", "my-net"))
    result = check(bin_dir)
    assert result.returncode == 1
    assert "'cni' network backend" in result.stderr
    assert "my-app my-db my-net" in result.stderr
    assert "podman system reset" in result.stderr
    assert "never resets" in result.stderr
    assert not calls.exists(), calls.read_text()  # nothing removed, nothing reset


def test_podman_on_netavark_passes(tmp_path):
    bin_dir, calls = fake_podman(tmp_path, "netavark")
    result = check(bin_dir)
    assert result.returncode == 0, result.stderr
    assert "podman network backend: netavark" in result.stdout


def test_this_machines_podman_is_on_netavark_with_iptables():
    """The real podman `make lab-deps` configured (not a stand-in): on netavark, with iptables
    for its bridge rules. Outside CI a machine without podman skips; in CI it fails."""
    if shutil.which("podman") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("podman is not installed: make lab-deps installs it")
        pytest.skip("podman is not installed (make lab-deps)")
    result = subprocess.run(["bash", "-c", f". {LAB}/lib.sh && check_network_backend"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "podman network backend: netavark" in result.stdout
