"""Headless Chromium for the browser tests (Debian's /usr/bin/chromium driven by Playwright),
and the seeded portal they log in to.

``browser`` (module scope) skips, or in CI fails, without Chromium or Playwright. ``portal``
is a real ``captiva-portal`` process on the seeded test campus (portal_fixtures), checked by
the module's ``radius_server``. Screenshots go under ``ARTIFACTS``.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from portal_fixtures import (
    password,
    portal_config_dict,
    seed_accounting,
    seed_campus,
    start_portal,
)
from processes import missing

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = Path(os.environ.get("CAPTIVA_CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking flags Chromium calls out to Google's hosts at start.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists() or shutil.which("chromium") is None:
        missing("chromium is not installed (apt-get install chromium chromium-driver)")
    try:
        from playwright import sync_api
    except ImportError:
        missing("playwright is not installed (make venv installs requirements.txt)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS,
                                              headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@contextmanager
def page_in(browser, locale: str) -> Iterator:
    """A page in a fresh browser context speaking ``locale`` (no cookies from other tests),
    the context closed afterwards."""
    context = browser.new_context(locale=locale)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="module")
def portal(radius_server, tmp_path_factory):
    """The portal on the seeded campus, its accounting as of ``NOW``."""
    seed_campus(radius_server.db, NOW)
    seed_accounting(radius_server.db, NOW)
    process = start_portal(tmp_path_factory.mktemp("portal"),
                           portal_config_dict(radius_server.db, radius_server))
    try:
        yield process
    finally:
        process.stop()


def log_in(page, url, username):
    page.goto(f"{url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password(username))
    page.click("button[type=submit].primary")
    page.wait_for_load_state()
