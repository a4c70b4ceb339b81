"""The portal's voucher pages (docs/vouchers.md, "Portal"):

- ``GET /voucher/me``: what a voucher holder has left;
- ``GET /admin/vouchers`` (and ``.csv``, ``/api/admin/vouchers``): the staff's view of every
  batch; ``POST /admin/vouchers/revoke``: an admin's urgent revocation.

The data is in data.py, the strings in text.py; login with a code goes through the portal's
own /login (the code form), checked by RADIUS like a student's."""

from __future__ import annotations

import logging
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from captiva.portal.rooms import Room, route, signed_in, staff_only, with_staff_form
from captiva.portal.rows import jsonable_rows
from captiva.portal.security import Session
from captiva.portal.staff import Staff
from captiva.vouchers import is_code

from . import data

log = logging.getLogger("captiva.portal")
REFUSALS = ("voucher.failed", "vouchers.reason_required")


class VoucherViews(Room):
    """Bound to the Portal: its sessions, rendering and database pool."""

    @route("GET", "/voucher/me")
    @signed_in()
    async def me(self, request: Request, session: Session) -> Response:
        portal = self.portal
        found = None
        if is_code(session.username):
            found = await run_in_threadpool(portal.with_conn, data.status, session.username,
                                            portal.now())
        return portal.render(request, "voucher_me.html", voucher=found,
                             local=lambda m, t=True: portal.local(m, found.timezone, t))

    @route("GET", "/admin/vouchers")
    @staff_only()
    async def admin(self, request: Request, staff: Staff) -> Response:
        portal = self.portal
        now = portal.now()
        view = await run_in_threadpool(portal.with_conn, data.batches, now)
        tz = view["timezone"]
        error = request.query_params.get("error")
        done = request.query_params.get("revoked", "")
        batch, _, index = done.rpartition("#")
        return portal.render(request, "admin_vouchers.html", batches=view["batches"],
                             states=data.STATES, tz=tz, now=now,
                             local=lambda m, t=True: portal.local(m, tz, t),
                             error=error if error in REFUSALS else None,
                             revoked={"batch": batch, "index": index} if batch else None,
                             again=request.query_params.get("again") == "1")

    @route("POST", "/admin/vouchers/revoke")
    @with_staff_form(act=False)
    async def revoke(self, request: Request, staff: Staff,
                     form: dict[str, str]) -> Response:
        """POST an urgent revocation: CSRF first, then the role (the policy's
        voucher-revoke), then the code; the database asks the policy again."""
        portal = self.portal
        if not staff.can_revoke:
            return portal.render(request, "error.html", status=403,
                                 message_key="error.read_only")
        try:
            done = await run_in_threadpool(
                portal.with_conn, data.revoke, staff, form.get("code", ""),
                form.get("reason", ""), portal.now())
        except data.RevokeRefused as refused:
            return RedirectResponse(f"/admin/vouchers?error={refused.key}", 303)
        log.info("voucher %s#%s revoked by %s", done["batch"], done["index"],
                 portal.log_name(staff.username))
        target = quote(f"{done['batch']}#{done['index']}", safe="")
        again = "" if done["revoked"] else "&again=1"
        return RedirectResponse(f"/admin/vouchers?revoked={target}{again}", 303)

    @route("GET", "/api/admin/vouchers")
    @staff_only(api=True)
    async def api_admin(self, request: Request, staff: Staff) -> Response:
        portal = self.portal
        view = await run_in_threadpool(portal.with_conn, data.batches, portal.now())
        batches = []
        for batch in view["batches"]:
            (row,) = jsonable_rows([{k: v for k, v in batch.items()
                                          if k not in ("counts", "recent")}])
            batches.append({**row, "counts": batch["counts"],
                            "recent": jsonable_rows(batch["recent"])})
        return JSONResponse({"batches": batches, "timezone": view["timezone"]})

    @route("GET", "/admin/vouchers.csv")
    @staff_only()
    async def admin_csv(self, request: Request, staff: Staff) -> Response:
        portal = self.portal
        rows = await run_in_threadpool(portal.with_conn, data.codes, portal.now())
        return portal.csv_response(jsonable_rows(rows), "vouchers")
