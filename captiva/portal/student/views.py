"""A student's own page (docs/portal.md, "What students see"):

- ``GET /me``: usage per period against the quotas, the plan, the open sessions, one page of
  the history, the devices, the last 30 days' chart;
- ``GET /api/me``: the same figures as JSON.

The figures come from data.py, cached a few seconds per student by the shell
(``Portal.figures_of``, figure_cache.py); the page rendered from them is kept while the cache
holds them. The password pages are password_views.py, the devices devices_views.py, the
sign-up signup_views.py, each with its data and text.
"""

from __future__ import annotations

import datetime as dt
import logging

import psycopg
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from captiva.portal.rooms import Room, route, signed_in
from captiva.portal.security import Session
from captiva.vouchers import is_code

from . import data
from .data import Figures

log = logging.getLogger("captiva.portal")
# Rendered /me pages kept (the oldest goes first).
PAGE_CACHE_ENTRIES = 2_000


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


def page_number(request: Request) -> int:
    """The history page asked for (``?page=``), 1 to 10,000."""
    try:
        return max(1, min(int(request.query_params.get("page", "1")), 10_000))
    except ValueError:
        return 1


class StudentViews(Room):
    """Bound to the Portal: its sessions, the figures' cache and rendering."""

    def __init__(self, portal):
        super().__init__(portal)
        # rendered /me pages per (session, page, language), each with the figures it shows:
        # served while those are the cache's; they hold the session's CSRF token
        self._pages: dict[tuple[str, int, str], tuple[Figures, bytes]] = {}

    @route("GET", "/me")
    @signed_in()
    async def me(self, request: Request, session: Session) -> Response:
        portal = self.portal
        if is_code(session.username):  # a voucher holder: vouchers/views.py
            return RedirectResponse("/voucher/me", 303)
        page = page_number(request)
        lang = portal.language(request)
        key = (session.key, page, lang)
        figures = portal.cached_figures(session.username, page)
        if figures is not None:
            hit = self._pages.get(key)
            if hit and hit[0] is figures:  # rendered from the figures the cache holds
                return HTMLResponse(hit[1])
        else:
            try:
                figures = await run_in_threadpool(portal.figures_of, session.username, page)
            except psycopg.OperationalError as exc:
                log.error("/me of %s: database unavailable (%s)",
                          portal.log_name(session.username), type(exc).__name__)
                return portal.render(request, "error.html", status=503,
                                     message_key="error.unavailable")
        request.state.staff = figures.staff  # the menu, as of the figures
        board = figures.board
        bars, peak = chart_bars(board.chart)
        tz = board.calendar.timezone
        response = portal.render(request, "me.html", board=board, bars=bars, peak=peak, tz=tz,
                                 days_left=data.days_left(board.user, board.now),
                                 local=lambda m, t=True: portal.local(m, tz, t))
        if portal.figures is not None:
            if self._pages.pop(key, None) is None:
                while len(self._pages) >= PAGE_CACHE_ENTRIES:
                    del self._pages[next(iter(self._pages))]
            self._pages[key] = (figures, response.body)
        return response

    @route("GET", "/api/me")
    @signed_in(api=True)
    async def api_me(self, request: Request, session: Session) -> Response:
        portal = self.portal
        page = page_number(request)
        try:
            figures = portal.cached_figures(session.username, page) or await run_in_threadpool(
                portal.figures_of, session.username, page)
        except psycopg.OperationalError as exc:
            log.error("/api/me of %s: database unavailable (%s)",
                      portal.log_name(session.username), type(exc).__name__)
            return JSONResponse({"error": "database unavailable"}, 503)
        return JSONResponse(figures.board.as_dict())
