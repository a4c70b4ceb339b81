"""RFC 5176 Disconnect- and CoA-Requests to the routers (MikroTik /radius incoming),
concurrently.

A request carries User-Name, Acct-Session-Id and Framed-IP-Address of the radacct row, an
Event-Timestamp (replay protection, RFC 5176 3.5) and a Message-Authenticator (RouterOS 7.15+
may require it; BlastRADIUS). No NAS-IP-Address: a value different from the router's own
makes it NAK. Packets are coded by pyrad; the sockets are asyncio's. A CoA-Request names the
session the same way and carries the attributes to change (a public workstation's new
Session-Timeout: RADIUS page of the RouterOS manual, "Change of Authorization").

One :class:`RouterChannel` per router: one UDP socket bound to the configured source address
(RouterOS answers only requests from the address of one of its ``/radius`` entries), up to
256 requests in flight (the RADIUS Identifier is one octet). Each request is sent, and
retransmitted unchanged (same Identifier, authenticator and Event-Timestamp, so the router
answers a retransmission without acting twice) every ``timeout`` seconds, ``retries`` times:
its window is ``timeout * (retries + 1)``.
"""

from __future__ import annotations

import asyncio
import io
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyrad import packet
from pyrad.dictionary import Dictionary

if TYPE_CHECKING:
    from captiva.runtime.jobs_config import Config

# The few attributes Captiva sends and reads (pyrad cannot load FreeRADIUS's full dictionary).
DICTIONARY_TEXT = """\
ATTRIBUTE\tUser-Name\t\t1\tstring
ATTRIBUTE\tNAS-IP-Address\t\t4\tipaddr
ATTRIBUTE\tFramed-IP-Address\t8\tipaddr
ATTRIBUTE\tReply-Message\t\t18\tstring
ATTRIBUTE\tSession-Timeout\t\t27\tinteger
ATTRIBUTE\tAcct-Session-Id\t\t44\tstring
ATTRIBUTE\tEvent-Timestamp\t\t55\tdate
ATTRIBUTE\tMessage-Authenticator\t80\toctets
ATTRIBUTE\tError-Cause\t\t101\tinteger
"""

ERROR_CAUSES = {
    401: "Unsupported Attribute",
    402: "Missing Attribute",
    403: "NAS Identification Mismatch",
    404: "Invalid Request",
    501: "Administratively Prohibited",
    503: "Session Context Not Found",
    504: "Session Context Not Removable",
    506: "Resources Unavailable",
}


def dictionary() -> Dictionary:
    return Dictionary(io.StringIO(DICTIONARY_TEXT))


@dataclass(frozen=True)
class Outcome:
    result: str  # ack | nak | timeout | error
    error_cause: int | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Session:
    """What identifies a session to the router."""

    username: str | None
    session_id: str | None
    framed_ip: str | None


