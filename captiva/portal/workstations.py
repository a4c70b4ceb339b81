"""Public workstations in the portal (docs/workstations.md): the operators' console, one
screen per site, and the kiosk page each workstation shows.

Every rule (who may act, opening hours, limits, remaining time) is in SQL
(functions/70_workstations.sql); this module calls those functions, turns their refusal
reasons into messages (workstation_text.py) and pushes the state to the browsers.

Live updates: one :class:`Hub` per portal process reads ``captiva_workstation_board`` once
per ``POLL_SECONDS`` for each site that somebody watches (a console or a kiosk), whatever the
number of watchers, and wakes the Server-Sent Events streams whose row changed. The kiosk
pages connected are the workstations' heartbeat, written in one statement every
``BEAT_SECONDS``. Without EventSource, the pages poll the JSON views.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from captiva.portal.i18n import MESSAGES, translator

log = logging.getLogger("captiva.portal")

POLL_SECONDS = 0.25
BEAT_SECONDS = 10
KEEPALIVE_SECONDS = 15
ACTIONS = ("issue", "add-time", "suspend", "resume", "terminate", "maintenance-on",
           "maintenance-off", "register-guest", "revoke-consent")
# The board as staff see it: the session id, never its code (captiva_workstation_staff_board).
BOARD_COLUMNS = ("name", "room", "status", "online", "session_id", "member",
                 "remaining", "closing_at", "language", "needs_login")
# An issued code is shown once, to the operator who issued it, on the page after the action
# (never in a URL, which nginx logs): this many are kept, the oldest dropped first.
ISSUED_KEPT = 1_000
_GUEST = re.compile(r"^(?:guest:|#)(\d+)$")


# --------------------------------------------------------------------------------------------
# Data


def sites_of(conn, staff) -> list[str]:
    names = [r[0] for r in conn.execute("SELECT name FROM captiva_site ORDER BY name")]
    if staff.role == "admin" or not staff.sites:
        return names
    return [n for n in names if n in staff.sites]


def board(conn, site: str, now: dt.datetime) -> list[dict]:
    rows = conn.execute("SELECT * FROM captiva_workstation_staff_board(%s, %s)", (site, now))
    out = []
    for row in rows:
        item = dict(zip(BOARD_COLUMNS, row, strict=True))
        item["closing_at"] = item["closing_at"].isoformat() if item["closing_at"] else None
        out.append(item)
    return out


def kiosk_of(conn, ip: str, now: dt.datetime) -> dict | None:
    """The workstation at ``ip``, with its live session's code: the kiosk logs it in."""
    row = conn.execute("SELECT workstation, site, state, session_id, remaining, language,"
                       " end_reason, warnings, code, needs_login"
                       " FROM captiva_workstation_kiosk(%s, %s)", (ip, now)).fetchone()
    if row is None:
        return None
    return dict(zip(("workstation", "site", "state", "session_id", "remaining", "language",
                     "end_reason", "warnings", "code", "needs_login"), row, strict=True))


def hotspot_hosts(conn, site: str) -> set[str]:
    """The hosts a kiosk of ``site`` may send its code to: the site's routers' hotspot DNS
    names and addresses, as the inventory declares them (captiva_router, the reconcile's)."""
    rows = conn.execute("SELECT host(nasipaddress), hotspot_dns_name FROM captiva_router"
                        " WHERE site = %s", (site,)).fetchall()
    return {host.lower() for row in rows for host in row if host}


def audit(conn, site: str, text: str, limit: int = 200) -> list[tuple]:
    pattern = f"%{text.strip()}%" if text.strip() else "%"
    return conn.execute(
        "SELECT at, actor, actor_role, action, workstation, session_id, before, after, detail"
        " FROM captiva_workstation_audit WHERE site = %s AND (actor ILIKE %s OR action ILIKE %s"
        " OR COALESCE(workstation, '') ILIKE %s OR COALESCE(session_id::text, '') = %s"
        " OR detail::text ILIKE %s) ORDER BY at DESC, id DESC LIMIT %s",
        (site, pattern, pattern, pattern, text.strip(), pattern, limit)).fetchall()


