"""Public workstations in the portal (docs/workstations.md): the operators' console, one
screen per site, and the kiosk page each workstation shows.

- ``/admin/workstations[/{site}]``: the sites, a site's board, its audit, its actions
  (``POST .../act``), its live updates (``.../events``, Server-Sent Events, live.py);
- ``/kiosk``: the page a workstation shows (its session, time left, the code it logs in).

Every rule is in SQL, called through data.py; the strings are in text.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from urllib.parse import urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from captiva.portal.i18n import MESSAGES, translator
from captiva.portal.rooms import Room, guard, route, with_form
from captiva.portal.staff import Staff

from . import data, live

log = logging.getLogger("captiva.portal")

# An issued code is shown once, to the operator who issued it, on the page after the action
# (never in a URL, which nginx logs): this many are kept, the oldest dropped first.
ISSUED_KEPT = 1_000


async def site_staff(portal, request: Request, api: bool = False):
    """The staff member and the sites their role covers (the policy's, data.sites_of), when
    the request's ``{site}`` (if any) is one of them; the refusal's response otherwise
    (``api``: JSON rather than pages)."""
    staff = await portal.require_staff(request, api=api)
    if isinstance(staff, Response):
        return staff
    site = request.path_params.get("site")
    allowed = await run_in_threadpool(portal.with_conn, data.sites_of, staff)
    if site is not None and site not in allowed:
        if api:
            return JSONResponse({"error": "forbidden"}, 403)
        return portal.render(request, "error.html", status=403, message_key="error.forbidden")
    return staff, allowed


def at_sites(api: bool = False):
    """A console handler for a site's staff, called with the Staff and their sites
    (site_staff); anyone else gets its refusal."""
    return guard(lambda portal, request: site_staff(portal, request, api))


class WorkstationViews(Room):
    """Bound to the Portal: its sessions, CSRF tokens, rendering and database pool."""

    def __init__(self, portal):
        super().__init__(portal)
        self.hub = live.Hub(portal)
        # session key -> (site, code) of the operator's last issue, shown once (ISSUED_KEPT)
        self.issued: dict[str, tuple[str, str]] = {}

    @route("GET", "/admin/workstations")
    @at_sites()
    async def index(self, request: Request, staff: Staff, allowed: list[str]) -> Response:
        if len(allowed) == 1:
            return RedirectResponse(f"/admin/workstations/{allowed[0]}", 303)
        return self.portal.render(request, "ws_sites.html", sites=allowed)

    @route("GET", "/admin/workstations/{site}")
    @at_sites()
    async def site_page(self, request: Request, staff: Staff, _allowed: list[str]) -> Response:
        site = request.path_params["site"]
        rows = await run_in_threadpool(self.portal.with_conn, data.board, site, self.portal.now())
        return self.portal.render(
            request, "ws_board.html", site=site, rows=rows, can_act=staff.can_act_at(site),
            notice=self._notice(request), ok=request.query_params.get("ok") == "1",
            code=self._issued_code(request, site),
            guest=request.query_params.get("guest", "")[:12],
            today=self.portal.now().date().isoformat())

    def _issued_code(self, request: Request, site: str) -> str:
        """The code this operator just issued on ``site``, once (then forgotten)."""
        session = self.portal.session(request)
        found = self.issued.get(session.key) if session else None
        if found is None or found[0] != site:
            return ""
        del self.issued[session.key]
        return found[1]

    def _notice(self, request: Request) -> str | None:
        """The message of the last action (a known key only; numbers from the query)."""
        key = request.query_params.get("msg", "")
        messages = MESSAGES[self.portal.language(request)]
        if not (key.startswith(("ws.done.", "ws.refused.")) and key in messages):
            return None
        number = {k: request.query_params.get(k, "") for k in
                  ("limit", "max_seconds", "left_seconds")}
        number = {k: int(v) if v.isdigit() else 0 for k, v in number.items()}
        return messages[key].format(limit=number["limit"], max=number["max_seconds"] // 60,
                                    left=number["left_seconds"] // 60)

    @route("GET", "/api/admin/workstations/{site}")
    @at_sites(api=True)
    async def site_json(self, request: Request, staff: Staff, _allowed: list[str]) -> Response:
        rows = await run_in_threadpool(self.portal.with_conn, data.board,
                                       request.path_params["site"], self.portal.now())
        return JSONResponse({"rows": rows})

    @route("GET", "/admin/workstations/{site}/events")
    @at_sites(api=True)
    async def site_events(self, request: Request, staff: Staff, _allowed: list[str]) -> Response:
        site = request.path_params["site"]
        hub = self.hub

        async def stream():
            started = time.monotonic()
            feed = hub.watch(site)
            try:
                await hub.fresh(feed, started)
                sent = -1
                while not await request.is_disconnected():
                    # Taken before reading: a change made meanwhile has set this one.
                    changed = feed.changed
                    if feed.version != sent:
                        sent = feed.version
                        yield live.event({"rows": list(feed.rows.values()), "at": time.time()})
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), live.KEEPALIVE_SECONDS)
                    if feed.version == sent:
                        yield b": keepalive\n\n"
            finally:
                hub.unwatch(site)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})

    @route("GET", "/admin/workstations/{site}/audit")
    @at_sites()
    async def audit_page(self, request: Request, staff: Staff, _allowed: list[str]) -> Response:
        site = request.path_params["site"]
        text = request.query_params.get("q", "")[:100]
        rows = await run_in_threadpool(self.portal.with_conn, data.audit, site, text)
        return self.portal.render(request, "ws_audit.html", site=site, rows=rows, q=text)

    @route("POST", "/admin/workstations/{site}/act")
    @with_form
    async def action(self, request: Request, form: dict[str, str]) -> Response:
        """POST one action: CSRF first, then the role (in SQL, per site), then the rules."""
        portal = self.portal
        found = await site_staff(portal, request)
        if isinstance(found, Response):
            return found
        staff, _ = found
        site = request.path_params["site"]
        action = form.get("action", "")
        if action not in data.ACTIONS:
            reason, detail = "unknown-action", {}
        else:
            reason, detail = await run_in_threadpool(portal.with_conn, data.act, staff.username,
                                                     site, action, form, portal.now())
        wants_json = "application/json" in request.headers.get("accept", "")
        if wants_json:
            return JSONResponse({"ok": reason is None, "reason": reason, "detail": detail},
                                200 if reason is None else 409)
        query = {"msg": f"ws.{'done' if reason is None else 'refused'}.{reason or action}",
                 "ok": "1" if reason is None else "0"}
        if detail.get("code"):
            session = portal.session(request)
            self.issued.pop(session.key, None)
            while len(self.issued) >= ISSUED_KEPT:
                del self.issued[next(iter(self.issued))]
            self.issued[session.key] = (site, detail["code"])
        if action == "register-guest" and detail.get("guest"):
            query["guest"] = str(detail["guest"])
        for key in ("limit", "max_seconds", "left_seconds", "limit_seconds"):
            if key in detail:
                query[key] = str(detail[key])
        return RedirectResponse(f"/admin/workstations/{site}?{urlencode(query)}", 303)

    # -- kiosk ------------------------------------------------------------------------------

    async def _kiosk(self, request: Request) -> dict | None:
        ip = self.portal.client_ip(request.scope)
        try:
            return await run_in_threadpool(self.portal.with_conn, data.kiosk_of, ip,
                                           self.portal.now())
        except Exception:  # noqa: BLE001 - an address psycopg cannot send as inet
            log.warning("kiosk: cannot look up %s", ip, exc_info=True)
            return None

    @route("GET", "/kiosk")
    async def kiosk_page(self, request: Request) -> Response:
        found = await self._kiosk(request)
        if found is None:
            return self.portal.render(request, "error.html", status=404,
                                      message_key="ws.kiosk.unknown")
        lang = found["language"] or self.portal.language(request)
        lang = lang if lang in ("fr", "en") else "fr"
        # The hotspot's status page opens /kiosk?login=$(link-login-only): where the page
        # logs the session code in again after a time change (docs/workstations.md).
        login_url = request.query_params.get("login", "")
        if not re.fullmatch(r"https?://[A-Za-z0-9.:\[\]-]+(/[A-Za-z0-9._/-]*)?", login_url):
            login_url = ""
        # The page sends the session code there: only to a hotspot the inventory declares.
        if login_url and urlsplit(login_url).hostname not in await run_in_threadpool(
                self.portal.with_conn, data.hotspot_hosts, found["site"]):
            log.warning("kiosk of %s: refusing to send its code to %s, not a hotspot of site "
                        "%s", found["workstation"], urlsplit(login_url).hostname, found["site"])
            return self.portal.render(request, "error.html", status=400,
                                      message_key="ws.kiosk.undeclared_hotspot")
        return self.portal.render(request, "kiosk.html", kiosk=found, member_lang=lang,
                                  t=translator(lang), login_url=login_url,
                                  initial=_kiosk_row(found), now=time.time())

    @route("GET", "/api/kiosk")
    async def kiosk_json(self, request: Request) -> Response:
        found = await self._kiosk(request)
        if found is None:
            return JSONResponse({"error": "not a workstation"}, 404)
        return JSONResponse({"row": _kiosk_row(found), "at": time.time()})

    @route("GET", "/kiosk/events")
    async def kiosk_events(self, request: Request) -> Response:
        found = await self._kiosk(request)
        if found is None:
            return JSONResponse({"error": "not a workstation"}, 404)
        site, name = found["site"], found["workstation"]
        hub = self.hub

        async def stream():
            started = time.monotonic()
            feed = hub.watch(site)
            hub.kiosks[name] = hub.kiosks.get(name, 0) + 1
            # The board has no codes: the kiosk asks for its own when its session changes.
            session, code = found["session_id"], found["code"]
            try:
                yield live.event({"row": _kiosk_row(found), "at": time.time()})
                last = _kiosk_row(found)
                await hub.fresh(feed, started)
                while not await request.is_disconnected():
                    # Taken before reading: a change made meanwhile has set this one.
                    changed = feed.changed
                    row = feed.rows.get(name)
                    if row and row["session_id"] != session:
                        session, code = row["session_id"], None
                        if session is not None:
                            again = await self._kiosk(request)
                            if again and again["session_id"] == session:
                                code = again["code"]
                    current = _board_row(row, code) if row else last
                    if live.rows_changed({name: last}, {name: current}):
                        last = current
                        yield live.event({"row": current, "at": time.time()})
                        continue
                    try:
                        await asyncio.wait_for(changed.wait(), live.KEEPALIVE_SECONDS)
                    except TimeoutError:
                        yield b": keepalive\n\n"
            finally:
                hub.unwatch(site)
                hub.kiosks[name] -= 1
                if not hub.kiosks[name]:
                    del hub.kiosks[name]

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})


def _kiosk_row(found: dict) -> dict:
    ends_at = (round(time.time() + found["remaining"], 1)
               if found["state"] == "running" and found["remaining"] is not None else None)
    return {"state": found["state"], "remaining": found["remaining"], "ends_at": ends_at,
            "language": found["language"], "end_reason": found["end_reason"],
            "code": found["code"], "needs_login": bool(found["needs_login"])}


def _board_row(row: dict, code: str | None) -> dict:
    """A board row as the kiosk sees it, with its session's ``code`` (the board has none):
    no session any more means the session ended."""
    state = row["status"] if row["session_id"] is not None else (
        "maintenance" if row["status"] == "maintenance" else "free")
    return {"state": state, "remaining": row["remaining"], "ends_at": row["ends_at"],
            "language": row["language"], "end_reason": None, "code": code,
            "needs_login": bool(row["needs_login"])}
