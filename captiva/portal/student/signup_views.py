"""Sign-up with approval (docs/portal.md, "Sign-up" and "Reviewing account requests"):

- ``/signup``: the public form; the same page after any valid submission, whether the
  matricule is new, already an account or request, or not on the registrar's list (the
  mail sent to the address given says which): no user enumeration;
- ``/signup/verify/{token}``: the mail's link; a button confirms the address (a POST, so a
  mail scanner opening links confirms nothing), once;
- ``/signup/status/{token}``: where the request stands.

Every form carries the portal's CSRF token. The staff review the requests in the console
(console/registrations_views.py, ``/admin/registrations``).
"""

from __future__ import annotations

import logging

import psycopg
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from captiva.portal.rooms import Room, route
from captiva.portal.security import LoginLimiter, Throttled, client_bucket

from . import password_data, signup_data

log = logging.getLogger("captiva.portal")
WINDOW = 3600  # seconds: submissions are counted per hour


class SignupViews(Room):
    def __init__(self, portal):
        super().__init__(portal)
        settings = portal.config.signup
        self.registrar = (signup_data.RegistrarList(settings.registrar_csv)
                          if settings.registrar_csv else None)
        # Submissions per client (an IPv6 /64) in memory, before any database work; the
        # database counts them too (captiva_registration_submit).
        self.submissions = LoginLimiter(settings.per_client, settings.per_client, WINDOW,
                                        clock=portal.clock)
        portal.env.globals["signup_open"] = self.enabled  # the login page's link

    @property
    def enabled(self) -> bool:
        config = self.portal.config
        return config.signup.enabled and bool(config.password.public_url)

    # -- the form ----------------------------------------------------------------------------

    async def _form(self, request: Request, status: int = 200, errors=(), values=None,
                    sent: bool = False, message_values=None) -> Response:
        promotions = []
        if self.enabled:
            try:
                promotions = await run_in_threadpool(self.portal.with_conn,
                                                     signup_data.promotions)
            except psycopg.OperationalError:
                return self.portal.render(request, "error.html", status=503,
                                          message_key="signup.unavailable")
        return self.portal.visitor_page(
            request, "signup.html", status, enabled=self.enabled, promotions=promotions,
            errors=list(errors), values=values or {}, sent=sent,
            message_values=message_values or {},
            min_length=self.portal.config.password.min_length)

    @route("GET", "/signup")
    async def form_page(self, request: Request) -> Response:
        return await self._form(request, 200 if self.enabled else 404)

    @route("POST", "/signup")
    async def submit(self, request: Request) -> Response:
        portal = self.portal
        form = await portal.form(request)
        if not portal.csrf_ok(request, form):
            return await self._form(request, 403, ["error.csrf"])
        if not self.enabled:
            return await self._form(request, 404)
        form["language"] = portal.language(request)
        promotions = await run_in_threadpool(portal.with_conn, signup_data.promotions)
        wanted, errors = signup_data.problems(form, promotions)
        password = form.get("password", "")
        if password != form.get("confirm", ""):
            errors.append("password.mismatch")
        else:
            errors += [key for key, _ in password_data.problems(
                password, wanted.matricule, portal.config.password.min_length,
                (wanted.first_name, wanted.last_name, wanted.email))][:1]
        values = {k: v for k, v in form.items() if k not in ("password", "confirm", "csrf")}
        if errors:
            return await self._form(request, 400, errors, values,
                                    message_values={"min_length":
                                                    portal.config.password.min_length})
        address = portal.client_ip(request.scope)
        # one key per client, whatever the matricule (the limiter's per-username count)
        attempt = self.submissions.reserve("sign-up", address)
        if isinstance(attempt, Throttled):
            response = await self._form(
                request, 429, ["signup.throttled"], values,
                message_values={"minutes": max(1, (attempt.retry_after + 59) // 60)})
            response.headers["Retry-After"] = str(attempt.retry_after)
            return response
        response = await self._form(request, sent=True)
        response.background = BackgroundTask(self.record, wanted, password,
                                             client_bucket(address))
        return response

    def record(self, wanted: signup_data.Request, password: str, client: str) -> None:
        """After the response (a worker thread): the registrar's list, the database, the
        mail; the page said the same whatever happens here."""
        portal = self.portal
        name = portal.log_name(wanted.matricule)
        values = {"first_name": wanted.first_name, "matricule": wanted.matricule,
                  "site_name": portal.config.site_name}
        try:
            if self.registrar is not None and wanted.matricule not in self.registrar:
                log.info("sign-up for %s: not on the registrar's list", name)
                signup_data.send(portal.config.smtp, signup_data.mail(
                    "not-listed", wanted.email, wanted.language, **values))
                return
            value = password_data.stored_form(password, password_data.CRYPT)
            request_id, outcome = portal.with_conn(
                signup_data.submit, wanted, value, client, portal.config.signup.per_client)
        except (OSError, psycopg.Error, ValueError) as exc:
            log.error("sign-up for %s failed: %s", name, type(exc).__name__)
            return
        log.info("sign-up for %s: %s", name, outcome)
        if outcome == "created":
            values.update(verify_url=signup_data.link(portal.config, "verify", request_id),
                          status_url=signup_data.link(portal.config, "status", request_id))
        if outcome in ("created", "exists"):
            signup_data.send(portal.config.smtp, signup_data.mail(
                "verify" if outcome == "created" else "exists", wanted.email,
                wanted.language, **values))

    # -- the links ---------------------------------------------------------------------------

    def _status_page(self, request: Request, status: int = 200, **context) -> Response:
        """signup_status.html: the confirmation button, where a request stands, or (neither)
        an invalid link."""
        return self.portal.visitor_page(request, "signup_status.html", status,
                                        **{"state": None, "confirm": False, **context})

    def _request_id(self, request: Request, purpose: str) -> int | None:
        return signup_data.request_of(self.portal.config.session_secret, purpose,
                                      request.path_params["token"][:64])

    @route("GET", "/signup/verify/{token}")
    async def verify_page(self, request: Request) -> Response:
        request_id = self._request_id(request, "verify")
        if request_id is None:
            return self._status_page(request, 404)
        return self._status_page(request, confirm=True, token=request.path_params["token"])

    @route("POST", "/signup/verify/{token}")
    async def verify(self, request: Request) -> Response:
        portal = self.portal
        form = await portal.form(request)
        request_id = self._request_id(request, "verify")
        if not portal.csrf_ok(request, form) or request_id is None:
            return self._status_page(request, 403)
        await run_in_threadpool(portal.with_conn, signup_data.verify, request_id)
        status_token = signup_data.token(portal.config.session_secret, "status", request_id)
        return RedirectResponse(f"/signup/status/{status_token}?verified=1", 303)

    @route("GET", "/signup/status/{token}")
    async def status(self, request: Request) -> Response:
        request_id = self._request_id(request, "status")
        found = request_id and await run_in_threadpool(self.portal.with_conn,
                                                       signup_data.state, request_id)
        if not found:
            return self._status_page(request, 404)
        return self._status_page(request, state=found,
                                 verified=request.query_params.get("verified") == "1")
