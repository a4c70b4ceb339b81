"""The portal's figure cache (captiva/portal/figure_cache.py): refresh ahead, one read per key,
bounded staleness, failures. A test clock; background reads run when the test says so."""

from __future__ import annotations

import threading
import time

import pytest

from captiva.portal.figure_cache import FigureCache

TTL = 30.0


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Database:
    """The figures' source: a version per key, each read counted; it can be down or slow."""

    def __init__(self):
        self.version: dict[str, int] = {}
        self.reads: list[str] = []
        self.down = False
        self.gate: threading.Event | None = None  # reads wait for it when set
        self.lock = threading.Lock()

    def load(self, key: str) -> tuple[str, int]:
        with self.lock:
            self.reads.append(key)
        if self.gate is not None:
            assert self.gate.wait(10), "the test never released the read"  # noqa: S101
        if self.down:
            raise ConnectionError("database down")
        return key, self.version.get(key, 0)


class Background:
    """A submit() that keeps the refreshes until the test runs them."""

    def __init__(self):
        self.queued: list = []

    def __call__(self, fn):
        self.queued.append(fn)

    def run(self) -> int:
        done, self.queued = self.queued, []
        for fn in done:
            fn()
        return len(done)


@pytest.fixture
def setup():
    clock, db, background = Clock(), Database(), Background()
    # refresh point drawn at the start of its window: TTL/2 after the read
    cache = FigureCache(TTL, db.load, background, clock=clock, draw=lambda: 0.0,
                        max_refreshes=2, group=lambda key: key.split("/")[0])
    return cache, clock, db, background


def test_fresh_entries_are_served_without_a_read(setup):
    cache, clock, db, background = setup
    assert cache.peek("a/1") is None  # nothing cached: the caller must read
    assert cache.get("a/1") == ("a/1", 0)
    clock.t += TTL / 2 - 0.1
    db.version["a/1"] = 1
    assert cache.peek("a/1") == ("a/1", 0)
    assert cache.get("a/1") == ("a/1", 0)
    assert db.reads == ["a/1"] and background.queued == []


def test_a_due_entry_is_served_while_exactly_one_refresh_runs(setup):
    cache, clock, db, background = setup
    cache.get("a/1")
    db.version["a/1"] = 1
    clock.t += TTL / 2  # the refresh point
    for _ in range(10):
        assert cache.peek("a/1") == ("a/1", 0)  # the cached figures, at once
        assert cache.get("a/1") == ("a/1", 0)
    assert len(background.queued) == 1 and db.reads == ["a/1"]
    assert background.run() == 1
    assert cache.peek("a/1") == ("a/1", 1)
    assert db.reads == ["a/1", "a/1"]
    assert cache.refreshing == 0


def test_refresh_points_are_spread_over_half_to_three_quarters_of_the_ttl():
    clock, db, background = Clock(), Database(), Background()
    draws = iter([0.0, 0.99])
    cache = FigureCache(TTL, db.load, background, clock=clock, draw=lambda: next(draws))
    cache.get("early")
    cache.get("late")
    clock.t += TTL / 2
    cache.peek("early")
    cache.peek("late")
    assert len(background.queued) == 1  # only the early one is due
    clock.t += TTL / 4 - 0.01
    cache.peek("late")
    assert len(background.queued) == 2


def test_no_figure_older_than_the_ttl_is_served(setup):
    cache, clock, db, background = setup
    cache.get("a/1")
    db.version["a/1"] = 1
    clock.t += TTL  # never asked in between: the entry is gone
    assert cache.peek("a/1") is None
    assert cache.get("a/1") == ("a/1", 1)  # the request reads itself
    assert background.queued == []


def test_an_expired_entry_waits_for_the_refresh_in_flight_not_a_second_read(setup):
    cache, clock, db, background = setup
    cache.get("a/1")
    clock.t += TTL / 2
    cache.peek("a/1")  # refresh queued, not run yet
    clock.t += TTL / 2  # now older than the TTL
    db.version["a/1"] = 1
    result = []
    waiter = threading.Thread(target=lambda: result.append(cache.get("a/1")))
    waiter.start()
    time.sleep(0.1)
    assert result == []  # waits: the stale figures are too old to serve
    background.run()
    waiter.join(5)
    assert result == [("a/1", 1)]
    assert db.reads == ["a/1", "a/1"]


