"""The figure cache: what a student's page shows, kept a few seconds and refreshed ahead.

An entry read at ``t`` is served as is until its refresh point, a moment drawn in
[``ttl``/2, 3 ``ttl``/4] after ``t`` (so the entries of students who arrived together do not
come due together). From then until ``t + ttl`` it is still served, while one background read
replaces it: a student's request never waits for the database while their entry is younger
than ``ttl``. At ``ttl`` the entry is gone and the request reads the database itself, so no
figure shown is older than ``ttl`` (the portal's ``dashboard.cache_seconds``).

- At most one read per key is in flight: concurrent misses of one key wait for the same
  read, and a miss during a background refresh waits for that refresh.
- At most ``max_refreshes`` background reads are in flight in all; beyond, a due entry is
  served until its ``ttl`` and refreshed by a later request (or read by the first request
  after its ``ttl``).
- A failed background read leaves the entry as it was (served until its ``ttl``, then the
  request reads, and fails, itself); a failed read of a request raises in every request
  waiting for it.
- :meth:`discard_group` forgets a group's entries (a student's pages at login, after a quota
  grant): a read in flight for them when they are discarded is not stored.

Pure Python, no database: the clock, the random draw and how a background read is started
(``submit``, e.g. a thread pool's) are given. ``load`` never returns None (None is "not
cached" to :meth:`peek`: wrap such values).
"""

from __future__ import annotations

import concurrent.futures
import logging
import random
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

log = logging.getLogger("captiva.portal")

# The refresh point of an entry, as fractions of the TTL after its read.
REFRESH_FROM = 0.5
REFRESH_TO = 0.75


@dataclass(frozen=True)
class Entry(Generic[V]):
    value: V
    read_at: float  # when its read started: its figures are at least this old
    refresh_at: float


class FigureCache(Generic[K, V]):
    def __init__(self, ttl: float, load: Callable[[K], V],
                 submit: Callable[[Callable[[], None]], Any], *,
                 max_refreshes: int = 2, max_entries: int = 10_000,
                 group: Callable[[K], Hashable] = lambda key: key,
                 clock: Callable[[], float] = time.monotonic,
                 draw: Callable[[], float] = random.random,
                 describe: Callable[[K], str] = repr):
        if ttl <= 0:
            raise ValueError("the figure cache needs a positive ttl")
        if max_refreshes < 1 or max_entries < 1:
            raise ValueError("max_refreshes and max_entries must be at least 1")
        self.ttl = ttl
        self._load = load
        self._submit = submit
        self.max_refreshes = max_refreshes
        self.max_entries = max_entries
        self._group = group
        self._clock = clock
        self._draw = draw
        self._describe = describe  # a key as log lines show it (never a code: labels.py)
        self._lock = threading.Lock()
        self._entries: dict[K, Entry[V]] = {}  # oldest first (evicted first)
        self._groups: dict[Hashable, set[K]] = {}
        self._inflight: dict[K, concurrent.futures.Future] = {}
        self.refreshing = 0  # background reads in flight

    def __len__(self) -> int:
        return len(self._entries)

    # -- reading --------------------------------------------------------------------------------

    def peek(self, key: K) -> V | None:
        """The entry's value if it is younger than the TTL, else None; never waits (safe on
        an event loop). Starts the entry's background refresh when it is due."""
        with self._lock:
            value, refresh = self._fresh(key, self._clock())
        self._start(key, refresh)
        return value

    def get(self, key: K) -> V:
        """The entry's value, read (or waited for) when there is none younger than the TTL.
        Blocks: call it from a worker thread."""
        with self._lock:
            value, refresh = self._fresh(key, self._clock())
            if value is None:
                future = self._inflight.get(key)
                owner = future is None
                if owner:
                    future = self._inflight[key] = concurrent.futures.Future()
        if value is not None:
            self._start(key, refresh)
            return value
        if owner:
            self._read(key, future, background=False)
        return future.result()

    def _fresh(self, key: K, now: float) -> tuple[V | None, concurrent.futures.Future | None]:
        """Under the lock: the value younger than the TTL, and the refresh to start if due."""
        entry = self._entries.get(key)
        if entry is None or now - entry.read_at >= self.ttl:
            return None, None
        if now < entry.refresh_at or key in self._inflight \
                or self.refreshing >= self.max_refreshes:
            return entry.value, None
        future = self._inflight[key] = concurrent.futures.Future()
        self.refreshing += 1
        return entry.value, future

    def _start(self, key: K, future: concurrent.futures.Future | None) -> None:
        if future is None:
            return
        try:
            self._submit(lambda: self._read(key, future, background=True))
        except Exception as exc:  # e.g. the pool is shut down: the entry is served as is
            with self._lock:
                if self._inflight.get(key) is future:
                    del self._inflight[key]
                self.refreshing -= 1
            future.set_exception(exc)
            log.warning("figure refresh of %s not started (%s)", self._describe(key),
                        type(exc).__name__)

    def _read(self, key: K, future: concurrent.futures.Future, background: bool) -> None:
        started = self._clock()
        try:
            value = self._load(key)
        except Exception as exc:
            if background:  # logged before the refresh counts as over (refreshing)
                log.warning("figure refresh of %s failed (%s); the figures already shown "
                            "stay until they are %g s old", self._describe(key),
                            type(exc).__name__, self.ttl)
            with self._lock:
                if self._inflight.get(key) is future:
                    del self._inflight[key]
                if background:
                    self.refreshing -= 1
            future.set_exception(exc)
            return
        with self._lock:
            if self._inflight.get(key) is future:  # not discarded meanwhile
                del self._inflight[key]
                self._store(key, Entry(value, started, started + self.ttl * (
                    REFRESH_FROM + (REFRESH_TO - REFRESH_FROM) * self._draw())))
            if background:
                self.refreshing -= 1
        future.set_result(value)

    # -- storing and forgetting ---------------------------------------------------------------

    def _store(self, key: K, entry: Entry[V]) -> None:
        if self._entries.pop(key, None) is None:
            while len(self._entries) >= self.max_entries:
                self._forget(next(iter(self._entries)))
        self._entries[key] = entry
        self._groups.setdefault(self._group(key), set()).add(key)

    def _forget(self, key: K) -> None:
        self._entries.pop(key, None)
        group = self._group(key)
        keys = self._groups.get(group)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._groups[group]

    def discard_group(self, group: Hashable) -> None:
        """Forget every entry of ``group``; reads in flight for them will not be stored."""
        with self._lock:
            for key in list(self._groups.get(group, ())):
                self._forget(key)
            for key in [k for k in self._inflight if self._group(k) == group]:
                del self._inflight[key]
