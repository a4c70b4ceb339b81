"""The portal's route table: each room's handlers carry their routes (shell.route), and the
app puts a literal path before a pattern that could also match it, whatever the rooms' order."""

from __future__ import annotations

import pytest
from starlette.routing import Match

from captiva.portal.app import create_app
from captiva.portal.config import parse

CONFIG = {"dsn": "postgresql:///nowhere", "session_secret": "x" * 32, "site_name": "t",
          "radius": {"server": "127.0.0.1", "secret": "s" * 16},
          "dashboard": {"cache_seconds": 0}}


@pytest.fixture(scope="module")
def app():
    return create_app(parse(CONFIG))


def endpoint(app, method: str, path: str) -> str | None:
    """The handler that answers ``method path`` (its qualified name), as Starlette picks it."""
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    for route in app.routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route.endpoint.__qualname__
    return None


@pytest.mark.parametrize(("method", "path", "handler"), [
    ("GET", "/api/admin/users", "ConsoleViews.api_users"),
    ("GET", "/api/admin/vouchers", "VoucherViews.api_admin"),
    ("GET", "/api/admin/workstations/lib", "WorkstationViews.site_json"),
    ("GET", "/api/admin/online", "ConsoleViews.api_overview"),
    ("GET", "/admin/users.csv", "ConsoleViews.users_csv"),
    ("GET", "/admin/users/e123", "ConsoleViews.user"),
    ("POST", "/admin/users/e123/disable", "ConsoleViews.action"),
    ("POST", "/admin/users/e123/devices/forget", "DeviceViews.staff_act"),
    ("GET", "/login", "LoginViews.login_page"),
    ("POST", "/login", "LoginViews.login"),
    ("GET", "/healthz", "ShellViews.healthz"),
])
def test_each_path_reaches_its_handler(app, method, path, handler):
    assert endpoint(app, method, path) == handler


def test_no_method_and_path_is_claimed_twice(app):
    claimed = [(method, route.path) for route in app.routes
               for method in getattr(route, "methods", None) or ()]
    assert len(claimed) == len(set(claimed))


def test_a_literal_path_comes_before_any_pattern(app):
    """Starlette takes the first match: a room adding /api/admin/<name> must not be shadowed
    by the console's /api/admin/{view}, wherever either is defined."""
    patterns = [route.path.count("{") for route in app.routes if hasattr(route, "methods")]
    assert patterns == sorted(patterns)
