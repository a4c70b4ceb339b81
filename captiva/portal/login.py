"""Signing in and out, and the language (docs/portal.md, "Security"):

- ``GET /``: where a visitor or a signed-in user goes (``/login``, ``/me`` or ``/admin``);
- ``GET /login``, ``POST /login``: the password form and the code form (a voucher's or a
  workstation session's code), checked by RADIUS, counted by the login limits;
- ``POST /logout``, ``POST /lang``: end the session; choose French or English.
"""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from captiva.portal import radius_auth
from captiva.portal.config import LANGUAGES
from captiva.portal.rooms import Room, route, with_form
from captiva.portal.security import Throttled
from captiva.portal.shell import LANG_COOKIE
from captiva.vouchers import checked as checked_code
from captiva.vouchers import is_code

log = logging.getLogger("captiva.portal")
USERNAME_MAX = 64


class LoginViews(Room):
    """Bound to the Portal: its sessions, login limits, RADIUS check and rendering."""

    @route("GET", "/")
    async def index(self, request: Request) -> Response:
        portal = self.portal
        session = portal.session(request)
        if session and session.authenticated:
            return RedirectResponse("/admin" if await portal.staff(request) else "/me", 303)
        return RedirectResponse("/login", 303)

    @route("GET", "/login")
    async def login_page(self, request: Request) -> Response:
        portal = self.portal
        session = portal.session(request)
        if session and session.authenticated:
            return RedirectResponse("/me", 303)
        message = "login.expired" if request.query_params.get("expired") else None
        return self.login_form(request, message)

    def login_form(self, request: Request, message: str | None, status: int = 200,
                   username: str = "", **values) -> Response:
        return self.portal.visitor_page(request, "login.html", status, message=message,
                                        message_values=values, username=username)

    @route("POST", "/login")
    async def login(self, request: Request) -> Response:
        portal = self.portal
        form = await portal.form(request)
        # The form's token, whether or not a session cookie came along.
        request.state.session = None
        if not portal.csrf_ok(request, form):
            return self.login_form(request, "error.csrf", 403)
        username = form.get("username", "").strip()
        password = form.get("password", "")
        # The code form (login.html): a voucher's username and password are its compact code.
        code = form.get("code", "").strip()
        failed = "voucher.failed" if code else "login.failed"
        if code:
            # A mistyped code (length, alphabet, check character) never reaches RADIUS.
            username = password = checked_code(code[:64]) or ""
        if not username or not password or len(username) > USERNAME_MAX or len(password) > 128:
            return self.login_form(request, failed, 400, username[:USERNAME_MAX])
        address = portal.client_ip(request.scope)
        # Counted before RADIUS is asked: parallel attempts cannot all pass the check. A
        # paced address (many failures) waits here for a slot (LoginLimiter).
        attempt = await portal.limiter.acquire(username, address)
        if isinstance(attempt, Throttled):
            log.warning("login throttled for %s from %s", portal.log_name(username), address)
            response = self.login_form(request, "login.throttled", 429, username,
                                       minutes=max(1, (attempt.retry_after + 59) // 60))
            response.headers["Retry-After"] = str(attempt.retry_after)
            return response
        # Logins checked at once are bounded (login.concurrency): a burst queues here, not in
        # the threads that share the interpreter with the pages being served.
        async with portal.login_slot() as free:
            if not free:
                portal.limiter.cancel(attempt)  # not checked: the attempt taught nothing
                log.error("login of %s: no login slot free within the RADIUS check's time",
                          portal.log_name(username))
                return self.login_form(request, "login.busy", 503, username)
            return await self.checked_login(request, username, password, code, address,
                                            attempt)

    async def checked_login(self, request: Request, username: str, password: str, code: str,
                            address: str, attempt) -> Response:
        """The password (or code) checked by RADIUS, then the session and the first page's
        figures, in one of the login slots."""
        portal = self.portal
        failed = "voucher.failed" if code else "login.failed"
        try:
            # The browser's address as Calling-Station-Id: FreeRADIUS counts failed code
            # logins per NAS and station (docs/freeradius.md, "Guessing codes").
            result = await run_in_threadpool(portal.authenticate, portal.config.radius,
                                             username, password, address)
        except radius_auth.RadiusUnavailable as exc:
            portal.limiter.cancel(attempt)  # no answer: the attempt taught nothing
            log.error("RADIUS unavailable: %s", exc)
            return self.login_form(request, "login.unavailable", 503, username)
        if not result.accepted:
            log.info("login refused for %s from %s", portal.log_name(username), address)
            return self.login_form(request, failed, 401, "" if code else username)
        portal.limiter.succeeded(attempt)
        old = portal.store.get(request.cookies.get(portal.config.cookie_name))
        cookie, _ = portal.store.rotate(old, username)
        log.info("login of %s from %s", portal.log_name(username), address)
        # the first page after a login shows fresh figures and role: read here, so that the
        # page the redirect leads to does not wait for the database (figures_at_login)
        portal.forget_figures(username)
        portal.forget_staff(username)
        staff = await run_in_threadpool(
            portal.staff_of if is_code(username) else portal.figures_at_login, username)
        target = "/admin" if staff else "/voucher/me" if is_code(username) else "/me"
        response = RedirectResponse(target, 303)
        portal.set_session_cookie(response, cookie)
        return response

    @route("POST", "/logout")
    @with_form
    async def logout(self, request: Request, form: dict[str, str]) -> Response:
        portal = self.portal
        session = portal.session(request)
        if session is not None:
            portal.store.delete(session)
        response = RedirectResponse("/login", 303)
        portal.clear_session_cookie(response)
        return response

    @route("POST", "/lang")
    @with_form
    async def set_language(self, request: Request, form: dict[str, str]) -> Response:
        lang = form.get("lang", "")
        target = form.get("next", "/")
        if not target.startswith("/") or target.startswith("//") or "\\" in target:
            target = "/"
        response = RedirectResponse(target, 303)
        if lang in LANGUAGES:
            response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path="/", secure=True,
                                httponly=True, samesite="lax")
        return response
