"""The portal's ASGI application (Starlette): pages, JSON API, security headers.

``create_app(config)`` builds it; ``captiva-portal`` (cli.py) serves it with uvicorn.
"""

from __future__ import annotations

import concurrent.futures
import csv
import datetime as dt
import io
import ipaddress
import logging
import time
import zoneinfo
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from jinja2 import Environment, FileSystemLoader, select_autoescape
from psycopg_pool import ConnectionPool
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from captiva import __version__
from captiva.portal import console, data, labels, radius_auth
from captiva.portal.config import LANGUAGES, Config
from captiva.portal.figure_cache import FigureCache
from captiva.portal.i18n import from_accept_language, translator
from captiva.portal.security import (
    LoginForms,
    LoginLimiter,
    Session,
    SessionStore,
    Throttled,
    csrf_valid,
)
from captiva.portal.student.devices_views import DeviceViews
from captiva.portal.student.signup_views import SignupViews
from captiva.portal.student.password_views import PasswordViews
from captiva.portal.vouchers.views import VoucherViews
from captiva.portal.workstations.views import WorkstationViews
from captiva.usage import default_calendar, format_bytes
from captiva.vouchers import checked as checked_code
from captiva.vouchers import is_code

log = logging.getLogger("captiva.portal")
HERE = Path(__file__).resolve().parent
LANG_COOKIE = "captiva_lang"
USERNAME_MAX = 64
# Background refreshes in flight at most, per cache (each holds a pool connection): up to
# this many, and no more than half the pool.
FIGURE_REFRESHES = 4
# Rendered /me pages kept (the oldest goes first).
PAGE_CACHE_ENTRIES = 2_000

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
# Formatting (templates only print)


def fmt_rate(bits: int | None) -> str:
    if bits is None:
        return "—"
    for unit, factor in (("Gbit/s", 10**9), ("Mbit/s", 10**6), ("kbit/s", 10**3)):
        if bits >= factor:
            value = bits / factor
            return f"{value:g} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{bits} bit/s"


def fmt_duration(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes:02d}" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def fmt_bytes(n: int | None) -> str:
    return "—" if n is None else format_bytes(int(n))


def chart_bars(chart: list[tuple[dt.date, int]], width: int = 300, height: int = 100):
    """Bars of the inline SVG chart: x, y, w, h per day, scaled to the largest day."""
    peak = max((n for _, n in chart), default=0)
    step = width / max(len(chart), 1)
    bars = []
    for i, (day, n) in enumerate(chart):
        h = 0.0 if peak == 0 else max(n / peak * height, 0.5 if n else 0.0)
        bars.append({"x": round(i * step + 1, 2), "w": round(step - 2, 2),
                     "y": round(height - h, 2), "h": round(h, 2), "day": day, "bytes": n})
    return bars, peak


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


@dataclass(frozen=True)
class Figures:
    """What a student's page shows, read together: the dashboard and the staff role (the
    menu's admin link only: the console checks the role itself, STAFF_CACHE_SECONDS)."""

    board: data.Dashboard
    staff: console.Staff | None


