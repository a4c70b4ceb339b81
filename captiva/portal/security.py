"""Sessions, CSRF tokens and login rate limiting, kept in the portal's memory.

One uvicorn process serves the portal (docs/portal.md), so an in-memory store is shared by
every request: logout and timeouts really end a session, and the rate limits count every
attempt. A restart logs everyone out, which a status portal can afford.

The cookie holds ``<session id>.<HMAC>``; the store is keyed by a hash of the id, so neither
a forged cookie nor a look at the store's keys gives a usable session. Only a successful
login stores a session: the login form's CSRF token is stateless (:class:`LoginForms`), so
visitors, however many, cost no memory and cannot push a student's session out.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class Session:
    key: str  # hash of the session id
    username: str
    csrf: str
    created: float
    seen: float
    data: dict = field(default_factory=dict)

    @property
    def authenticated(self) -> bool:
        return True  # only a login stores a session


class SessionStore:
    """Signed-in sessions with an idle and an absolute timeout; a new id at each login.

    At most ``max_per_user`` sessions per account (a new login ends that account's least
    recently seen one), so one account signing in again and again cannot fill the store;
    past ``max_sessions`` the least recently seen session of all is dropped.
    """

    def __init__(self, secret: str, idle_timeout: int, absolute_timeout: int,
                 clock=time.monotonic, max_sessions: int = 100_000, max_per_user: int = 10):
        self._secret = secret.encode()
        self.idle_timeout = idle_timeout
        self.absolute_timeout = absolute_timeout
        self._clock = clock
        self._max = max_sessions
        self._max_per_user = max_per_user
        self._sessions: dict[str, Session] = {}
        self._by_user: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def _mac(self, sid: str) -> str:
        return hmac.new(self._secret, b"sid:" + sid.encode(), hashlib.sha256).hexdigest()[:32]

    def _key(self, sid: str) -> str:
        return hmac.new(self._secret, b"key:" + sid.encode(), hashlib.sha256).hexdigest()

    def _expired(self, session: Session, now: float) -> bool:
        return (now - session.seen > self.idle_timeout
                or now - session.created > self.absolute_timeout)

    def create(self, username: str) -> tuple[str, Session]:
        """A new signed-in session; returns the cookie value and the session."""
        sid = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(self._key(sid), username, secrets.token_urlsafe(32), now, now)
        with self._lock:
            own = self._by_user.get(username, set())
            if len(own) >= self._max_per_user:
                self._drop(min((self._sessions[k] for k in own), key=lambda s: s.seen))
            if len(self._sessions) >= self._max:
                self._sweep(now)
            if len(self._sessions) >= self._max:  # still full: drop the least recent
                self._drop(min(self._sessions.values(), key=lambda s: s.seen))
            self._sessions[session.key] = session
            self._by_user.setdefault(username, set()).add(session.key)
        return f"{sid}.{self._mac(sid)}", session

    def _drop(self, session: Session) -> None:
        """Forget a session (the lock is held)."""
        if self._sessions.pop(session.key, None) is None:
            return
        own = self._by_user.get(session.username)
        if own is not None:
            own.discard(session.key)
            if not own:
                del self._by_user[session.username]

    def get(self, cookie: str | None) -> Session | None:
        """The live session of a cookie value (and note the activity), else None."""
        if not cookie or "." not in cookie:
            return None
        sid, mac = cookie.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac(sid)):
            return None
        now = self._clock()
        key = self._key(sid)
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                return None
            if self._expired(session, now):
                self._drop(session)
                return None
            session.seen = now
            return session

    def rotate(self, old: Session | None, username: str) -> tuple[str, Session]:
        """Log ``username`` in: a new id and a new CSRF token; the old session is gone."""
        if old is not None:
            self.delete(old)
        return self.create(username)

    def delete(self, session: Session) -> None:
        with self._lock:
            self._drop(session)

    def end_others(self, username: str, keep: Session | None) -> int:
        """End every session of ``username`` but ``keep`` (a password change or reset);
        returns how many ended."""
        with self._lock:
            others = [self._sessions[k] for k in self._by_user.get(username, set())
                      if keep is None or k != keep.key]
            for session in others:
                self._drop(session)
        return len(others)

    def _sweep(self, now: float) -> None:
        for session in [s for s in self._sessions.values() if self._expired(s, now)]:
            self._drop(session)

    def sweep(self) -> None:
        with self._lock:
            self._sweep(self._clock())

    def __len__(self) -> int:
        return len(self._sessions)


def csrf_valid(session: Session | None, token: str | None) -> bool:
    return bool(session and token) and hmac.compare_digest(session.csrf, token)


_NONCE = re.compile(r"[A-Za-z0-9_-]{22,64}")


class LoginForms:
    """Stateless CSRF tokens for the forms of visitors who are not signed in (login, language).

    The visitor gets a random nonce in a pre-session cookie (``__Host-``: no other site or
    subdomain can set it) and the form carries ``<time>.<HMAC(secret, time, nonce)>``. A token
    is valid only with its own cookie and for ``validity`` seconds; nothing is stored, so a
    flood of login pages costs no memory.
    """

    def __init__(self, secret: str, validity: int, clock=time.monotonic):
        self._secret = secret.encode()
        self.validity = validity
        self._clock = clock

    @staticmethod
    def nonce(cookie: str | None) -> str:
        """The visitor's nonce: the cookie's if it is one, else a new one."""
        return cookie if cookie and _NONCE.fullmatch(cookie) else secrets.token_urlsafe(16)

    def _mac(self, stamp: str, nonce: str) -> str:
        message = f"login-form|{stamp}|{nonce}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    def token(self, nonce: str) -> str:
        stamp = str(int(self._clock()))
        return f"{stamp}.{self._mac(stamp, nonce)}"

    def valid(self, nonce: str | None, token: str | None) -> bool:
        if not nonce or not token or not _NONCE.fullmatch(nonce) or token.count(".") != 1:
            return False
        stamp, mac = token.split(".")
        if not stamp.isdigit() or not hmac.compare_digest(mac, self._mac(stamp, nonce)):
            return False
        return 0 <= self._clock() - int(stamp) <= self.validity


def client_bucket(address: str) -> str:
    """What the login limits count as one client: an IPv4 address, an IPv6 /64 (a host picks
    any address of its /64), the IPv4 address inside an IPv4-mapped IPv6 one."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass(frozen=True)