def act(conn, actor: str, site: str, action: str, form: dict[str, str],
        now: dt.datetime) -> tuple[str | None, dict]:
    """One console action through its SQL function: (refusal reason or None, detail)."""
    session = int(form["session"]) if form.get("session", "").isdigit() else None
    workstation = form.get("workstation") or None
    if action == "issue":
        member = (form.get("member") or "").strip()
        guest = _GUEST.match(member)
        minutes = form.get("minutes", "").strip()
        seconds = int(minutes) * 60 if minutes.isdigit() else None
        if not member:
            return "member-required", {}
        row = conn.execute(
            "SELECT reason, detail, code FROM captiva_workstation_issue(%s, %s, %s, %s, %s, %s)",
            (actor, workstation, None if guest else member,
             int(guest.group(1)) if guest else None, seconds, now)).fetchone()
        return row[0], {**(row[1] or {}), "code": row[2]}
    if action == "add-time":
        raw = (form.get("minutes") or "").strip()
        match = re.fullmatch(r"([+-=]?)(\d{1,4})", raw)
        if session is None or not match:
            return "bad-minutes", {}
        sign, number = match.groups()
        mode = "set" if sign == "=" else "add"
        seconds = int(number) * 60 * (-1 if sign == "-" else 1)
        row = conn.execute("SELECT reason, detail FROM captiva_workstation_add_time("
                           "%s, %s, %s, %s, %s)", (actor, session, mode, seconds, now)).fetchone()
        return row[0], row[1] or {}
    if action in ("suspend", "resume", "terminate"):
        if session is None:
            return "unknown-session", {}
        row = conn.execute("SELECT reason, detail FROM captiva_workstation_change(%s, %s, %s,"
                           " %s)", (actor, session, action, now)).fetchone()
        return row[0], row[1] or {}
    if action in ("maintenance-on", "maintenance-off"):
        row = conn.execute("SELECT reason, detail FROM captiva_workstation_set_maintenance("
                           "%s, %s, %s, %s)", (actor, workstation, action == "maintenance-on",
                                               now)).fetchone()
        return row[0], row[1] or {}
    if action == "register-guest":
        consent = form.get("consent_on") or ""
        try:
            consent_on = dt.date.fromisoformat(consent) if consent else None
        except ValueError:
            consent_on = None
        row = conn.execute("SELECT guest_id, reason FROM captiva_workstation_register_guest("
                           "%s, %s, %s, %s, %s, %s, %s, %s)",
                           (actor, site, form.get("full_name", ""), form.get("id_type", ""),
                            form.get("id_number", ""), consent_on, form.get("language", "fr"),
                            now)).fetchone()
        return row[1], {"guest": row[0]}
    if action == "revoke-consent":
        guest = form.get("guest", "")
        if not guest.isdigit():
            return "unknown-guest", {}
        reason = conn.execute("SELECT captiva_workstation_revoke_consent(%s, %s, %s)",
                              (actor, int(guest), now)).fetchone()[0]
        return reason, {"guest": int(guest)}
    return "unknown-action", {}


# --------------------------------------------------------------------------------------------
# Live state


@dataclass
class SiteFeed:
    rows: dict[str, dict] = field(default_factory=dict)
    version: int = 0
    # time.monotonic() when the read that gave ``rows`` started (every read, changed or not)
    read_at: float = 0.0
    watchers: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None


