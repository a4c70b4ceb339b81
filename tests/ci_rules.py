"""pytest plugin: in CI (CI=true, exported by .ci/run) a skipped test is a failure."""

import os

import pytest


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI (CI=true, exported by .ci/run) a skipped test is a failure: CI must not skip what
    it claims to test, whatever the skip came from (a marker, importorskip, a fixture)."""
    outcome = yield
    report = outcome.get_result()
    if _in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped in CI (CI=true): {reason}"
