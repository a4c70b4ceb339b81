"""Every package the project installs is pinned by its SHA-256, and pip checks it: the
controller's virtualenv (requirements.txt, lab/lab venv), the hosts' runtime virtualenv
(roles/portal/files/requirements.txt: downloaded on the controller and installed on the
host, both with --require-hashes) and make lock's own pip-tools."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import jinja2
import pytest
import yaml
from ansible_run import ROOT
from test_portal_role_preflight import preflight

LOCKS = {ROOT / "requirements.txt": ROOT / "requirements.in",
         ROOT / "roles/portal/files/requirements.txt": ROOT / "roles/portal/files/requirements.in",
         ROOT / "requirements-pip-tools.txt": ROOT / "requirements-pip-tools.in"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]+\])?==(\S+)")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(path) -> dict[str, tuple[str, list[str]]]:
    """{name: (version, [sha256, ...])} of a requirements file, continuation lines joined."""
    text = path.read_text().replace("\\\n", " ")
    found = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip() if not line.startswith("#") else ""
        match = PIN.match(line)
        if match:
            found[normalized(match.group(1))] = (match.group(3),
                                                 re.findall(r"--hash=sha256:([0-9a-f]{64})", line))
    return found


@pytest.mark.parametrize("lock", list(LOCKS), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_pin_of_every_lock_file_carries_its_hashes(lock):
    pins = requirements(lock)
    assert pins
    assert [name for name, (_, hashes) in pins.items() if not hashes] == []


@pytest.mark.parametrize("lock", list(LOCKS), ids=lambda p: str(p.relative_to(ROOT)))
def test_each_lock_file_pins_what_its_in_file_pins(lock):
    """The .in file is what people edit; make lock must have been run since."""
    wanted = {name: version for name, (version, _) in requirements(LOCKS[lock]).items()}
    locked = {name: version for name, (version, _) in requirements(lock).items()}
    assert {name: locked.get(name) for name in wanted} == wanted


def test_the_portal_role_refuses_a_requirements_file_without_hashes(tmp_path):
    unhashed = tmp_path / "requirements.txt"
    unhashed.write_text("idna==3.20 \\\n    --hash=sha256:" + "0" * 64 + "\nstarlette==1.10.0\n")
    (tmp_path / "play").mkdir()
    run = preflight(tmp_path / "play", portal_pip_requirements_file=str(unhashed))
    assert run.returncode != 0
    assert "must pin every dependency with its SHA-256" in run.stdout


def download(tmp_path, requirement: str) -> subprocess.CompletedProcess:
    """The portal role's download on the controller, its argv read from tasks/install.yml
    (what ships), for one requirement."""
    tasks = yaml.safe_load((ROOT / "roles/portal/tasks/install.yml").read_text())
    task = next(t for t in tasks if t["name"].startswith("Fetch the dependencies' wheels"))
    tmp_path.mkdir()
    (tmp_path / "requirements.txt").write_text(requirement)
    variables = {"ansible_playbook_python": sys.executable,
                 "__portal_deps_dir": {"path": str(tmp_path / "wheels")},
                 "portal_pip_requirements_file": str(tmp_path / "requirements.txt")}
    argv = [jinja2.Template(arg).render(variables)
            for arg in task["ansible.builtin.command"]["argv"]]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False,
                          env=dict(os.environ, **task["environment"]))


def test_the_controller_downloads_only_wheels_with_the_locked_hashes(tmp_path):
    version, hashes = requirements(ROOT / "roles/portal/files/requirements.txt")["idna"]
    tampered = download(tmp_path / "tampered", f"idna=={version} --hash=sha256:{'0' * 64}\n")
    assert tampered.returncode != 0
    assert "DO NOT MATCH THE HASHES" in tampered.stderr
    assert not list((tmp_path / "tampered" / "wheels").glob("*.whl"))
    locked = download(tmp_path / "locked", f"idna=={version} "
                      + " ".join(f"--hash=sha256:{h}" for h in hashes) + "\n")
    assert locked.returncode == 0, locked.stderr
    assert [p.name for p in (tmp_path / "locked" / "wheels").glob("*.whl")] == [
        f"idna-{version}-py3-none-any.whl"]


def test_the_hosts_runtime_is_the_version_the_tests_ran():
    """The integration tests run the portal and the jobs in the controller's virtualenv: every
    package the hosts' virtualenv gets must be there at the same version, or the tests prove
    another runtime than the one that ships."""
    controller = requirements(ROOT / "requirements.txt")
    hosts = requirements(ROOT / "roles/portal/files/requirements.txt")
    assert {name: controller.get(name, ("missing", []))[0] for name in hosts} == {
        name: version for name, (version, _) in hosts.items()}