class Hub:
    """Reads each watched site's board once per POLL_SECONDS; writes the heartbeats."""

    def __init__(self, portal):
        self.portal = portal
        self.feeds: dict[str, SiteFeed] = {}
        self.kiosks: dict[str, int] = {}  # workstation -> connected kiosk pages
        self._beat_task: asyncio.Task | None = None
        self.latencies: list[float] = []  # seconds from a read's start to the wake-up

    def watch(self, site: str) -> SiteFeed:
        feed = self.feeds.setdefault(site, SiteFeed())
        feed.watchers += 1
        if feed.task is None or feed.task.done():
            feed.task = asyncio.create_task(self._poll(site, feed))
        if self._beat_task is None or self._beat_task.done():
            self._beat_task = asyncio.create_task(self._beat())
        return feed

    def unwatch(self, site: str) -> None:
        feed = self.feeds.get(site)
        if feed is not None:
            feed.watchers -= 1

    async def _poll(self, site: str, feed: SiteFeed) -> None:
        while feed.watchers > 0:
            started = time.monotonic()
            started_wall = time.time()
            try:
                rows = await run_in_threadpool(self.portal.with_conn, board, site,
                                               self.portal.now())
            except Exception:  # the database is back on the next round  # noqa: BLE001
                log.warning("workstation board of %s: read failed", site, exc_info=True)
                rows = None
            if rows is not None:
                feed.read_at = started
                fresh = {r["name"]: _timed(r, started_wall) for r in rows}
                if _changed(feed.rows, fresh):
                    feed.rows = fresh
                    feed.version += 1
                    old, feed.changed = feed.changed, asyncio.Event()
                    old.set()
                    self.latencies.append(time.monotonic() - started)
                    del self.latencies[:-10000]
            await asyncio.sleep(max(0.0, POLL_SECONDS - (time.monotonic() - started)))
        feed.task = None

    async def fresh(self, feed: SiteFeed, since: float) -> None:
        """Wait for a read started after ``since``: a new stream never shows older rows
        than the page it updates."""
        while feed.read_at < since and feed.watchers > 0:
            await asyncio.sleep(POLL_SECONDS / 5)

    async def _beat(self) -> None:
        while self.kiosks:
            names = sorted(self.kiosks)
            try:
                await run_in_threadpool(self.portal.with_conn, _beat, names, self.portal.now())
            except Exception:  # noqa: BLE001 - next round
                log.warning("workstation heartbeats: write failed", exc_info=True)
            await asyncio.sleep(BEAT_SECONDS)


def _timed(row: dict, at: float) -> dict:
    """A running session's end as an instant (``ends_at``, epoch seconds): it does not change
    from one read to the next, so the watchers wake only when something happened."""
    if row["status"] == "running" and row["remaining"] is not None:
        return {**row, "ends_at": round(at + row["remaining"], 1)}
    return {**row, "ends_at": None}


def _changed(old: dict[str, dict], new: dict[str, dict]) -> bool:
    if old.keys() != new.keys():
        return True
    for name, row in new.items():
        before = old[name]
        for key, value in row.items():
            if key == "remaining" and row["ends_at"] is not None:
                continue
            if key == "ends_at" and value is not None and before[key] is not None:
                if abs(value - before[key]) > 1.5:  # reads floor to the second
                    return True
                continue
            if before.get(key) != value:
                return True
    return False


def _beat(conn, names, now):
    conn.execute("SELECT captiva_workstation_beat(%s, %s)", (names, now))


def _event(payload: dict) -> bytes:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


# --------------------------------------------------------------------------------------------
# Handlers


