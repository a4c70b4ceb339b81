"""The helpdesk's console (docs/portal.md, "What staff see" and "The helpdesk's console"):

- ``GET /admin``: the overview (who is online, recent sessions, failures, code guessing, top
  consumers, promotions), each list also as CSV (``/admin/export/{view}.csv``) and JSON
  (``/api/admin/{view}``);
- ``GET /admin/users`` (and ``.csv``, ``/api/admin/users``): search the users;
- ``GET /admin/users/{username}``: a user's page (why they cannot connect, usage, grants,
  sessions, history); ``POST /admin/users/{username}/{grant|disconnect}``: an admin's action.

Every staff role reads; only the roles that act (``Staff.can_act``) get the forms, and the
database checks again. The data is in data.py, overview_data.py and actions.py, the strings
in text.py.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from captiva.portal.rooms import Room, route, staff_only, with_staff_form
from captiva.portal.rows import jsonable_rows
from captiva.portal.staff import Staff
from captiva.quota.usage import default_calendar

from . import actions, data, overview_data
from .text import NOTICES, REFUSALS

log = logging.getLogger("captiva.portal")
# The users list's CSV columns.
CSV_COLUMNS = ("username", "first_name", "last_name", "email", "promotion", "profile",
               "status", "presence", "last_login", "last_ip", "online_ip", "expires_at")


class ConsoleViews(Room):
    """Bound to the Portal: its sessions, staff roles, rendering and database pool."""

    # -- the overview -------------------------------------------------------------------------

    @route("GET", "/admin")
    @staff_only()
    async def overview(self, request: Request, staff: Staff) -> Response:
        portal = self.portal
        now = portal.now()
        views, tz = await run_in_threadpool(portal.with_conn, overview_data.admin_overview, now)
        return portal.render(request, "admin.html", views=views, tz=tz, now=now,
                             local=lambda m, t=True: portal.local(m, tz, t))

    @route("GET", "/api/admin/{view}")
    @staff_only(api=True)
    async def api_overview(self, request: Request, staff: Staff) -> Response:
        portal = self.portal
        view = request.path_params["view"]
        if view not in overview_data.ADMIN_VIEWS:
            return JSONResponse({"error": "unknown view",
                                 "views": list(overview_data.ADMIN_VIEWS)}, 404)
        rows = await run_in_threadpool(portal.with_conn, overview_data.admin_view, view,
                                       portal.now())
        return JSONResponse({"view": view, "rows": jsonable_rows(rows)})

    @route("GET", "/admin/export/{view}.csv")
    @staff_only()
    async def overview_csv(self, request: Request, staff: Staff) -> Response:
        portal = self.portal
        view = request.path_params["view"]
        if view not in overview_data.ADMIN_VIEWS:
            return PlainTextResponse("unknown view", 404)
        rows = jsonable_rows(await run_in_threadpool(
            portal.with_conn, overview_data.admin_view, view, portal.now()))
        return portal.csv_response(rows, view)

    # -- the users ----------------------------------------------------------------------------

    @route("GET", "/admin/users")
    @staff_only()
    async def users(self, request: Request, staff: Staff) -> Response:
        portal = self.portal
        query = data.Query.from_params(request.query_params)

        def read(conn):
            rows, more = data.search(conn, query)
            return rows, more, data.filter_choices(conn), default_calendar(conn).timezone
        rows, more, choices, tz = await run_in_threadpool(portal.with_conn, read)
        return portal.render(request, "console_users.html", rows=rows, more=more, query=query,
                             choices=choices, tz=tz,
                             statuses=data.LIST_STATUSES + data.ACCOUNT_STATUSES,
                             local=lambda m, t=True: portal.local(m, tz, t))

    @route("GET", "/api/admin/users")
    @staff_only(api=True)
    async def api_users(self, request: Request, staff: Staff) -> Response:
        portal = self.portal
        query = data.Query.from_params(request.query_params)
        rows, more = await run_in_threadpool(portal.with_conn, data.search, query)
        return JSONResponse({"page": query.page, "has_more": more,
                             "rows": jsonable_rows(rows)})

    @route("GET", "/admin/users.csv")
    @staff_only()
    async def users_csv(self, request: Request, staff: Staff) -> Response:
        portal = self.portal
        query = data.Query.from_params(request.query_params)
        rows, _ = await run_in_threadpool(portal.with_conn, data.search, query,
                                          data.PAGE_SIZE, data.CSV_LIMIT)
        return portal.csv_response(
            [{c: row[c] for c in CSV_COLUMNS} for row in jsonable_rows(rows)], "users")

    @route("GET", "/admin/users/{username}")
    @staff_only()
    async def user(self, request: Request, staff: Staff) -> Response:
        portal = self.portal
        username = request.path_params["username"]
        now = portal.now()

        def read(conn):
            page = data.user_page(conn, username, now)
            if page is not None:
                page["history"] = data.history(conn, username)
            return page
        page = await run_in_threadpool(portal.with_conn, read)
        if page is None:
            return portal.render(request, "error.html", status=404,
                                 message_key="console.unknown_user")
        tz = page["board"].calendar.timezone
        notice = request.query_params.get("done")
        error = request.query_params.get("error")
        return portal.render(
            request, "console_user.html", page=page, board=page["board"], tz=tz, now=now,
            notice=notice if notice in NOTICES else None,
            error=error if error in REFUSALS else None,
            roster_source=portal.config.roster_source,
            local=lambda m, t=True: portal.local(m, tz, t))

    @route("POST", "/admin/users/{username}/{action:str}")
    @with_staff_form(actions=("grant", "disconnect"))
    async def action(self, request: Request, staff: Staff, form: dict[str, str],
                     action: str) -> Response:
        """POST grant / disconnect: CSRF first, then the role (admin), then the rules."""
        portal = self.portal
        username = request.path_params["username"]
        now = portal.now()
        target = "/admin/users/" + quote(username, safe="")
        try:
            if action == "grant":
                tz = await run_in_threadpool(
                    portal.with_conn, lambda conn: default_calendar(conn).timezone)
                extra, expires = actions.parse_grant_form(form, tz)
                await run_in_threadpool(
                    portal.with_conn, lambda conn: actions.grant(
                        conn, staff, username, period=form.get("period", ""),
                        kind=form.get("kind", ""), reason=form.get("reason", ""), now=now,
                        extra_bytes=extra, expires_at=expires))
                done = "console.granted"
            else:
                try:
                    radacctid = int(form.get("radacctid", ""))
                except ValueError:
                    raise actions.ActionRefused("console.session_closed") from None
                await run_in_threadpool(
                    portal.with_conn, lambda conn: actions.request_disconnect(
                        conn, staff, username, radacctid, form.get("reason", "")))
                done = "console.disconnect_requested"
        except actions.ActionRefused as refused:
            log.info("console %s on %s by %s refused: %s", action, portal.log_name(username),
                     portal.log_name(staff.username), refused.key)
            return RedirectResponse(f"{target}?error={refused.key}", 303)
        log.info("console %s on %s by %s", action, portal.log_name(username),
                 portal.log_name(staff.username))
        portal.forget_figures(username)
        return RedirectResponse(f"{target}?done={done}", 303)
