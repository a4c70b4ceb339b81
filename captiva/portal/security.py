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


@dataclass(frozen=True)
class Throttled:
    retry_after: int  # seconds


class LoginLimiter:
    """Login attempts in a sliding window, per username at a client and per client.

    A lockout is per username *and* client (:func:`client_bucket`): a student mistyping, or
    an attacker guessing their password, blocks that username from that client only, not the
    student elsewhere nor the rest of a site behind one NAT address. Each client has its own
    higher cap across usernames. An attempt is counted (reserved) *before* RADIUS is asked,
    under one lock, so parallel requests cannot all pass the check; a success clears the
    username's count at that client and takes the attempt back from the client's, and an
    attempt RADIUS never answered is taken back from both.
    """

    SWEEP_AT = 100_000  # keys; past it (and past each doubling) expired keys are dropped

    def __init__(self, per_user_address: int, per_address: int, window: int,
                 clock=time.monotonic):
        self.limits = (per_user_address, per_address)
        self.window = window
        self._clock = clock
        self._attempts: dict[str, deque[float]] = {}
        self._next_sweep = self.SWEEP_AT
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._attempts)

    def _sweep(self, now: float) -> None:
        """Forget keys whose attempts are all past the window (the lock is held): usernames
        tried once are never looked up again, and would otherwise stay for good."""
        for key in list(self._attempts):
            self._recent(key, now)
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

    def reserve(self, username: str, address: str) -> Attempt | Throttled:
        """Count an attempt, or refuse it if a limit is reached (then nothing is counted)."""
        keys = self.keys(username, address)
        now = self._clock()
        with self._lock:
            recent = [self._recent(key, now) for key in keys]
            waits = [int(times[-limit] + self.window - now) + 1
                     for times, limit in zip(recent, self.limits, strict=True)
                     if len(times) >= limit]
            if waits:
                return Throttled(max(1, *waits))
            for key, times in zip(keys, recent, strict=True):
                times.append(now)
                self._attempts[key] = times
            if len(self._attempts) > self._next_sweep:
                self._sweep(now)
            return Attempt(keys, now)

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

    def succeeded(self, attempt: Attempt) -> None:
        with self._lock:
            self._attempts.pop(attempt.keys[0], None)
            self._take_back(attempt.keys[1], attempt.stamp)

    def cancel(self, attempt: Attempt) -> None:
        """RADIUS did not answer: the attempt does not count."""
        with self._lock:
            for key in attempt.keys:
                self._take_back(key, attempt.stamp)