def test_concurrent_misses_of_one_key_do_a_single_read(setup):
    cache, _, db, _ = setup
    db.gate = threading.Event()
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("a/1")))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    db.gate.set()
    for thread in threads:
        thread.join(5)
    assert results == [("a/1", 0)] * 8
    assert db.reads == ["a/1"]


def test_background_refreshes_in_flight_are_bounded(setup):
    cache, clock, db, background = setup
    for key in ("a/1", "b/1", "c/1", "d/1"):
        cache.get(key)
    clock.t += TTL / 2
    for key in ("a/1", "b/1", "c/1", "d/1"):
        assert cache.peek(key) is not None  # all served
    assert len(background.queued) == 2  # max_refreshes
    background.run()
    for key in ("c/1", "d/1"):
        cache.peek(key)  # their refresh starts now that the others ended
    assert len(background.queued) == 2


def test_a_failed_refresh_keeps_the_figures_until_the_ttl_then_the_request_fails(setup):
    cache, clock, db, background = setup
    cache.get("a/1")
    db.down = True
    clock.t += TTL / 2
    assert cache.peek("a/1") == ("a/1", 0)
    background.run()  # fails: logged, the entry stays
    assert cache.refreshing == 0
    assert cache.peek("a/1") == ("a/1", 0)  # still served, and tried again
    assert len(background.queued) == 1
    background.run()
    clock.t += TTL / 2
    with pytest.raises(ConnectionError):
        cache.get("a/1")  # too old to serve: the request's own read fails, as without cache
    db.down = False
    db.version["a/1"] = 2
    assert cache.get("a/1") == ("a/1", 2)  # the database is back: so are the figures


def test_a_failed_read_fails_every_request_waiting_for_it(setup):
    cache, _, db, _ = setup
    db.gate, db.down = threading.Event(), True
    errors = []

    def ask():
        try:
            cache.get("a/1")
        except ConnectionError as exc:
            errors.append(exc)
    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    db.gate.set()
    for thread in threads:
        thread.join(5)
    assert len(errors) == 4 and db.reads == ["a/1"]


def test_discarding_a_group_forgets_its_entries_and_its_reads_in_flight(setup):
    cache, clock, db, background = setup
    cache.get("a/1")
    cache.get("a/2")
    cache.get("b/1")
    clock.t += TTL / 2
    cache.peek("a/1")  # a refresh of the old figures is in flight
    db.version["a/1"] = 1
    cache.discard_group("a")  # e.g. the student logged in again
    assert cache.peek("a/1") is None and cache.peek("a/2") is None
    assert cache.peek("b/1") == ("b/1", 0)
    assert cache.get("a/1") == ("a/1", 1)  # read now, not the refresh's
    db.version["a/1"] = 2
    background.run()  # the discarded refresh ends: not stored over the newer figures
    assert cache.peek("a/1") == ("a/1", 1)
    assert cache.refreshing == 0


def test_the_oldest_entries_go_first_when_full():
    clock, db, background = Clock(), Database(), Background()
    cache = FigureCache(TTL, db.load, background, clock=clock, max_entries=3)
    for key in ("a", "b", "c"):
        cache.get(key)
    cache.get("a")  # cached: not read again, stays where it was
    cache.get("d")
    assert len(cache) == 3
    assert cache.peek("a") is None and cache.peek("d") is not None
    assert db.reads == ["a", "b", "c", "d"]


def test_a_refresh_that_cannot_start_serves_the_figures():
    clock, db = Clock(), Database()

    def refused(fn):
        raise RuntimeError("cannot schedule new futures after shutdown")
    cache = FigureCache(TTL, db.load, refused, clock=clock, draw=lambda: 0.0)
    cache.get("a")
    clock.t += TTL / 2
    assert cache.peek("a") == ("a", 0)
    assert cache.refreshing == 0


@pytest.mark.parametrize(("ttl", "refreshes"), [(0, 1), (-1, 1), (30, 0)])
def test_bad_settings_are_refused(ttl, refreshes):
    with pytest.raises(ValueError, match="ttl|max_refreshes"):
        FigureCache(ttl, str, lambda fn: None, max_refreshes=refreshes)
