"""Sessions, CSRF tokens and login rate limiting, kept in the portal's memory.

One uvicorn process serves the portal (docs/portal.md), so an in-memory store is shared by
every request: logout and timeouts really end a session, and the rate limits count every
attempt. A restart logs everyone out, which a status portal can afford.

The cookie holds ``<session id>.<HMAC>``; the store is keyed by a hash of the id, so neither
a forged cookie nor a look at the store's keys gives a usable session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class Session:
    key: str  # hash of the session id
    username: str | None  # None before login (the login form's CSRF token lives here)
    csrf: str
    created: float
    seen: float
    data: dict = field(default_factory=dict)

    @property
    def authenticated(self) -> bool:
        return self.username is not None


class SessionStore:
    """Sessions with an idle and an absolute timeout; ids rotate at login."""

    def __init__(self, secret: str, idle_timeout: int, absolute_timeout: int,
                 clock=time.monotonic, max_sessions: int = 100_000):
        self._secret = secret.encode()
        self.idle_timeout = idle_timeout
        self.absolute_timeout = absolute_timeout
        self._clock = clock
        self._max = max_sessions
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def _mac(self, sid: str) -> str:
        return hmac.new(self._secret, b"sid:" + sid.encode(), hashlib.sha256).hexdigest()[:32]

    def _key(self, sid: str) -> str:
        return hmac.new(self._secret, b"key:" + sid.encode(), hashlib.sha256).hexdigest()

    def _expired(self, session: Session, now: float) -> bool:
        return (now - session.seen > self.idle_timeout
                or now - session.created > self.absolute_timeout)

    def create(self, username: str | None = None) -> tuple[str, Session]:
        """A new session; returns the cookie value and the session."""
        sid = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(self._key(sid), username, secrets.token_urlsafe(32), now, now)
        with self._lock:
            if len(self._sessions) >= self._max:
                self._sweep(now)
            if len(self._sessions) >= self._max:  # still full: drop the least recent
                oldest = min(self._sessions.values(), key=lambda s: s.seen)
                del self._sessions[oldest.key]
            self._sessions[session.key] = session
        return f"{sid}.{self._mac(sid)}", session

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
                del self._sessions[key]
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
            self._sessions.pop(session.key, None)

    def _sweep(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[key]

    def sweep(self) -> None:
        with self._lock:
            self._sweep(self._clock())

    def __len__(self) -> int:
        return len(self._sessions)


def csrf_valid(session: Session | None, token: str | None) -> bool:
    return bool(session and token) and hmac.compare_digest(session.csrf, token)


class RateLimiter:
    """Failed logins per key (an account, an address) in a sliding window."""

    def __init__(self, limit: int, window: int, clock=time.monotonic):
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and now - times[0] > self.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def blocked(self, key: str) -> bool:
        with self._lock:
            return len(self._recent(key, self._clock())) >= self.limit

    def retry_after(self, key: str) -> int:
        now = self._clock()
        with self._lock:
            times = self._recent(key, now)
            if len(times) < self.limit:
                return 0
            return max(1, int(times[-self.limit] + self.window - now) + 1)

    def fail(self, key: str) -> None:
        now = self._clock()
        with self._lock:
            times = self._recent(key, now)
            times.append(now)
            self._failures[key] = times
            if len(times) > self.limit:
                times.popleft()

    def reset(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