class RouterChannel(asyncio.DatagramProtocol):
    """Disconnect- and CoA-Requests to one router over one socket; see the module
    docstring."""

    def __init__(self, address: str, port: int, secret: str, *, source: str | None = None,
                 timeout: float = 3.0, retries: int = 2):
        self.address, self.port = address, port
        self.secret = secret.encode()
        self.source = source
        self.timeout, self.retries = timeout, retries
        self.dictionary = dictionary()
        self.transport: asyncio.DatagramTransport | None = None
        self._free: asyncio.Queue[int] | None = None
        self._pending: dict[int, tuple[packet.CoAPacket, asyncio.Future]] = {}

    @property
    def window(self) -> float:
        return self.timeout * (self.retries + 1)

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self._free = asyncio.Queue()
        for ident in range(256):
            self._free.put_nowait(ident)
        await loop.create_datagram_endpoint(
            lambda: self, local_addr=(self.source, 0) if self.source else None,
            remote_addr=(self.address, self.port))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # -- asyncio.DatagramProtocol --------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        if len(data) < 20:
            return
        entry = self._pending.get(data[1])
        if entry is None:
            return
        request, future = entry
        try:
            reply = request.CreateReply(packet=data)
        except packet.PacketError:
            return
        # A forged or stray answer (wrong authenticator) is ignored: the request keeps waiting.
        if not request.VerifyReply(reply, data) or future.done():
            return
        future.set_result(reply)

    def error_received(self, exc: Exception) -> None:
        # ICMP unreachable on the connected socket: every request waiting sees it as an error.
        for _, future in self._pending.values():
            if not future.done():
                future.set_exception(exc)

    # -- one request ---------------------------------------------------------------------------
    def _build(self, ident: int, session: Session,
               change: tuple[tuple[str, object], ...]) -> packet.CoAPacket:
        attributes = {"Event_Timestamp": int(time.time())}
        if session.username:
            attributes["User_Name"] = session.username
        if session.session_id:
            attributes["Acct_Session_Id"] = session.session_id
        if session.framed_ip:
            attributes["Framed_IP_Address"] = session.framed_ip
        for name, value in change:
            attributes[name.replace("-", "_")] = value
        return packet.CoAPacket(code=packet.CoARequest if change else packet.DisconnectRequest,
                                id=ident, secret=self.secret, dict=self.dictionary,
                                message_authenticator=True, **attributes)

    async def disconnect(self, session: Session) -> Outcome:
        """Send one Disconnect-Request (with its retransmissions) and classify the answer."""
        return await self.request(session)

    async def request(self, session: Session,
                      change: tuple[tuple[str, object], ...] = ()) -> Outcome:
        """Send one Disconnect-Request, or a CoA-Request carrying the attributes of ``change``
        (``(("Session-Timeout", 1800),)``), with its retransmissions, and classify the
        answer: ack, nak (with its Error-Cause), timeout or error."""
        ident = await self._free.get()
        loop = asyncio.get_running_loop()
        try:
            request = self._build(ident, session, change)
            raw = request.RequestPacket()
            future = loop.create_future()
            self._pending[ident] = (request, future)
            reply = None
            for _ in range(self.retries + 1):
                self.transport.sendto(raw)
                try:
                    reply = await asyncio.wait_for(asyncio.shield(future), self.timeout)
                    break
                except TimeoutError:
                    continue
            if reply is None:
                return Outcome("timeout", detail=f"no answer from {self.address}:{self.port} "
                                                 f"in {self.window:g} s")
        except (OSError, packet.PacketError) as exc:
            return Outcome("error", detail=f"{type(exc).__name__}: {exc}")
        finally:
            self._pending.pop(ident, None)
            self._free.put_nowait(ident)
        cause = reply["Error-Cause"][0] if "Error-Cause" in reply else None
        if isinstance(cause, bytes):
            cause = int.from_bytes(cause, "big")
        if reply.code == (packet.CoAACK if change else packet.DisconnectACK):
            return Outcome("ack", cause)
        if reply.code == (packet.CoANAK if change else packet.DisconnectNAK):
            return Outcome("nak", cause, ERROR_CAUSES.get(cause))
        return Outcome("error", cause, f"unexpected reply code {reply.code}")


def disconnect(nas: str, port: int, secret: str, *, username: str | None,
               session_id: str | None, framed_ip: str | None, timeout: float = 3.0,
               retries: int = 2, source: str | None = None) -> Outcome:
    """One Disconnect-Request, synchronously (for a manual check)."""
    async def run() -> Outcome:
        channel = RouterChannel(nas, port, secret, source=source, timeout=timeout,
                                retries=retries)
        await channel.open()
        try:
            return await channel.disconnect(Session(username, session_id, framed_ip))
        finally:
            channel.close()
    return asyncio.run(run())


# --------------------------------------------------------------------------------------------
# Many sessions on many routers


@dataclass(frozen=True)
class Router:
    """Where and how to reach one router's Disconnect listener."""

    name: str
    address: str
    port: int
    secret: str
    source: str | None = None


def router_for(config: Config, name: str | None, nas: str, port: int = 3799) -> Router | None:
    """A router as the jobs reach it (enforce, workstations' CoA, urgent revocation, smoke):
    quota.toml's entry for it (by roster name, else NAS address) gives the secret and may
    override the address, the port (else the roster's coa_port) and the source address (else
    enforce.source_address). None when quota.toml has no secret for it."""
    secret = config.router(name, nas)
    if secret is None:
        return None
    return Router(name or nas, secret.address or nas, secret.coa_port or port, secret.secret,
                  secret.source_address or config.coa_source)


@dataclass(frozen=True)
class Work:
    """One session to end (a Disconnect-Request), or to change when ``change`` holds
    attributes (a CoA-Request): ``key`` is its radacctid."""

    key: int
    router: str
    session: Session
    change: tuple[tuple[str, object], ...] = ()


@dataclass
class RouterReport:
    sent: int = 0
    ack: int = 0
    nak: int = 0
    timeout: int = 0
    error: int = 0
    closed: int = 0  # closed since the list was made: done, nothing sent
    skipped: int = 0  # left because the router was marked unreachable
    deferred: int = 0  # left because the run's time budget was used up
    unreachable: bool = False

    @property
    def failed(self) -> int:
        return self.nak + self.timeout + self.error


