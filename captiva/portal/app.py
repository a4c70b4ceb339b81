"""The portal's ASGI application (Starlette): the shell (shell.py) and its rooms' routes,
the security headers, the health check.

``create_app(config)`` builds it; ``captiva-portal`` (cli.py) serves it with uvicorn. Each
room marks its handlers with their routes (shell.route): login.py, student/, console/, vouchers/,
workstations/.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from captiva import __version__
from captiva.portal.config import Config
from captiva.portal.console.registrations_views import RegistrationViews
from captiva.portal.console.views import ConsoleViews
from captiva.portal.login import LoginViews
from captiva.portal.rooms import Room, route
from captiva.portal.shell import HERE, Portal
from captiva.portal.student.devices_views import DeviceViews
from captiva.portal.student.password_views import PasswordViews
from captiva.portal.student.signup_views import SignupViews
from captiva.portal.student.views import StudentViews
from captiva.portal.vouchers.views import VoucherViews
from captiva.portal.workstations.views import WorkstationViews

log = logging.getLogger("captiva.portal")

CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "script-src 'self'; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
]


# ---------------------------------------------------------------------------------------------
# Middleware: security headers on every response (pure ASGI: cheap)


class SecurityHeaders:
    def __init__(self, app, hsts: Callable[[dict], bool], hsts_max_age: int):
        self.app = app
        self.hsts = hsts
        self.hsts_value = f"max-age={hsts_max_age}; includeSubDomains".encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = self.hsts(scope)
        static = scope.get("path", "").startswith("/static/")

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                if https:
                    headers.append((b"strict-transport-security", self.hsts_value))
                if b"cache-control" not in present:
                    # Pages hold personal data; the stylesheet may be cached.
                    headers.append((b"cache-control", b"public, max-age=3600" if static
                                    else b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


# ---------------------------------------------------------------------------------------------
# The shell's own answers: health, not found, method not allowed


class ShellViews(Room):
    """Bound to the Portal: the health check and the error pages."""

    @route("GET", "/healthz")
    async def healthz(self, request: Request) -> Response:
        def check(conn):
            return conn.execute("SELECT 1").fetchone()[0] == 1
        try:
            ok = await run_in_threadpool(self.portal.with_conn, check)
        except Exception as exc:  # any failure (pool timeout, DB down) is a 503
            log.error("health check failed: %s", type(exc).__name__)
            ok = False
        return JSONResponse({"status": "ok" if ok else "database unavailable",
                             "version": __version__}, 200 if ok else 503)

    async def not_found(self, request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "not found"}, 404)
        return self.portal.not_found(request)

    async def method_not_allowed(self, request: Request, exc: Exception) -> Response:
        return PlainTextResponse("method not allowed", 405)


def create_app(config: Config, **kwargs: Any) -> Starlette:
    portal = Portal(config, **kwargs)

    @asynccontextmanager
    async def lifespan(app):
        await run_in_threadpool(portal.open_pool)
        await run_in_threadpool(portal.warm_up)
        try:
            yield
        finally:
            await run_in_threadpool(portal.close_pool)

    shell = ShellViews(portal)
    rooms = [
        shell,
        LoginViews(portal),  # docs/portal.md, "Security"
        StudentViews(portal),  # docs/portal.md, "What students see"
        VoucherViews(portal),  # docs/vouchers.md, "Portal"
        WorkstationViews(portal),  # docs/workstations.md: console and kiosk
        PasswordViews(portal),  # docs/portal.md, "For students"
        DeviceViews(portal),  # docs/portal.md, "For students: devices"
        SignupViews(portal),  # docs/portal.md, "For students: signing up"
        RegistrationViews(portal),  # docs/portal.md, "For helpdesk staff: ... account requests"
        ConsoleViews(portal),  # docs/portal.md, "What staff see"
    ]
    # A literal path before a pattern that could also match it (/api/admin/users before
    # /api/admin/{view}), whatever the room or the order of its handlers.
    routes = [
        *sorted((route for room in rooms for route in room.routes()),
                key=lambda route: route.path.count("{")),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={404: shell.not_found, 405: shell.method_not_allowed})
    app.state.portal = portal
    app.add_middleware(SecurityHeaders, hsts=portal.is_https, hsts_max_age=config.hsts_max_age)
    return app
