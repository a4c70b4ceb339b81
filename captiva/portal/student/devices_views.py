"""The students' devices (docs/portal.md, "For students"):

- ``GET /devices``: the student's devices (the dashboard's list, with names and blocks) and
  the forms; ``POST /devices/{action}``: rename, block, unblock, disconnect one;
- ``POST /admin/users/{username}/devices/{action}``: the same on the console's user page, for
  the roles that act there (admin: ``Staff.can_act``, checked again by the database).

Every form carries the session's CSRF token, checked first; the database decides, normalises
the MAC address and audits (devices_data.py).
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import psycopg
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from captiva.portal.rooms import Room, route, signed_in, with_staff_form, with_student_form
from captiva.portal.security import Session
from captiva.portal.staff import Staff
from captiva.vouchers import is_code

from . import devices_data
from .devices_text import NOTICES, REFUSALS

log = logging.getLogger("captiva.portal")


class DeviceViews(Room):
    """Bound to the Portal: its sessions, rendering, dashboard figures and database pool."""

    @route("GET", "/devices")
    @signed_in()
    async def page(self, request: Request, session: Session) -> Response:
        portal = self.portal
        if is_code(session.username):  # a voucher holder has no devices to manage
            return RedirectResponse("/voucher/me", 303)
        try:
            figures = await run_in_threadpool(portal.figures_of, session.username, 1)
        except psycopg.OperationalError:
            return portal.render(request, "error.html", status=503,
                                 message_key="devices.unavailable")
        request.state.staff = figures.staff
        board = figures.board
        tz = board.calendar.timezone
        notice = request.query_params.get("done")
        error = request.query_params.get("error")
        try:
            count = max(0, int(request.query_params.get("count", "0")))
        except ValueError:
            count = 0
        return portal.render(request, "student_devices.html", board=board, tz=tz,
                             notice=notice if notice in NOTICES else None, count=count,
                             error=error if error in REFUSALS else None,
                             local=lambda m, t=True: portal.local(m, tz, t))

    async def _act(self, actor: str, username: str, action: str,
                   form: dict[str, str]) -> tuple[str, str]:
        """(query key, message key) of the redirect after the action."""
        try:
            done = await run_in_threadpool(
                self.portal.with_conn, devices_data.act, actor, username, action,
                form.get("mac", ""), form.get("name", ""), form.get("reason", ""))
        except devices_data.DeviceRefused as refused:
            log.info("device %s on %s by %s refused: %s", action, self.portal.log_name(username),
                     self.portal.log_name(actor), refused.key)
            return "error", refused.key
        log.info("device %s %s of %s by %s", action, done.mac, self.portal.log_name(username),
                 self.portal.log_name(actor))
        self.portal.forget_figures(username)
        return "done", done.notice(action) + f"&count={done.sessions}"

    @route("POST", "/devices/{action}")
    @with_student_form
    async def act(self, request: Request, session: Session,
                  form: dict[str, str]) -> Response:
        portal = self.portal
        if is_code(session.username):
            return RedirectResponse("/voucher/me", 303)
        action = request.path_params["action"]
        if action not in devices_data.ACTIONS:
            return portal.not_found(request)
        key, message = await self._act(session.username, session.username, action, form)
        return RedirectResponse(f"/devices?{key}={message}", 303)

    @route("POST", "/admin/users/{username}/devices/{action}")
    @with_staff_form(actions=devices_data.ACTIONS)
    async def staff_act(self, request: Request, staff: Staff, form: dict[str, str],
                        action: str) -> Response:
        """CSRF first, then the role (admin), then the rules: as the console's actions."""
        username = request.path_params["username"]
        key, message = await self._act(staff.username, username, action, form)
        if message.startswith("devices.disconnected"):  # the console's own words for it
            message = "console.disconnect_requested"
        target = "/admin/users/" + quote(username, safe="")
        return RedirectResponse(f"{target}?{key}={message}#devices", 303)
