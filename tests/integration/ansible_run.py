"""Run the project's playbooks the way an admin does, from the project root."""

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