class WorkstationViews:
    """Bound to the Portal: its sessions, CSRF tokens, rendering and database pool."""

    def __init__(self, portal):
        self.portal = portal
        self.hub = Hub(portal)
        # session key -> (site, code) of the operator's last issue, shown once (ISSUED_KEPT)
        self.issued: dict[str, tuple[str, str]] = {}

    def routes(self) -> list[Route]:
        return [
            Route("/admin/workstations", self.index, methods=["GET"]),
            Route("/admin/workstations/{site}", self.site_page, methods=["GET"]),
            Route("/admin/workstations/{site}/events", self.site_events, methods=["GET"]),
            Route("/admin/workstations/{site}/audit", self.audit_page, methods=["GET"]),
            Route("/admin/workstations/{site}/act", self.action, methods=["POST"]),
            Route("/api/admin/workstations/{site}", self.site_json, methods=["GET"]),
            Route("/kiosk", self.kiosk_page, methods=["GET"]),
            Route("/kiosk/events", self.kiosk_events, methods=["GET"]),
            Route("/api/kiosk", self.kiosk_json, methods=["GET"]),
        ]

    async def _staff_site(self, request: Request, api: bool = False):
        portal = self.portal
        staff = await portal.require_staff(request, api=api)
        if isinstance(staff, Response):
            return staff, None
        site = request.path_params.get("site")
        allowed = await run_in_threadpool(portal.with_conn, sites_of, staff)
        if site is not None and site not in allowed:
            if api:
                return JSONResponse({"error": "forbidden"}, 403), None
            return portal.render(request, "error.html", status=403,
                                 message_key="error.forbidden"), None
        return staff, allowed

    async def index(self, request: Request) -> Response:
        staff, allowed = await self._staff_site(request)
        if isinstance(staff, Response):
            return staff
        if len(allowed) == 1:
            return RedirectResponse(f"/admin/workstations/{allowed[0]}", 303)
        return self.portal.render(request, "ws_sites.html", sites=allowed)

    async def site_page(self, request: Request) -> Response:
        staff, _ = await self._staff_site(request)
        if isinstance(staff, Response):
            return staff
        site = request.path_params["site"]
        rows = await run_in_threadpool(self.portal.with_conn, board, site, self.portal.now())
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

    async def site_json(self, request: Request) -> Response:
        staff, _ = await self._staff_site(request, api=True)
        if isinstance(staff, Response):
            return staff
        rows = await run_in_threadpool(self.portal.with_conn, board,
                                       request.path_params["site"], self.portal.now())
        return JSONResponse({"rows": rows})

    async def site_events(self, request: Request) -> Response:
        staff, _ = await self._staff_site(request, api=True)
        if isinstance(staff, Response):
            return staff
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
                        yield _event({"rows": list(feed.rows.values()), "at": time.time()})
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), KEEPALIVE_SECONDS)
                    if feed.version == sent:
                        yield b": keepalive\n\n"
            finally:
                hub.unwatch(site)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})

    async def audit_page(self, request: Request) -> Response:
        staff, _ = await self._staff_site(request)
        if isinstance(staff, Response):
            return staff
        site = request.path_params["site"]
        text = request.query_params.get("q", "")[:100]
        rows = await run_in_threadpool(self.portal.with_conn, audit, site, text)
        return self.portal.render(request, "ws_audit.html", site=site, rows=rows, q=text)

    async def action(self, request: Request) -> Response:
        """POST one action: CSRF first, then the role (in SQL, per site), then the rules."""
        portal = self.portal
        form = await portal.form(request)
        if not portal.csrf_ok(request, form):
            return portal.csrf_refused(request)
        staff, _ = await self._staff_site(request)
        if isinstance(staff, Response):
            return staff
        site = request.path_params["site"]
        action = form.get("action", "")
        if action not in ACTIONS:
            reason, detail = "unknown-action", {}
        else:
            reason, detail = await run_in_threadpool(portal.with_conn, act, staff.username,
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
            return await run_in_threadpool(self.portal.with_conn, kiosk_of, ip,
                                           self.portal.now())
        except Exception:  # noqa: BLE001 - an address psycopg cannot send as inet
            log.warning("kiosk: cannot look up %s", ip, exc_info=True)
            return None

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
                self.portal.with_conn, hotspot_hosts, found["site"]):
            log.warning("kiosk of %s: refusing to send its code to %s, not a hotspot of site "
                        "%s", found["workstation"], urlsplit(login_url).hostname, found["site"])
            return self.portal.render(request, "error.html", status=400,
                                      message_key="ws.kiosk.undeclared_hotspot")
        return self.portal.render(request, "kiosk.html", kiosk=found, member_lang=lang,
                                  t=translator(lang), login_url=login_url,
                                  initial=_kiosk_row(found), now=time.time())

    async def kiosk_json(self, request: Request) -> Response:
        found = await self._kiosk(request)
        if found is None:
            return JSONResponse({"error": "not a workstation"}, 404)
        return JSONResponse({"row": _kiosk_row(found), "at": time.time()})

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
                yield _event({"row": _kiosk_row(found), "at": time.time()})
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
                    if _changed({name: last}, {name: current}):
                        last = current
                        yield _event({"row": current, "at": time.time()})
                        continue
                    try:
                        await asyncio.wait_for(changed.wait(), KEEPALIVE_SECONDS)
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