class Portal:
    """The application's state and handlers."""

    def __init__(self, config: Config, clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], dt.datetime] | None = None,
                 authenticate=radius_auth.authenticate):
        self.config = config
        self.store = SessionStore(config.session_secret, config.idle_timeout,
                                  config.absolute_timeout, clock=clock,
                                  max_sessions=config.max_sessions,
                                  max_per_user=config.max_sessions_per_user)
        self.forms = LoginForms(config.session_secret, config.login_form_validity, clock=clock)
        self.login_cookie = config.cookie_name + "-login"
        self.limiter = LoginLimiter(config.max_failures_per_user_address,
                                    config.max_failures_per_address, config.login_window,
                                    clock=clock)
        self.now = now or (lambda: dt.datetime.now(dt.UTC))
        self.authenticate = authenticate
        self.pool: ConnectionPool | None = None
        # Refreshed ahead (figure_cache.py): a student's figures per (username, history page),
        # and staff roles per username (STAFF_CACHE_SECONDS; wrapped: None is "not staff").
        refreshes = max(1, min(FIGURE_REFRESHES, config.pool_max_size // 2))
        self._refresher = concurrent.futures.ThreadPoolExecutor(
            2 * refreshes, thread_name_prefix="captiva-refresh")
        self.figures: FigureCache[tuple[str, int], Figures] | None = None
        if config.cache_seconds > 0:
            self.figures = FigureCache(
                config.cache_seconds, self._read_figures, self._refresher.submit,
                max_refreshes=refreshes, group=lambda key: key[0], clock=clock,
                describe=lambda key: f"{self.log_name(key[0])} page {key[1]}")
        self._staff: FigureCache[str, tuple[console.Staff | None]] = FigureCache(
            console.STAFF_CACHE_SECONDS,
            lambda username: (self.with_conn(console.staff_member, username),),
            self._refresher.submit, max_refreshes=refreshes, clock=clock,
            describe=self.log_name)
        # rendered /me pages per (session, page, language), each with the figures it shows:
        # served while those are the cache's; they hold the session's CSRF token
        self._pages: dict[tuple[str, int, str], tuple[Figures, bytes]] = {}
        self._clock = clock
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"),
                               autoescape=select_autoescape(["html"]),
                               trim_blocks=True, lstrip_blocks=True)
        self.env.filters.update(bytes=fmt_bytes, rate=fmt_rate, duration=fmt_duration)

    # -- plumbing -----------------------------------------------------------------------------

    def open_pool(self) -> None:
        self.pool = ConnectionPool(
            self.config.dsn, min_size=self.config.pool_min_size,
            max_size=self.config.pool_max_size, open=True, name="captiva-portal",
            kwargs={"autocommit": True, "application_name": "captiva-portal"},
            timeout=self.config.pool_timeout,
        )

    def close_pool(self) -> None:
        self._refresher.shutdown(wait=True)  # the refreshes in flight end first
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def with_conn(self, fn, *args):
        assert self.pool is not None  # noqa: S101 - opened by the lifespan
        with self.pool.connection() as conn:
            return fn(conn, *args)

    def _trusted(self, address: str | None) -> bool:
        if not address or not self.config.trusted_proxies:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.config.trusted_proxies)

    def client_ip(self, scope: dict) -> str:
        """The client's address; X-Forwarded-For is believed only from a trusted proxy."""
        peer = scope.get("client")
        address = peer[0] if peer else "unknown"
        if not self._trusted(address):
            return address
        forwarded = ""
        for name, value in scope.get("headers", []):
            if name == b"x-forwarded-for":
                forwarded = value.decode("latin-1")
        # Rightmost address not of a trusted proxy: the one our proxy saw.
        for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
            if not self._trusted(hop):
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    return address
        return address

    def is_https(self, scope: dict) -> bool:
        if scope.get("scheme") == "https":
            return True
        peer = scope.get("client")
        if peer and self._trusted(peer[0]):
            for name, value in scope.get("headers", []):
                if name == b"x-forwarded-proto":
                    return value.decode("latin-1").strip().lower() == "https"
        return False

    def session(self, request: Request) -> Session | None:
        if "session" not in request.state._state:  # noqa: SLF001 - per-request memo
            cookie = request.cookies.get(self.config.cookie_name)
            request.state.session = self.store.get(cookie)
            request.state.had_cookie = cookie is not None
        return request.state.session

    def set_session_cookie(self, response: Response, value: str) -> None:
        response.set_cookie(self.config.cookie_name, value, path="/", secure=True,
                            httponly=True, samesite="lax")

    def form_token(self, request: Request) -> str:
        """The stateless CSRF token of a visitor's forms; its nonce cookie is set by
        :meth:`set_login_cookie`."""
        if "login_nonce" not in request.state._state:  # noqa: SLF001 - per-request memo
            request.state.login_nonce = self.forms.nonce(request.cookies.get(self.login_cookie))
        return self.forms.token(request.state.login_nonce)

    def set_login_cookie(self, request: Request, response: Response) -> None:
        if "login_nonce" in request.state._state:  # noqa: SLF001 - a form was rendered
            response.set_cookie(self.login_cookie, request.state.login_nonce,
                                max_age=self.config.login_form_validity, path="/",
                                secure=True, httponly=True, samesite="lax")

    def clear_session_cookie(self, response: Response) -> None:
        response.delete_cookie(self.config.cookie_name, path="/", secure=True, httponly=True,
                               samesite="lax")

    def language(self, request: Request) -> str:
        chosen = request.cookies.get(LANG_COOKIE)
        if chosen in LANGUAGES:
            return chosen
        return from_accept_language(request.headers.get("accept-language"),
                                    self.config.default_language)

    def log_name(self, username: str) -> str:
        """How a log line names ``username``: never a code (labels.py)."""
        return labels.log_name(username, self.config.session_secret.encode())

    def staff_of(self, username: str) -> console.Staff | None:
        """The staff member and role of ``username`` (captiva_staff, the roster's
        captiva_staff), never older than STAFF_CACHE_SECONDS; None: not staff. Blocks."""
        return self._staff.get(username)[0]

    async def staff(self, request: Request) -> console.Staff | None:
        """The signed-in staff member of this request (memoised), or None."""
        if "staff" not in request.state._state:  # noqa: SLF001 - per-request memo
            session = self.session(request)
            request.state.staff = None
            if session and session.authenticated:
                hit = self._staff.peek(session.username)
                request.state.staff = hit[0] if hit is not None else await run_in_threadpool(
                    self.staff_of, session.username)
        return request.state.staff

    def render(self, request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
        lang = self.language(request)
        session = self.session(request)
        csrf = session.csrf if session else context.pop("form_token", "")
        html = self.env.get_template(name).render(
            _=translator(lang), lang=lang, other_lang="en" if lang == "fr" else "fr",
            session=session, csrf=csrf,
            staff=request.state._state.get("staff"),  # noqa: SLF001 - set by staff()
            is_admin=bool(request.state._state.get("staff")),  # noqa: SLF001
            site_name=self.config.site_name,
            path=request.url.path, **context)
        return HTMLResponse(html, status_code=status)

    def local(self, moment: dt.datetime | None, tz: str, with_time: bool = True) -> str:
        if moment is None:
            return "—"
        local = moment.astimezone(zoneinfo.ZoneInfo(tz))
        return local.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")

    async def form(self, request: Request) -> dict[str, str]:
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}

    def csrf_ok(self, request: Request, form: dict[str, str]) -> bool:
        """A signed-in user's forms carry the session's token, a visitor's the stateless
        one bound to their pre-session cookie."""
        token = form.get("csrf") or request.headers.get("x-csrf-token")
        session = self.session(request)
        if session is not None:
            return csrf_valid(session, token)
        return self.forms.valid(request.cookies.get(self.login_cookie), token)

    def csrf_refused(self, request: Request) -> HTMLResponse:
        return self.render(request, "error.html", status=403, message_key="error.csrf")

    async def student_form(self, request: Request) -> tuple[Session, dict[str, str]] | Response:
        """A signed-in user's POST: its CSRF token checked first, then the session; the
        refusal's response otherwise."""
        form = await self.form(request)
        if not self.csrf_ok(request, form):
            return self.csrf_refused(request)
        session = self.require_login(request)
        if isinstance(session, Response):
            return session
        return session, form

    async def staff_form(self, request: Request, act: bool = True
                         ) -> tuple[console.Staff, dict[str, str]] | Response:
        """A console action's POST: its CSRF token checked first, then the role
        (``act``: one that may act, Staff.can_act; the database checks it again); the
        refusal's response otherwise."""
        form = await self.form(request)
        if not self.csrf_ok(request, form):
            return self.csrf_refused(request)
        staff = await self.require_staff(request, act=act)
        if isinstance(staff, Response):
            return staff
        return staff, form

    # -- dashboard data, cached a few seconds per user (figure_cache.py) ----------------------

    def _read_figures(self, key: tuple[str, int]) -> Figures:
        username, page = key

        def read(conn):
            return Figures(data.dashboard(conn, username, self.now(), page,
                                          self.config.history_page_size),
                           console.staff_member(conn, username))
        return self.with_conn(read)

    def cached_figures(self, username: str, page: int) -> Figures | None:
        """The cached figures if there are (never waits; starts a refresh when due)."""
        return self.figures.peek((username, page)) if self.figures is not None else None

    def figures_of(self, username: str, page: int) -> Figures:
        """The figures, read or waited for when not cached (a worker thread's call)."""
        if self.figures is None:
            return self._read_figures((username, page))
        return self.figures.get((username, page))

    def forget_figures(self, username: str) -> None:
        """The next page of ``username`` reads the database (after a login, a grant)."""
        if self.figures is not None:
            self.figures.discard_group(username)

    # -- handlers -----------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        session = self.session(request)
        if session and session.authenticated:
            return RedirectResponse("/admin" if await self.staff(request) else "/me", 303)
        return RedirectResponse("/login", 303)

    async def login_page(self, request: Request) -> Response:
        session = self.session(request)
        if session and session.authenticated:
            return RedirectResponse("/me", 303)
        message = "login.expired" if request.query_params.get("expired") else None
        return self.login_form(request, message)

    def visitor_page(self, request: Request, name: str, status: int = 200,
                     **context) -> Response:
        """A page with a form for visitors too (login, sign-up, forgotten password): the
        stateless CSRF token and its cookie, nothing stored for a visitor."""
        response = self.render(request, name, status=status,
                               form_token=self.form_token(request), **context)
        self.set_login_cookie(request, response)
        return response

    def login_form(self, request: Request, message: str | None, status: int = 200,
                   username: str = "", **values) -> Response:
        return self.visitor_page(request, "login.html", status, message=message,
                                 message_values=values, username=username)

    async def login(self, request: Request) -> Response:
        form = await self.form(request)
        # The form's token, whether or not a session cookie came along.
        request.state.session = None
        if not self.csrf_ok(request, form):
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
        address = self.client_ip(request.scope)
        # Counted before RADIUS is asked: parallel attempts cannot all pass the check. A
        # paced address (many failures) waits here for a slot (LoginLimiter).
        attempt = await self.limiter.acquire(username, address)
        if isinstance(attempt, Throttled):
            log.warning("login throttled for %s from %s", self.log_name(username), address)
            response = self.login_form(request, "login.throttled", 429, username,
                                       minutes=max(1, (attempt.retry_after + 59) // 60))
            response.headers["Retry-After"] = str(attempt.retry_after)
            return response
        try:
            # The browser's address as Calling-Station-Id: FreeRADIUS counts failed code
            # logins per NAS and station (docs/freeradius.md, "Guessing codes").
            result = await run_in_threadpool(self.authenticate, self.config.radius, username,
                                             password, address)
        except radius_auth.RadiusUnavailable as exc:
            self.limiter.cancel(attempt)  # no answer: the attempt taught nothing
            log.error("RADIUS unavailable: %s", exc)
            return self.login_form(request, "login.unavailable", 503, username)
        if not result.accepted:
            log.info("login refused for %s from %s", self.log_name(username), address)
            return self.login_form(request, failed, 401, "" if code else username)
        self.limiter.succeeded(attempt)
        old = self.store.get(request.cookies.get(self.config.cookie_name))
        cookie, _ = self.store.rotate(old, username)
        log.info("login of %s from %s", self.log_name(username), address)
        # the first page after a login reads fresh figures and role
        self.forget_figures(username)
        self._staff.discard_group(username)
        staff = await run_in_threadpool(self.staff_of, username)
        target = "/admin" if staff else "/voucher/me" if is_code(username) else "/me"
        response = RedirectResponse(target, 303)
        self.set_session_cookie(response, cookie)
        return response

    async def logout(self, request: Request) -> Response:
        form = await self.form(request)
        if not self.csrf_ok(request, form):
            return self.csrf_refused(request)
        session = self.session(request)
        if session is not None:
            self.store.delete(session)
        response = RedirectResponse("/login", 303)
        self.clear_session_cookie(response)
        return response

    async def set_language(self, request: Request) -> Response:
        form = await self.form(request)
        if not self.csrf_ok(request, form):
            return self.csrf_refused(request)
        lang = form.get("lang", "")
        target = form.get("next", "/")
        if not target.startswith("/") or target.startswith("//") or "\\" in target:
            target = "/"
        response = RedirectResponse(target, 303)
        if lang in LANGUAGES:
            response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path="/", secure=True,
                                httponly=True, samesite="lax")
        return response

    def require_login(self, request: Request, api: bool = False) -> Session | Response:
        session = self.session(request)
        if session and session.authenticated:
            return session
        if api:
            return JSONResponse({"error": "not authenticated"}, 401)
        expired = "?expired=1" if request.state.had_cookie else ""
        response = RedirectResponse("/login" + expired, 303)
        if request.state.had_cookie and session is None:
            self.clear_session_cookie(response)
        return response

    async def require_staff(self, request: Request, api: bool = False,
                            act: bool = False) -> console.Staff | Response:
        """The signed-in staff member; ``act``: one whose role may act (admin), others read."""
        session = self.require_login(request, api)
        if isinstance(session, Response):
            return session
        staff = await self.staff(request)
        if staff is None or (act and not staff.can_act):
            if api:
                return JSONResponse({"error": "forbidden"}, 403)
            return self.render(request, "error.html", status=403,
                               message_key="error.forbidden" if staff is None
                               else "error.read_only")
        return staff

    @staticmethod
    def page_number(request: Request) -> int:
        try:
            return max(1, min(int(request.query_params.get("page", "1")), 10_000))
        except ValueError:
            return 1

    async def me(self, request: Request) -> Response:
        session = self.require_login(request)
        if isinstance(session, Response):
            return session
        if is_code(session.username):  # a voucher holder: vouchers/views.py
            return RedirectResponse("/voucher/me", 303)
        page = self.page_number(request)
        lang = self.language(request)
        key = (session.key, page, lang)
        figures = self.cached_figures(session.username, page)
        if figures is not None:
            hit = self._pages.get(key)
            if hit and hit[0] is figures:  # rendered from the figures the cache holds
                return HTMLResponse(hit[1])
        else:
            try:
                figures = await run_in_threadpool(self.figures_of, session.username, page)
            except psycopg.OperationalError as exc:
                log.error("/me of %s: database unavailable (%s)", self.log_name(session.username),
                          type(exc).__name__)
                return self.render(request, "error.html", status=503,
                                   message_key="error.unavailable")
        request.state.staff = figures.staff  # the menu, as of the figures
        board = figures.board
        bars, peak = chart_bars(board.chart)
        tz = board.calendar.timezone
        response = self.render(request, "me.html", board=board, bars=bars, peak=peak, tz=tz,
                               days_left=data.days_left(board.user, board.now),
                               local=lambda m, t=True: self.local(m, tz, t))
        if self.figures is not None:
            if self._pages.pop(key, None) is None:
                while len(self._pages) >= PAGE_CACHE_ENTRIES:
                    del self._pages[next(iter(self._pages))]
            self._pages[key] = (figures, response.body)
        return response

    async def api_me(self, request: Request) -> Response:
        session = self.require_login(request, api=True)
        if isinstance(session, Response):
            return session
        page = self.page_number(request)
        try:
            figures = self.cached_figures(session.username, page) or await run_in_threadpool(
                self.figures_of, session.username, page)
        except psycopg.OperationalError as exc:
            log.error("/api/me of %s: database unavailable (%s)", self.log_name(session.username),
                      type(exc).__name__)
            return JSONResponse({"error": "database unavailable"}, 503)
        return JSONResponse(figures.board.as_dict())

    async def admin(self, request: Request) -> Response:
        session = await self.require_staff(request)
        if isinstance(session, Response):
            return session
        now = self.now()
        views, tz = await run_in_threadpool(self.with_conn, data.admin_overview, now)
        return self.render(request, "admin.html", views=views, tz=tz, now=now,
                           local=lambda m, t=True: self.local(m, tz, t))

    async def api_admin(self, request: Request) -> Response:
        session = await self.require_staff(request, api=True)
        if isinstance(session, Response):
            return session
        view = request.path_params["view"]
        if view not in data.ADMIN_VIEWS:
            return JSONResponse({"error": "unknown view", "views": list(data.ADMIN_VIEWS)}, 404)
        rows = await run_in_threadpool(self.with_conn, data.admin_view, view, self.now())
        return JSONResponse({"view": view, "rows": data.jsonable_rows(rows)})

    async def admin_csv(self, request: Request) -> Response:
        session = await self.require_staff(request)
        if isinstance(session, Response):
            return session
        view = request.path_params["view"]
        if view not in data.ADMIN_VIEWS:
            return PlainTextResponse("unknown view", 404)
        rows = data.jsonable_rows(
            await run_in_threadpool(self.with_conn, data.admin_view, view, self.now()))
        return self.csv_response(rows, view)

    # -- the helpdesk's console (console.py) ---------------------------------------------------

    async def console_users(self, request: Request) -> Response:
        staff = await self.require_staff(request)
        if isinstance(staff, Response):
            return staff
        query = console.Query.from_params(request.query_params)

        def read(conn):
            rows, more = console.search(conn, query)
            return rows, more, console.filter_choices(conn), default_calendar(conn).timezone
        rows, more, choices, tz = await run_in_threadpool(self.with_conn, read)
        return self.render(request, "console_users.html", rows=rows, more=more, query=query,
                           choices=choices, tz=tz, statuses=console.LIST_STATUSES
                           + console.ACCOUNT_STATUSES,
                           local=lambda m, t=True: self.local(m, tz, t))

    async def api_console_users(self, request: Request) -> Response:
        staff = await self.require_staff(request, api=True)
        if isinstance(staff, Response):
            return staff
        query = console.Query.from_params(request.query_params)
        rows, more = await run_in_threadpool(self.with_conn, console.search, query)
        return JSONResponse({"page": query.page, "has_more": more,
                             "rows": data.jsonable_rows(rows)})

    async def console_users_csv(self, request: Request) -> Response:
        staff = await self.require_staff(request)
        if isinstance(staff, Response):
            return staff
        query = console.Query.from_params(request.query_params)
        rows, _ = await run_in_threadpool(self.with_conn, console.search, query,
                                          console.PAGE_SIZE, console.CSV_LIMIT)
        columns = ("username", "first_name", "last_name", "email", "promotion", "profile",
                   "status", "presence", "last_login", "last_ip", "online_ip", "expires_at")
        return self.csv_response(
            [{c: row[c] for c in columns} for row in data.jsonable_rows(rows)], "users")

    def csv_response(self, rows: list[dict[str, Any]], name: str) -> Response:
        out = io.StringIO()
        if rows:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
            writer.writeheader()
            for row in rows:
                # A cell starting with = + - @ is a formula to a spreadsheet: quote it away.
                writer.writerow({k: ("'" + v if isinstance(v, str) and v[:1] in "=+-@\t\r"
                                     else v) for k, v in row.items()})
        stamp = self.now().strftime("%Y%m%d-%H%M")
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
            "content-disposition": f'attachment; filename="captiva-{name}-{stamp}.csv"'})

    async def console_user(self, request: Request) -> Response:
        staff = await self.require_staff(request)
        if isinstance(staff, Response):
            return staff
        username = request.path_params["username"]
        now = self.now()

        def read(conn):
            page = console.user_page(conn, username, now)
            if page is not None:
                page["history"] = console.history(conn, username)
            return page
        page = await run_in_threadpool(self.with_conn, read)
        if page is None:
            return self.render(request, "error.html", status=404,
                               message_key="console.unknown_user")
        tz = page["board"].calendar.timezone
        notice = request.query_params.get("done")
        error = request.query_params.get("error")
        return self.render(
            request, "console_user.html", page=page, board=page["board"], tz=tz, now=now,
            notice=notice if notice in console.NOTICES else None,
            error=error if error in console.REFUSALS else None,
            roster_source=self.config.roster_source,
            local=lambda m, t=True: self.local(m, tz, t))

    async def console_action(self, request: Request) -> Response:
        """POST grant / disconnect: CSRF first, then the role (admin), then the rules."""
        found = await self.staff_form(request)
        if isinstance(found, Response):
            return found
        staff, form = found
        username = request.path_params["username"]
        action = request.path_params["action"]
        if action not in ("grant", "disconnect"):
            return self.render(request, "error.html", status=404, message_key="error.not_found")
        now = self.now()
        target = "/admin/users/" + quote(username, safe="")
        try:
            if action == "grant":
                tz = await run_in_threadpool(
                    self.with_conn, lambda conn: default_calendar(conn).timezone)
                extra, expires = console.parse_grant_form(form, tz)
                await run_in_threadpool(
                    self.with_conn, lambda conn: console.grant(
                        conn, staff, username, period=form.get("period", ""),
                        kind=form.get("kind", ""), reason=form.get("reason", ""), now=now,
                        extra_bytes=extra, expires_at=expires))
                done = "console.granted"
            else:
                try:
                    radacctid = int(form.get("radacctid", ""))
                except ValueError:
                    raise console.ActionRefused("console.session_closed") from None
                await run_in_threadpool(
                    self.with_conn, lambda conn: console.request_disconnect(
                        conn, staff, username, radacctid, form.get("reason", "")))
                done = "console.disconnect_requested"
        except console.ActionRefused as refused:
            log.info("console %s on %s by %s refused: %s", action, self.log_name(username),
                     self.log_name(staff.username), refused.key)
            return RedirectResponse(f"{target}?error={refused.key}", 303)
        log.info("console %s on %s by %s", action, self.log_name(username),
                 self.log_name(staff.username))
        self.forget_figures(username)
        return RedirectResponse(f"{target}?done={done}", 303)

    async def healthz(self, request: Request) -> Response:
        def check(conn):
            return conn.execute("SELECT 1").fetchone()[0] == 1
        try:
            ok = await run_in_threadpool(self.with_conn, check)
        except Exception as exc:  # any failure (pool timeout, DB down) is a 503
            log.error("health check failed: %s", type(exc).__name__)
            ok = False
        return JSONResponse({"status": "ok" if ok else "database unavailable",
                             "version": __version__}, 200 if ok else 503)

    async def not_found(self, request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "not found"}, 404)
        return self.render(request, "error.html", status=404, message_key="error.not_found")

    async def method_not_allowed(self, request: Request, exc: Exception) -> Response:
        return PlainTextResponse("method not allowed", 405)


