"""Shared by molecule/default's tests: where the project is, and the inventory sources."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCENARIO_DIR = Path(__file__).resolve().parents[1]
PROJECT_DIR = SCENARIO_DIR.parents[1]


@pytest.fixture(scope="session")
def inventory_args() -> list[str]:
    """-i arguments for lab/lab-router.py and lab/radtest: the inventory molecule converged
    (its generated inventory with the lab roster, then molecule/default/inventory)."""
    return ["-i", os.environ["MOLECULE_INVENTORY_FILE"], "-i", str(SCENARIO_DIR / "inventory")]


@pytest.fixture(scope="session")
def run():
    """Run a project command on this machine (the controller); its output, checked."""

    def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(argv, cwd=PROJECT_DIR, capture_output=True, text=True,
                              check=check, timeout=60)

    return _run
