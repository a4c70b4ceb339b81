"""The console's account requests (docs/portal.md, "For helpdesk staff: devices and account
requests"):

- ``GET /admin/registrations``: the sign-up requests (student/signup_views.py takes them),
  for every staff role;
- ``POST /admin/registrations/{request_id}/{approve|reject}``: the roles the policy lets
  review (``Staff.can_review``; the database asks the policy again) decide, and the student
  is mailed the decision with the status link.

Approval writes nothing into RADIUS: ``make import-registrations`` turns approved requests
into roster entries. The requests' data and mails are the sign-up's
(student/signup_data.py, functions/92_registrations.sql), the page's strings in text.py.
"""

from __future__ import annotations

import logging

import psycopg
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from captiva.portal.rooms import Room, route, staff_only, with_staff_form
from captiva.portal.staff import Staff
from captiva.portal.student import signup_data
from captiva.quota.usage import default_calendar

from .text import REVIEW_NOTICES, REVIEW_REFUSALS

log = logging.getLogger("captiva.portal")


class RegistrationViews(Room):
    """Bound to the Portal: its staff roles, rendering and database pool."""

    @route("GET", "/admin/registrations")
    @staff_only()
    async def review(self, request: Request, staff: Staff) -> Response:
        portal = self.portal

        def read(conn):
            return signup_data.listing(conn), default_calendar(conn).timezone
        rows, tz = await run_in_threadpool(portal.with_conn, read)
        notice = request.query_params.get("done")
        error = request.query_params.get("error")
        return portal.render(request, "console_registrations.html", rows=rows,
                             can_decide=staff.can_review,
                             local=lambda m, t=True: portal.local(m, tz, t),
                             notice=notice if notice in REVIEW_NOTICES else None,
                             error=error if error in REVIEW_REFUSALS else None)

    @route("POST", "/admin/registrations/{request_id}/{decision}")
    @with_staff_form(act=False)
    async def decide(self, request: Request, staff: Staff,
                     form: dict[str, str]) -> Response:
        """CSRF first, then the role (Staff.can_review; the database checks it again)."""
        portal = self.portal
        decision = request.path_params["decision"]
        request_id = request.path_params["request_id"]
        if decision not in ("approve", "reject") or not request_id.isdigit() \
                or len(request_id) > 18:
            return portal.not_found(request)
        if not staff.can_review:
            return RedirectResponse("/admin/registrations?error=review.read_only", 303)
        reason = form.get("reason", "").strip()
        if decision == "reject" and not reason:
            return RedirectResponse("/admin/registrations?error=review.reason_required", 303)
        try:
            done = await run_in_threadpool(portal.with_conn, signup_data.decide, staff.username,
                                           int(request_id), decision == "approve", reason)
        except psycopg.errors.InsufficientPrivilege:
            return RedirectResponse("/admin/registrations?error=review.read_only", 303)
        if done is None:
            return RedirectResponse("/admin/registrations?error=review.already_decided", 303)
        log.info("registration %s of %s by %s", decision, portal.log_name(done.matricule),
                 portal.log_name(staff.username))
        mail = signup_data.mail(
            "approved" if decision == "approve" else "rejected", done.email, done.language,
            first_name=done.first_name, matricule=done.matricule,
            site_name=portal.config.site_name, reason=done.reason or "",
            status_url=signup_data.link(portal.config, "status", int(request_id)))
        notice = "review.approved" if decision == "approve" else "review.rejected"
        response = RedirectResponse(f"/admin/registrations?done={notice}", 303)
        response.background = BackgroundTask(signup_data.send, portal.config.smtp, mail)
        return response