def create_app(config: Config, **kwargs: Any) -> Starlette:
    portal = Portal(config, **kwargs)

    @asynccontextmanager
    async def lifespan(app):
        await run_in_threadpool(portal.open_pool)
        try:
            yield
        finally:
            await run_in_threadpool(portal.close_pool)

    voucher = VoucherViews(portal)  # docs/vouchers.md, "Portal"
    workstations = WorkstationViews(portal)  # docs/workstations.md: console and kiosk
    passwords = PasswordViews(portal)  # docs/portal.md, "For students"
    devices = DeviceViews(portal)  # docs/portal.md, "For students"
    signup = SignupViews(portal)  # docs/portal.md, "Sign-up"
    routes = [
        Route("/", portal.index, methods=["GET"]),
        Route("/login", portal.login_page, methods=["GET"]),
        Route("/login", portal.login, methods=["POST"]),
        Route("/logout", portal.logout, methods=["POST"]),
        Route("/lang", portal.set_language, methods=["POST"]),
        Route("/me", portal.me, methods=["GET"]),
        Route("/admin", portal.admin, methods=["GET"]),
        Route("/admin/export/{view}.csv", portal.admin_csv, methods=["GET"]),
        Route("/api/me", portal.api_me, methods=["GET"]),
        Route("/admin/users", portal.console_users, methods=["GET"]),
        Route("/admin/users.csv", portal.console_users_csv, methods=["GET"]),
        Route("/admin/users/{username}", portal.console_user, methods=["GET"]),
        Route("/admin/users/{username}/{action:str}", portal.console_action, methods=["POST"]),
        Route("/api/admin/users", portal.api_console_users, methods=["GET"]),
        *voucher.routes(),
        *workstations.routes(),
        *passwords.routes(),
        *devices.routes(),
        *signup.routes(),
        Route("/api/admin/{view}", portal.api_admin, methods=["GET"]),
        Route("/healthz", portal.healthz, methods=["GET"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={404: portal.not_found, 405: portal.method_not_allowed})
    app.state.portal = portal
    app.add_middleware(SecurityHeaders, hsts=portal.is_https, hsts_max_age=config.hsts_max_age)
    return app
