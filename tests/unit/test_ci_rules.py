"""CI must not skip what it claims to test (issue 10): .ci/run exports CI=true, and with it a
skipped test, whatever skipped it, fails the run."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SKIPPING = """
import pytest

def test_needs_a_server():
    pytest.skip("PostgreSQL is not installed")

def test_needs_a_package():
    pytest.importorskip("a_package_that_is_not_installed")

@pytest.mark.skipif(True, reason="schema.sql not installed")
def test_marked():
    pass
"""


def run_pytest(tmp_path, ci):
    (tmp_path / "test_skipping.py").write_text(SKIPPING)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    env.pop("CI", None)
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "ci_rules", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), str(tmp_path)],
        env=env, capture_output=True, text=True, check=False)


def test_outside_ci_a_missing_part_is_a_skip(tmp_path):
    result = run_pytest(tmp_path, ci=False)
    assert result.returncode == 0, result.stdout
    assert "3 skipped" in result.stdout


def test_in_ci_every_kind_of_skip_is_a_failure(tmp_path):
    result = run_pytest(tmp_path, ci=True)
    assert result.returncode == 1, result.stdout
    assert "skipped" not in result.stdout.splitlines()[-1]
    for name in ("test_needs_a_server", "test_needs_a_package", "test_marked"):
        assert f"test_skipping.py::{name} - skipped in CI (CI=true)" in result.stdout
    assert "skipped in CI (CI=true): Skipped: PostgreSQL is not installed" in result.stdout


def test_ci_run_exports_ci_true_before_the_readme_test_command():
    script = (ROOT / ".ci" / "run").read_text().splitlines()
    assert "export CI=true" in script
    assert script.index("export CI=true") < script.index("make test")
