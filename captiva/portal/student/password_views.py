"""The students' password pages (docs/portal.md, "For students"):

- ``/password``: change it, giving the current one (checked by RADIUS, like a login);
- ``/password/forgot``: ask for a reset link, sent to the roster's e-mail address;
- ``/password/reset/{token}``: the link's page, to choose a new one.

Every form carries the portal's CSRF token (the session's, or a visitor's stateless one).
The database decides and audits (password_data.py); these handlers check the form and the
policy.
"""

from __future__ import annotations

import logging

import psycopg
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from captiva.portal import radius_auth
from captiva.portal.rooms import Room, route, signed_in, with_student_form
from captiva.portal.security import LoginLimiter, Session, Throttled, client_bucket
from captiva.runtime.mail import Mailer

from . import password_data

log = logging.getLogger("captiva.portal")
RESET_WINDOW = 3600  # seconds: forgotten-password requests are counted per hour
RESET_KEY = "forgotten-password"  # what the limiter counts them under, at each client


class PasswordViews(Room):
    """Bound to the Portal: its sessions, rendering, RADIUS check and database pool."""

    def __init__(self, portal):
        super().__init__(portal)
        settings = portal.config.password
        # Forgotten-password requests per client (an IPv6 /64), in memory, whatever the
        # account (one key, RESET_KEY, per client): past the limit the client is told to wait.
        # The database counts the links each account was sent, and past its limit answers as
        # for an unknown account (no mail, the same page).
        limit = settings.reset_per_address
        self.resets = LoginLimiter(limit, limit, RESET_WINDOW,
                                   clock=portal.clock)

    # -- change ------------------------------------------------------------------------------

    @route("GET", "/password")
    @signed_in()
    async def change_page(self, request: Request, session: Session) -> Response:
        done = request.query_params.get("done")
        try:
            ended = max(0, int(request.query_params.get("ended", "0")))
        except ValueError:
            ended = 0
        return await self._change_form(request, session.username,
                                       message=None, done=done == "1", ended=ended)

    async def _change_form(self, request: Request, username: str, *, message=None,
                           message_values=None, status: int = 200, done: bool = False,
                           ended: int = 0, storage: str | None = None) -> Response:
        portal = self.portal
        if storage is None:
            try:
                storage = await run_in_threadpool(portal.with_conn, password_data.storage_of,
                                                  username)
            except psycopg.OperationalError:
                return portal.render(request, "error.html", status=503,
                                     message_key="password.unavailable")
        if storage is None:
            return portal.render(request, "student_password.html", status=403,
                                 available=False, storage=None, message=None,
                                 min_length=portal.config.password.min_length)
        return portal.render(request, "student_password.html", status=status, available=True,
                             storage=storage, message=message,
                             message_values=message_values or {}, done=done, ended=ended,
                             min_length=portal.config.password.min_length)

    @route("POST", "/password")
    @with_student_form
    async def change(self, request: Request, session: Session,
                     form: dict[str, str]) -> Response:
        portal = self.portal
        username = session.username
        current, new = form.get("current", ""), form.get("new", "")
        storage = await run_in_threadpool(portal.with_conn, password_data.storage_of, username)
        if storage is None:
            return await self._change_form(request, username)
        refusal = await run_in_threadpool(self.refusal, new, form.get("confirm", ""), username)
        if refusal is None and new == current:
            refusal = ("password.same", {})
        if refusal is None and not current:
            refusal = ("password.wrong_current", {})
        if refusal is not None:
            return await self._change_form(request, username, message=refusal[0],
                                           message_values=refusal[1], status=400,
                                           storage=storage)
        # The current password, checked as a login is (and counted by the same limiter).
        address = portal.client_ip(request.scope)
        attempt = await portal.limiter.acquire(username, address)
        if isinstance(attempt, Throttled):
            return await self._change_form(
                request, username, message="password.throttled", status=429, storage=storage,
                message_values={"minutes": max(1, (attempt.retry_after + 59) // 60)})
        try:
            result = await run_in_threadpool(portal.authenticate, portal.config.radius,
                                             username, current[:128], address)
        except radius_auth.RadiusUnavailable as exc:
            portal.limiter.cancel(attempt)
            log.error("RADIUS unavailable: %s", exc)
            return await self._change_form(request, username, message="password.unavailable",
                                           status=503, storage=storage)
        if not result.accepted:
            log.info("password change of %s: current password refused",
                     portal.log_name(username))
            return await self._change_form(request, username, message="password.wrong_current",
                                           status=401, storage=storage)
        portal.limiter.succeeded(attempt)
        end_others = form.get("end_sessions") == "1"
        value = await run_in_threadpool(password_data.stored_form, new, storage)
        ended = await run_in_threadpool(portal.with_conn, password_data.set_password, username,
                                        storage, value, end_others, client_bucket(address))
        if end_others:
            portal.store.end_others(username, keep=session)
        log.info("password changed by %s (other sessions ended: %s)", portal.log_name(username),
                 end_others)
        return RedirectResponse(f"/password?done=1&ended={ended if end_others else 0}", 303)

    def refusal(self, new: str, confirm: str, username: str) -> tuple[str, dict] | None:
        """The first policy problem of a new password (and its confirmation), or None."""
        if new != confirm:
            return ("password.mismatch", {})
        found = password_data.problems(new, username, self.portal.config.password.min_length)
        return found[0] if found else None

    # -- forgotten password ------------------------------------------------------------------

    def _visitor_form(self, request: Request, name: str, status: int = 200,
                      **context) -> Response:
        """A visitor's page of the forgotten password (Portal.visitor_page)."""
        settings = self.portal.config.password
        return self.portal.visitor_page(request, name, status,
                                        enabled=bool(settings.public_url),
                                        min_length=settings.min_length, **context)

    @route("GET", "/password/forgot")
    async def forgot_page(self, request: Request) -> Response:
        return self._visitor_form(request, "student_forgot.html", sent=False, message=None)

    @route("POST", "/password/forgot")
    async def forgot(self, request: Request) -> Response:
        """The same answer, at once, whether or not the account exists: the database and the
        mail server are asked after the response is sent."""
        portal = self.portal
        form = await portal.form(request)
        if not portal.csrf_ok(request, form):
            return self._visitor_form(request, "student_forgot.html", status=403, sent=False,
                                      message="error.csrf")
        if not portal.config.password.public_url:
            return self._visitor_form(request, "student_forgot.html", status=404, sent=False,
                                      message=None)
        username = form.get("username", "").strip()[:64]
        if not username:
            return self._visitor_form(request, "student_forgot.html", status=400, sent=False,
                                      message=None)
        address = portal.client_ip(request.scope)
        attempt = await self.resets.acquire(RESET_KEY, address)
        if isinstance(attempt, Throttled):
            log.warning("password reset throttled for %s from %s", portal.log_name(username),
                        address)
            response = self._visitor_form(
                request, "student_forgot.html", status=429, sent=False,
                message="password.throttled",
                message_values={"minutes": max(1, (attempt.retry_after + 59) // 60)})
            response.headers["Retry-After"] = str(attempt.retry_after)
            return response
        response = self._visitor_form(request, "student_forgot.html", sent=True, message=None)
        response.background = BackgroundTask(self.send_link, username, client_bucket(address))
        return response

    def send_link(self, username: str, client: str) -> None:
        """Record a link and mail it, if the database says one may be sent (a worker thread,
        after the response)."""
        portal = self.portal
        settings = portal.config.password
        token = password_data.new_token()
        try:
            recipient = portal.with_conn(password_data.issue_reset, username, token, client,
                                         settings.reset_per_account)
        except psycopg.Error as exc:
            log.error("password reset for %s: database error (%s)", portal.log_name(username),
                      type(exc).__name__)
            return
        if recipient is None:
            log.info("password reset for %s: no link (unknown, no address or rate-limited)",
                     portal.log_name(username))
            return
        mail = password_data.reset_mail(recipient.email, recipient.language,
                                        recipient.first_name,
                                        password_data.reset_url(settings.public_url, token),
                                        portal.config.site_name)
        try:
            with Mailer(portal.config.smtp) as mailer:
                mailer.send(mail)
        except (OSError, Exception) as exc:  # smtplib errors: logged, the student asks again
            log.error("password reset mail for %s not sent: %s",
                      portal.log_name(recipient.username), type(exc).__name__)
            return
        log.info("password reset link sent for %s", portal.log_name(recipient.username))

    # -- the link's page ---------------------------------------------------------------------

    @route("GET", "/password/reset/{token}")
    async def reset_page(self, request: Request) -> Response:
        token = request.path_params["token"][:64]
        username = await run_in_threadpool(self.portal.with_conn, password_data.reset_username,
                                           token)
        return self._visitor_form(request, "student_reset.html", status=200 if username else 410,
                                  valid=bool(username), token=token, message=None, done=False)

    @route("POST", "/password/reset/{token}")
    async def reset(self, request: Request) -> Response:
        portal = self.portal
        form = await portal.form(request)
        token = request.path_params["token"][:64]
        if not portal.csrf_ok(request, form):
            return self._visitor_form(request, "student_reset.html", status=403, valid=True,
                                      token=token, message="error.csrf", done=False)
        username = await run_in_threadpool(portal.with_conn, password_data.reset_username, token)
        storage = username and await run_in_threadpool(portal.with_conn,
                                                       password_data.storage_of, username)
        if not username or not storage:
            return self._visitor_form(request, "student_reset.html", status=410, valid=False,
                                      token=token, message=None, done=False)
        new = form.get("new", "")
        refusal = await run_in_threadpool(self.refusal, new, form.get("confirm", ""), username)
        if refusal is not None:
            return self._visitor_form(request, "student_reset.html", status=400, valid=True,
                                      token=token, message=refusal[0],
                                      message_values=refusal[1], done=False)
        value = await run_in_threadpool(password_data.stored_form, new, storage)
        address = portal.client_ip(request.scope)
        done = await run_in_threadpool(portal.with_conn, password_data.redeem_reset, token,
                                       storage, value, client_bucket(address))
        if done is None:
            return self._visitor_form(request, "student_reset.html", status=410, valid=False,
                                      token=token, message=None, done=False)
        portal.store.end_others(done, keep=None)  # whoever had the old password is out
        log.info("password reset by link for %s", portal.log_name(done))
        return self._visitor_form(request, "student_reset.html", valid=True, token="",
                                  message=None, done=True)
