"""One version: galaxy.yml's, the runtime's (captiva.__version__, which pyproject.toml reads),
the changelog's newest release, and what the commands answer to --version."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import captiva

ROOT = Path(__file__).resolve().parents[2]
SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")


def galaxy_version() -> str:
    return yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]


def test_galaxy_and_runtime_versions_are_one_semantic_version():
    assert SEMVER.fullmatch(galaxy_version())
    assert captiva.__version__ == galaxy_version()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert 'version = {attr = "captiva.__version__"}' in pyproject


def test_changelog_names_the_version_as_its_newest_release():
    releases = re.findall(r"^## (\d+\.\d+\.\d+)$", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert releases[0] == galaxy_version()


# pyproject.toml's [project.scripts] entry points, and the onboarding CLI.
@pytest.mark.parametrize("module, prog", [
    ("captiva.quota.cli", "captiva-quota"),
    ("captiva.portal.cli", "captiva-portal"),
    ("captiva.vouchers.cli", "captiva-vouchers"),
    ("captiva.workstations.cli", "captiva-workstations"),
    ("captiva.onboarding.cli", "python -m captiva.onboarding"),
])
def test_every_command_answers_version(module, prog):
    code = f"import sys; from {module} import main; sys.exit(main(['--version']))"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"{prog} {galaxy_version()}"
