"""Run the project's playbooks the way an admin does, from the project root."""

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"


def ansible_playbook(inventory, playbook, *args, env=None):
    """Returns the CompletedProcess; stdout and stderr together in ``.stdout``."""
    environment = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
                       ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", **(env or {}))
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), str(ROOT / "playbooks" / playbook),
         *args],
        cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=600, check=False,
    )


def recap(output: str) -> dict[str, int]:
    """The localhost line of the PLAY RECAP as numbers."""
    line = next(line for line in output.splitlines() if line.startswith("localhost "))
    return {k: int(v) for k, v in (part.split("=") for part in line.split()[2:])}


ROLE_TASKS_PLAY = """\
- name: One task file of a role, on the controller
  hosts: localhost
  gather_facts: {gather_facts}
  tasks:
    - name: The role's {tasks_from}
      ansible.builtin.include_role:
        name: captiva.campus.{role}
        tasks_from: {tasks_from}
"""


def role_tasks(tmp_path, role, variables, *args, tasks_from="preflight.yml",
               gather_facts=False):
    """Run one task file of a role (its preflight by default) on the controller, no host,
    with ``variables`` as extra vars; ``args`` such as ``--check --diff`` as ``make plan``
    runs it. Returns the CompletedProcess; stdout and stderr together in ``.stdout``."""
    (tmp_path / "play.yml").write_text(ROLE_TASKS_PLAY.format(
        role=role, tasks_from=tasks_from, gather_facts=str(gather_facts).lower()))
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    environment = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         str(tmp_path / "play.yml"), "-e", f"@{tmp_path / 'vars.json'}", *args],
        cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=120, check=False)
