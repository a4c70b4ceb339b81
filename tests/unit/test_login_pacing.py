"""Both sides of the portal's login limits behind one NAT address (docs/threat-model.md,
"Guessing passwords from one address"), measured on the real LoginLimiter, its
LoginLimiter.acquire waiting included, in virtual time: RADIUS answers in 20 ms, nobody
waits for the wall clock.

- An attacker behind the address, 50 requests in flight at all times, each guess under a
  new username (password spraying: no username limit ever applies): how many guesses reach
  RADIUS.
- 500 students behind the same address, signing in at once with their right passwords,
  once the address is paced (after its 100 failures), or right after the attacker stopped:
  all of them get in, and how long the last one waits. (While an attacker keeps guessing
  from the same address, logins there share its pace: docs/threat-model.md.)

Figures print with -s (pytest -s tests/unit/test_login_pacing.py).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

from captiva.portal.security import Attempt, LoginLimiter

NAT = "198.51.100.20"
RADIUS_SECONDS = 0.02
# The portal's defaults (captiva/portal/config.py and LoginLimiter).
PER_USER_ADDRESS, PER_ADDRESS, WINDOW = 5, 100, 900


class VirtualTime:
    """A clock and a sleep for the limiter: sleeping coroutines wake in time order, the
    clock jumps to each wake-up."""

    def __init__(self):
        self.t = 0.0
        self._queue: list = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._queue, (self.t + seconds, next(self._order), future))
        await future

    def forget(self) -> None:
        """Drop the sleeps of cancelled coroutines (their loop is gone)."""
        self._queue.clear()

    async def run(self, tasks: list[asyncio.Task], until: float) -> None:
        while True:
            for _ in range(4):  # let every woken coroutine run to its next sleep
                await asyncio.sleep(0)
            if not self._queue or all(task.done() for task in tasks):
                return
            when, _, future = heapq.heappop(self._queue)
            if when > until:
                return
            self.t = max(self.t, when)
            future.set_result(None)


class Campus:
    def __init__(self):
        self.time = VirtualTime()
        self.limiter = LoginLimiter(PER_USER_ADDRESS, PER_ADDRESS, WINDOW, clock=self.time)
        self.checks = {"attacker": 0, "students": 0}
        self.signed_in: dict[str, float] = {}

    async def login(self, username: str, right: bool, who: str) -> bool:
        """The portal's login (login.py): acquire, ask RADIUS, report the answer."""
        started = self.time()
        attempt = await self.limiter.acquire(username, NAT, sleep=self.time.sleep)
        if not isinstance(attempt, Attempt):
            return False
        self.checks[who] += 1
        await self.time.sleep(RADIUS_SECONDS)
        if right:
            self.limiter.succeeded(attempt)
            self.signed_in[username] = self.time() - started
        return right

    async def attacker(self, worker: int) -> None:
        for guess in itertools.count():
            await self.login(f"victim-{worker}-{guess}", False, "attacker")

    async def student(self, number: int) -> None:
        await self.login(f"student{number:03d}", True, "students")

    def run(self, coroutines, until: float) -> None:
        async def main():
            tasks = [asyncio.create_task(c) for c in coroutines]
            await self.time.run(tasks, until)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.time.forget()

        asyncio.run(main())


def test_an_attacker_behind_the_address_gets_its_budget_then_pace_rate_guesses():
    campus = Campus()
    minutes = 10
    campus.run([campus.attacker(w) for w in range(50)], until=minutes * 60)
    limiter = campus.limiter
    bound = PER_ADDRESS + limiter.pace_burst + minutes * 60 * limiter.pace_rate
    per_hour = campus.checks["attacker"] * 60 / minutes
    print(f"\nattacker, 50 in flight, {minutes} min: {campus.checks['attacker']} guesses reached"
          f" RADIUS (bound {bound:.0f}), {per_hour:.0f} per hour")
    assert PER_ADDRESS < campus.checks["attacker"] <= bound


def test_500_students_behind_a_paced_address_all_get_in():
    campus = Campus()
    # 100 failures (typos, or a guesser) pace the address first.
    campus.run([campus.login(f"typo{i}", False, "attacker") for i in range(PER_ADDRESS)], 60)
    campus.run([campus.student(n) for n in range(500)], until=120)
    waits = sorted(campus.signed_in.values())
    print(f"\n500 students at once, address paced: {len(waits)} signed in, median "
          f"{waits[len(waits) // 2]:.2f} s, slowest {waits[-1]:.2f} s")
    assert len(waits) == 500
    assert waits[-1] < 5


def test_500_students_get_in_at_once_when_the_attacker_stops():
    """The attacker emptied the address's slots a moment ago; a lockout would hold for the
    window (15 min), the pace hands a slot back within a second and every success returns
    its own."""
    campus = Campus()
    campus.run([campus.attacker(w) for w in range(50)], until=600)
    guesses = campus.checks["attacker"]
    campus.run([campus.student(n) for n in range(500)], until=campus.time.t + 120)
    waits = sorted(campus.signed_in.values())
    print(f"\n500 students at once, just after a 10-minute attack ({guesses} guesses): "
          f"{len(waits)} signed in, median {waits[len(waits) // 2]:.2f} s, slowest "
          f"{waits[-1]:.2f} s")
    assert len(waits) == 500
    assert waits[-1] < campus.limiter.max_wait / 2
