"""Live workstation boards (docs/workstations.md): one :class:`Hub` per portal process reads
``captiva_workstation_board`` once per ``POLL_SECONDS`` for each site that somebody watches
(a console or a kiosk), whatever the number of watchers, and wakes the Server-Sent Events
streams whose row changed. The kiosk pages connected are the workstations' heartbeat, written
in one statement every ``BEAT_SECONDS``. Without EventSource, the pages poll the JSON views.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool

from . import data

log = logging.getLogger("captiva.portal")

POLL_SECONDS = 0.25
BEAT_SECONDS = 10
KEEPALIVE_SECONDS = 15


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
                rows = await run_in_threadpool(self.portal.with_conn, data.board, site,
                                               self.portal.now())
            except Exception:  # the database is back on the next round  # noqa: BLE001
                log.warning("workstation board of %s: read failed", site, exc_info=True)
                rows = None
            if rows is not None:
                feed.read_at = started
                fresh = {r["name"]: timed(r, started_wall) for r in rows}
                if rows_changed(feed.rows, fresh):
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
                await run_in_threadpool(self.portal.with_conn, data.beat, names, self.portal.now())
            except Exception:  # noqa: BLE001 - next round
                log.warning("workstation heartbeats: write failed", exc_info=True)
            await asyncio.sleep(BEAT_SECONDS)


def timed(row: dict, at: float) -> dict:
    """A running session's end as an instant (``ends_at``, epoch seconds): it does not change
    from one read to the next, so the watchers wake only when something happened."""
    if row["status"] == "running" and row["remaining"] is not None:
        return {**row, "ends_at": round(at + row["remaining"], 1)}
    return {**row, "ends_at": None}


def rows_changed(old: dict[str, dict], new: dict[str, dict]) -> bool:
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


def event(payload: dict) -> bytes:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()