@dataclass(frozen=True)
class Limits:
    """How the jobs send: quota.toml's ``[enforce]`` timeout, retries, concurrency,
    per_router and unreachable_after (:attr:`captiva.runtime.jobs_config.Config.coa`)."""

    timeout: float = 3.0
    retries: int = 2
    concurrency: int = 256
    per_router: int = 32
    unreachable_after: int = 5

    @property
    def window(self) -> float:
        return self.timeout * (self.retries + 1)


async def dispatch(routers: dict[str, Router], work: list[Work], *, limits: Limits,
                   deadline: float, still_open, record) -> dict[str, RouterReport]:
    """End (or change, with a CoA-Request) the sessions of ``work``, each router served
    concurrently and on its own.

    - At most ``limits.per_router`` requests in flight per router, ``limits.concurrency`` in
      all.
    - ``still_open(keys) -> set`` is asked just before sending a few sessions: those it does
      not return were closed meanwhile and are done.
    - ``record(work, outcome)`` is called once per answered (or failed) request.
    - After a failure (timeout or error: no answer) a router gets no new request until the
      ones in flight are over; ``limits.unreachable_after`` failures in a row mark it
      unreachable and its remaining sessions are skipped. A silent router thus costs one
      window (``timeout * (retries + 1)``) for all its sessions together.
    - No request starts unless its window ends before ``deadline`` (``time.monotonic()``);
      the sessions left are ``deferred`` to the next run.
    """
    overall = asyncio.Semaphore(limits.concurrency)
    by_router: dict[str, list[Work]] = {}
    for item in work:
        by_router.setdefault(item.router, []).append(item)
    reports = {name: RouterReport() for name in by_router}
    await asyncio.gather(*(
        _serve_router(routers[name], items, reports[name], limits, overall, deadline,
                      still_open, record)
        for name, items in by_router.items()))
    return reports


async def _serve_router(router: Router, items: list[Work], report: RouterReport,
                        limits: Limits, overall: asyncio.Semaphore, deadline: float,
                        still_open, record) -> None:
    channel = RouterChannel(router.address, router.port, router.secret, source=router.source,
                            timeout=limits.timeout, retries=limits.retries)
    try:
        await channel.open()
    except OSError as exc:
        outcome = Outcome("error", detail=f"cannot open a socket to {router.address}:"
                                          f"{router.port}: {exc}")
        for item in items:
            record(item, outcome)
        report.error, report.unreachable = len(items), True
        return
    queue = list(reversed(items))  # pop() from the end: the listed order
    in_flight: set[asyncio.Task] = set()
    streak = 0  # failures in a row
    draining = False  # after a failure: nothing new until the requests in flight are over

    async def send(item: Work) -> tuple[Work, Outcome]:
        try:
            return item, await channel.request(item.session, item.change)
        finally:
            overall.release()

    try:
        while queue or in_flight:
            # While failing, one request at a time until one is answered.
            room = (1 if streak else limits.per_router) - len(in_flight)
            fits = time.monotonic() + limits.window <= deadline
            if queue and room > 0 and not draining and fits and not report.unreachable:
                await overall.acquire()
                slots = 1
                while slots < min(room, len(queue)) and not overall.locked():
                    await overall.acquire()
                    slots += 1
                chunk = [queue.pop() for _ in range(min(slots, len(queue)))]
                open_now = still_open([item.key for item in chunk])
                for item in chunk:
                    if item.key in open_now:
                        report.sent += 1
                        in_flight.add(asyncio.create_task(send(item)))
                    else:
                        report.closed += 1
                        overall.release()
                for _ in range(slots - len(chunk)):
                    overall.release()
                continue
            if not in_flight:
                break  # nothing may start: unreachable, or out of time
            done, in_flight = await asyncio.wait(in_flight,
                                                 return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                item, outcome = task.result()
                record(item, outcome)
                setattr(report, outcome.result, getattr(report, outcome.result) + 1)
                failed = outcome.result in ("timeout", "error")
                streak = streak + 1 if failed else 0
                draining = draining or failed
            if streak >= limits.unreachable_after:
                report.unreachable = True
            if not in_flight:
                draining = False
    finally:
        channel.close()
    if report.unreachable:
        report.skipped = len(queue)
    else:
        report.deferred = len(queue)
