"""The failure tests need the running HA lab (make lab-ha) and root (podman, nsenter).
Outside CI they skip without it; with CI=true they fail (tests/ci_rules.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import lab  # noqa: E402


def missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the HA tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def ha_lab() -> dict[str, lab.Host]:
    if os.geteuid() != 0:
        missing("the HA tests need root (podman, nsenter)")
    hosts = lab.hosts()
    absent = [h.container for h in hosts.values() if not lab.running(h.container)]
    if len(absent) == len(hosts):
        missing("the HA lab is not running: make lab-ha")
    return hosts


@pytest.fixture
def healthy_lab(ha_lab):
    """Every test starts from, and leaves, the whole lab up and the cluster healthy. The
    probe's radacct rows of earlier tests go before a test, not after it: a failed test's rows
    stay for a look at records that arrived after its check (acctsessionid LIKE '<run>-%',
    the run in its figures)."""
    lab.restore()
    lab.forget_probe_rows()
    yield ha_lab
    lab.restore()


def report(name: str, figures: dict) -> None:
    """Print a test's figures and keep them in build/ha/<name>.json (docs/ha.md quotes them)."""
    import json

    out = lab.ROOT / "build" / "ha"
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(figures, indent=2, sort_keys=True)
    (out / f"{name}.json").write_text(text + "\n", encoding="utf-8")
    print(f"\n{name}: {text}")
