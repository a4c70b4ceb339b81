"""The portal's shell: what every room's views are bound to (docs/architecture.md, "Python
code"). One :class:`Portal` per process holds the database pool, the sessions, the CSRF
tokens, the login limits, the staff roles and the students' figures (each cached a few
seconds, figure_cache.py), the templates and the two languages; the rooms (student/,
console/, vouchers/, workstations/, login.py) hold the pages.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import csv
import datetime as dt
import io
import ipaddress
import logging
import time
import zoneinfo
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import psycopg
from jinja2 import Environment, FileSystemLoader, select_autoescape
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from captiva.portal import labels, radius_auth
from captiva.portal.config import LANGUAGES, Config
from captiva.portal.figure_cache import FigureCache
from captiva.portal.formats import fmt_bytes, fmt_duration, fmt_rate
from captiva.portal.i18n import from_accept_language, translator
from captiva.portal.security import LoginForms, LoginLimiter, Session, SessionStore, csrf_valid
from captiva.portal.staff import STAFF_CACHE_SECONDS, Staff, staff_member
from captiva.portal.student import data as student_data
from captiva.portal.student.data import Figures

log = logging.getLogger("captiva.portal")
HERE = Path(__file__).resolve().parent
LANG_COOKIE = "captiva_lang"
# Background refreshes in flight at most, per cache (each holds a pool connection): up to
# this many, and no more than half the pool.
FIGURE_REFRESHES = 4


class Portal:
    """The application's state and the plumbing every page uses."""

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
        # Logins checked at once (login.py): a burst of them queues here, not in the threads
        # that share the interpreter with the pages being served.
        self.login_slots = asyncio.Semaphore(config.login_concurrency)
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
        self._staff: FigureCache[str, tuple[Staff | None]] = FigureCache(
            STAFF_CACHE_SECONDS,
            lambda username: (self.with_conn(staff_member, username),),
            self._refresher.submit, max_refreshes=refreshes, clock=clock,
            describe=self.log_name)
        self.clock = clock  # the rooms' own limiters count time with it
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"),
                               autoescape=select_autoescape(["html"]),
                               trim_blocks=True, lstrip_blocks=True)
        self.env.filters.update(bytes=fmt_bytes, rate=fmt_rate, duration=fmt_duration)

    # -- the database -------------------------------------------------------------------------

    def open_pool(self) -> None:
        """The pool, with its ``pool_min_size`` connections open and warmed before the first
        request (the pool opens them in the background): waited for up to ``pool_timeout``
        seconds; past that (the database down at start) the portal answers with what it has
        and the pool goes on opening them."""
        self.pool = ConnectionPool(
            self.config.dsn, min_size=self.config.pool_min_size,
            max_size=self.config.pool_max_size, open=True, name="captiva-portal",
            kwargs={"autocommit": True, "application_name": "captiva-portal"},
            timeout=self.config.pool_timeout, configure=self._warm_connection,
        )
        deadline = time.monotonic() + self.config.pool_timeout
        # not ConnectionPool.wait(): it closes the pool when the time is up
        while (ready := self.pool.get_stats()["pool_available"]) < self.config.pool_min_size:
            if time.monotonic() >= deadline:
                log.warning("%d of %d database connections open at start; the others are "
                            "opened in the background", ready, self.config.pool_min_size)
                return
            time.sleep(0.02)

    def _warm_connection(self, conn: psycopg.Connection) -> None:
        """A new connection reads a student page's figures once (nobody's) before it joins
        the pool: a new server process's first reads load its caches and plans (70 to 120 ms
        each on the loaded reference machine, 12 ms later), here rather than on a page."""
        try:
            student_data.figures(conn, "", self.now(), 1, self.config.history_page_size)
        except psycopg.Error as exc:  # the connection serves as it is
            log.warning("warming a database connection failed (%s)", type(exc).__name__)

    def warm_up(self) -> None:
        """Before the first request: every template compiled (the student page's took 0.1 to
        0.2 s, on the event loop, in front of every request in flight)."""
        for name in self.env.list_templates(extensions=["html"]):
            self.env.get_template(name)

    def close_pool(self) -> None:
        self._refresher.shutdown(wait=True)  # the refreshes in flight end first
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def with_conn(self, fn, *args):
        assert self.pool is not None  # noqa: S101 - opened by the lifespan
        with self.pool.connection() as conn:
            return fn(conn, *args)

    # -- the client ---------------------------------------------------------------------------

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

    def language(self, request: Request) -> str:
        chosen = request.cookies.get(LANG_COOKIE)
        if chosen in LANGUAGES:
            return chosen
        return from_accept_language(request.headers.get("accept-language"),
                                    self.config.default_language)

    def log_name(self, username: str) -> str:
        """How a log line names ``username``: never a code (labels.py)."""
        return labels.log_name(username, self.config.session_secret.encode())

    # -- sessions, forms and CSRF --------------------------------------------------------------

    def session(self, request: Request) -> Session | None:
        if "session" not in request.state._state:  # noqa: SLF001 - per-request memo
            cookie = request.cookies.get(self.config.cookie_name)
            request.state.session = self.store.get(cookie)
            request.state.had_cookie = cookie is not None
        return request.state.session

    def set_session_cookie(self, response: Response, value: str) -> None:
        response.set_cookie(self.config.cookie_name, value, path="/", secure=True,
                            httponly=True, samesite="lax")

    def clear_session_cookie(self, response: Response) -> None:
        response.delete_cookie(self.config.cookie_name, path="/", secure=True, httponly=True,
                               samesite="lax")

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

    def not_found(self, request: Request) -> HTMLResponse:
        return self.render(request, "error.html", status=404, message_key="error.not_found")

    async def checked_form(self, request: Request) -> dict[str, str] | Response:
        """A POST's form once its CSRF token is checked; the refusal's response otherwise."""
        form = await self.form(request)
        if not self.csrf_ok(request, form):
            return self.csrf_refused(request)
        return form

    async def student_form(self, request: Request) -> tuple[Session, dict[str, str]] | Response:
        """A signed-in user's POST: its CSRF token checked first, then the session; the
        refusal's response otherwise."""
        form = await self.checked_form(request)
        if isinstance(form, Response):
            return form
        session = self.require_login(request)
        if isinstance(session, Response):
            return session
        return session, form

    async def staff_form(self, request: Request, act: bool = True
                         ) -> tuple[Staff, dict[str, str]] | Response:
        """A console action's POST: its CSRF token checked first, then the role
        (``act``: one that may act, Staff.can_act; the database checks it again); the
        refusal's response otherwise."""
        form = await self.checked_form(request)
        if isinstance(form, Response):
            return form
        staff = await self.require_staff(request, act=act)
        if isinstance(staff, Response):
            return staff
        return staff, form

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

    # -- staff roles, cached a few seconds per user (figure_cache.py) ------------------------

    def staff_of(self, username: str) -> Staff | None:
        """The staff member and role of ``username`` (captiva_staff, the roster's
        captiva_staff), never older than STAFF_CACHE_SECONDS; None: not staff. Blocks."""
        return self._staff.get(username)[0]

    @contextlib.asynccontextmanager
    async def login_slot(self) -> AsyncIterator[bool]:
        """One of the login.concurrency slots for a login's checks: True once taken, False
        when none freed up within the RADIUS check's own time (timeout x attempts)."""
        wait = self.config.radius.timeout * max(1, self.config.radius.retries)
        try:
            await asyncio.wait_for(self.login_slots.acquire(), wait)
        except TimeoutError:
            yield False
            return
        try:
            yield True
        finally:
            self.login_slots.release()

    async def staff(self, request: Request) -> Staff | None:
        """The signed-in staff member of this request (memoised), or None."""
        if "staff" not in request.state._state:  # noqa: SLF001 - per-request memo
            session = self.session(request)
            request.state.staff = None
            if session and session.authenticated:
                hit = self._staff.peek(session.username)
                request.state.staff = hit[0] if hit is not None else await run_in_threadpool(
                    self.staff_of, session.username)
        return request.state.staff

    def forget_staff(self, username: str) -> None:
        """The next page of ``username`` reads their staff role again (after a login)."""
        self._staff.discard_group(username)

    async def require_staff(self, request: Request, api: bool = False,
                            act: bool = False) -> Staff | Response:
        """The signed-in staff member whose role the policy lets read the console (``view``,
        captiva/authz.py); ``act``: one whose role may act on an account (Staff.can_act)."""
        session = self.require_login(request, api)
        if isinstance(session, Response):
            return session
        staff = await self.staff(request)
        if staff is not None and not staff.may("view"):
            staff = None
        if staff is None or (act and not staff.can_act):
            if api:
                return JSONResponse({"error": "forbidden"}, 403)
            return self.render(request, "error.html", status=403,
                               message_key="error.forbidden" if staff is None
                               else "error.read_only")
        return staff

    # -- a student's figures, cached a few seconds per user (figure_cache.py) ---------------

    def _read_figures(self, key: tuple[str, int]) -> Figures:
        username, page = key
        return self.with_conn(student_data.figures, username, self.now(), page,
                              self.config.history_page_size)

    def cached_figures(self, username: str, page: int) -> Figures | None:
        """The cached figures if there are (never waits; starts a refresh when due)."""
        return self.figures.peek((username, page)) if self.figures is not None else None

    def figures_of(self, username: str, page: int) -> Figures:
        """The figures, read or waited for when not cached (a worker thread's call)."""
        if self.figures is None:
            return self._read_figures((username, page))
        return self.figures.get((username, page))

    def figures_at_login(self, username: str) -> Staff | None:
        """At a login: the first page's figures read into the cache, with the staff role, so
        that the page the login redirects to is served from them (one read, as the page
        would have made on its request); the role. Blocks."""
        if self.figures is None:
            return self.staff_of(username)
        return self.figures.get((username, 1)).staff

    def forget_figures(self, username: str) -> None:
        """The next page of ``username`` reads the database (after a login, a grant)."""
        if self.figures is not None:
            self.figures.discard_group(username)

    # -- responses ----------------------------------------------------------------------------

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

    def visitor_page(self, request: Request, name: str, status: int = 200,
                     **context) -> Response:
        """A page with a form for visitors too (login, sign-up, forgotten password): the
        stateless CSRF token and its cookie, nothing stored for a visitor."""
        response = self.render(request, name, status=status,
                               form_token=self.form_token(request), **context)
        self.set_login_cookie(request, response)
        return response

    def local(self, moment: dt.datetime | None, tz: str, with_time: bool = True) -> str:
        if moment is None:
            return "—"
        local = moment.astimezone(zoneinfo.ZoneInfo(tz))
        return local.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")

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