class Attempt:
    """A login attempt counted by :meth:`LoginLimiter.reserve`."""

    keys: tuple[str, str]  # (username at client, client)
    stamp: float
    paced: bool = False  # it holds one of its client's pacing slots


@dataclass(frozen=True)
class Throttled:
    retry_after: int  # seconds


@dataclass(frozen=True)
class Paced:
    """The client is paced and has no free slot now: try again in ``wait`` seconds."""

    wait: float


class LoginLimiter:
    """Login attempts in a sliding window, per username at a client, and per client.

    **A username at a client** (:func:`client_bucket`): ``per_user_address`` attempts in the
    window, then that username is refused from that client until the oldest leaves the
    window (429 and ``Retry-After``). A student mistyping, or an attacker guessing their
    password, blocks that username from that client only, never the student elsewhere.

    **A client** (a NAT address may be a whole campus): its failed attempts, whatever the
    usernames, are counted too, but they never lock it out. Past ``per_address`` failures in
    the window, the client is *paced*: its password checks take a slot from a bucket of
    ``pace_burst`` slots refilled at ``pace_rate`` per second. A check that succeeds gives
    its slot back, a failed one keeps it, so failures from that address reach RADIUS at
    ``pace_rate`` at most, while correct logins pass as fast as RADIUS answers; an attempt
    that finds no free slot waits for one (:meth:`acquire`, up to ``max_wait`` seconds,
    then 429).

    An attempt is counted (reserved) *before* RADIUS is asked, under one lock, so parallel
    requests cannot all pass the check; a success clears the username's count at that
    client and takes the attempt back from the client's, and an attempt RADIUS never
    answered is taken back from both.
    """

    SWEEP_AT = 100_000  # keys; past it (and past each doubling) expired keys are dropped
    POLL = 0.1  # seconds between two looks for a free slot of a paced client

    def __init__(self, per_user_address: int, per_address: int, window: int,
                 clock=time.monotonic, pace_rate: float = 1.0, pace_burst: int = 20,
                 max_wait: float = 30.0):
        self.limits = (per_user_address, per_address)
        self.window = window
        self.pace_rate = pace_rate
        self.pace_burst = pace_burst
        self.max_wait = max_wait
        self._clock = clock
        self._attempts: dict[str, deque[float]] = {}
        self._slots: dict[str, tuple[float, float]] = {}  # client: (free slots, as of)
        self._next_sweep = self.SWEEP_AT
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._attempts)

    def _sweep(self, now: float) -> None:
        """Forget keys whose attempts are all past the window (the lock is held): usernames
        tried once are never looked up again, and would otherwise stay for good."""
        for key in list(self._attempts):
            self._recent(key, now)
        for client in [c for c in self._slots if c not in self._attempts]:
            del self._slots[client]
        self._next_sweep = max(self.SWEEP_AT, 2 * len(self._attempts))

    @staticmethod
    def keys(username: str, address: str) -> tuple[str, str]:
        client = client_bucket(address)
        return f"user:{username.lower()}@{client}", f"addr:{client}"

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._attempts.get(key)
        if times is None:
            return deque()
        while times and now - times[0] > self.window:
            times.popleft()
        if not times:
            del self._attempts[key]
        return times

    def _free_slots(self, client: str, now: float) -> float:
        """The paced client's free slots now, refilled since last looked (the lock is held)."""
        slots, since = self._slots.get(client, (self.pace_burst, now))
        return min(self.pace_burst, slots + (now - since) * self.pace_rate)

    def reserve(self, username: str, address: str) -> Attempt | Throttled | Paced:
        """Count an attempt, or refuse it (username limit) or defer it (a paced client
        without a free slot); nothing is counted unless an Attempt is returned."""
        keys = self.keys(username, address)
        now = self._clock()
        with self._lock:
            user_times, client_times = (self._recent(key, now) for key in keys)
            per_user_address, per_address = self.limits
            if len(user_times) >= per_user_address:
                wait = int(user_times[-per_user_address] + self.window - now) + 1
                return Throttled(max(1, wait))
            paced = len(client_times) >= per_address
            if paced:
                slots = self._free_slots(keys[1], now)
                if slots < 1:
                    self._slots[keys[1]] = (slots, now)
                    return Paced((1 - slots) / self.pace_rate)
                self._slots[keys[1]] = (slots - 1, now)
            for key, times in ((keys[0], user_times), (keys[1], client_times)):
                times.append(now)
                self._attempts[key] = times
            if len(self._attempts) > self._next_sweep:
                self._sweep(now)
            return Attempt(keys, now, paced)

    async def acquire(self, username: str, address: str, sleep=None) -> Attempt | Throttled:
        """:meth:`reserve`, waiting for a slot while the client is paced (``max_wait`` at
        most: then Throttled). ``sleep`` is asyncio.sleep unless a test passes its own."""
        if sleep is None:
            import asyncio

            sleep = asyncio.sleep
        deadline = self._clock() + self.max_wait
        for _ in range(int(self.max_wait / self.POLL) + 2):  # bounded, whatever the clock
            result = self.reserve(username, address)
            if not isinstance(result, Paced):
                return result
            left = deadline - self._clock()
            if left <= 0:
                break
            await sleep(min(max(result.wait, 0.01), self.POLL, left))  # >0: float error
        return Throttled(max(1, math.ceil(result.wait)))

    def _take_back(self, key: str, stamp: float) -> None:
        times = self._attempts.get(key)
        if times is None:
            return
        try:
            times.remove(stamp)
        except ValueError:
            return
        if not times:
            del self._attempts[key]

    def _give_slot_back(self, attempt: Attempt) -> None:
        if attempt.paced:
            client, now = attempt.keys[1], self._clock()
            self._slots[client] = (min(self.pace_burst, self._free_slots(client, now) + 1), now)

    def succeeded(self, attempt: Attempt) -> None:
        with self._lock:
            self._attempts.pop(attempt.keys[0], None)
            self._take_back(attempt.keys[1], attempt.stamp)
            self._give_slot_back(attempt)

    def cancel(self, attempt: Attempt) -> None:
        """RADIUS did not answer: the attempt does not count."""
        with self._lock:
            for key in attempt.keys:
                self._take_back(key, attempt.stamp)
            self._give_slot_back(attempt)
