"""Open- and closed-loop RADIUS load from several processes (asyncio + uvloop).

A :class:`Workload` is split over ``processes`` worker processes: worker ``w`` sends the
requests ``w, w + P, w + 2P, ...``, so consecutive requests go to distinct users. Each worker
runs one uvloop event loop with as many UDP sockets as it needs identifiers (256 a socket)
and either

- offers a fixed rate (open loop: requests leave on schedule whatever the server does, so
  queueing shows up as latency and loss), or
- keeps a fixed number of requests in flight (closed loop: the server's capacity).

A request without a valid reply within ``timeout`` is lost (no retransmission). Each worker
also measures its own CPU, so the report says how far the generator is from being the
bottleneck.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import socket
import statistics
import struct
import time
from array import array
from collections import Counter, deque
from dataclasses import dataclass, field

from . import codec

IDS_PER_SOCKET = 256


@dataclass(frozen=True)
class Workload:
    """What to send. ``kind`` is "auth" (Access-Request) or "acct" (Interim-Update).

    auth: ``users`` are (username, password) pairs, PAP or, with ``chap``, CHAP.
    acct: ``users`` are (username, Acct-Session-Id) pairs; request ``i`` is round
    ``i // len(users)`` of its session, with totals and Event-Timestamp growing each round.
    """

    kind: str
    server: tuple[str, int]
    secret: bytes
    users: list[tuple[str, str]]
    count: int
    rate: float | None = None  # requests/s offered in total (open loop); None: closed loop
    window: int = 64  # requests in flight in total (closed loop)
    timeout: float = 2.0
    # Retransmissions of an unanswered request, each after ``timeout``, the same bytes (same
    # identifier and authenticator, RFC 5080 2.2.1), as a NAS does; lost: unanswered after all.
    retries: int = 0
    source: str = "127.0.0.1"
    nas_ip: str = "127.0.0.1"
    chap: bool = False
    event_timestamp: int = 0  # acct: Event-Timestamp of round 0
    interim_interval: int = 300  # acct: seconds between two rounds
    offset: int = 0  # first request index (to continue a sequence in a later run)
    # auth: one Calling-Station-Id for every request (one device); None: one MAC per user
    calling_station: str | None = None


@dataclass
class WorkerResult:
    latencies: array = field(default_factory=lambda: array("d"))
    sent: int = 0
    lost: int = 0
    retransmitted: int = 0
    invalid: int = 0
    codes: Counter = field(default_factory=Counter)
    first_send: float = 0.0
    last_reply: float = 0.0
    cpu: float = 0.0
    max_lag: float = 0.0  # open loop: worst delay of a send behind its schedule


@dataclass
class Report:
    """The merged result of a run."""

    kind: str
    offered_rate: float | None
    sent: int
    answered: int
    lost: int
    invalid: int
    codes: dict[str, int]
    elapsed: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    generator_cpu: float
    max_lag_ms: float
    first_send: float = 0.0  # time.perf_counter() (CLOCK_MONOTONIC: the same in every process)
    last_reply: float = 0.0
    retransmitted: int = 0

    @property
    def rate(self) -> float:
        """Answered requests per second of wall time (first send to last reply)."""
        return self.answered / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def generator_capacity(self) -> float:
        """Requests the generator could send per CPU-second (per core)."""
        return self.sent / self.generator_cpu if self.generator_cpu > 0 else float("inf")

    def summary(self) -> str:
        offered = f"{self.offered_rate:,.0f}/s offered" if self.offered_rate else "closed loop"
        codes = ", ".join(f"{name} {count}" for name, count in sorted(self.codes.items()))
        return (f"{self.kind}: {offered}, {self.sent} sent, {self.rate:,.0f}/s answered, "
                f"lost {self.lost}"
                + (f" ({self.retransmitted} retransmitted)" if self.retransmitted else "")
                + f", invalid {self.invalid}; latency p50 {self.p50_ms:.2f} ms, "
                f"p99 {self.p99_ms:.2f} ms, max {self.max_ms:.2f} ms; {codes}; generator "
                f"{self.generator_capacity:,.0f} req per CPU-s, worst send lag "
                f"{self.max_lag_ms:.1f} ms")


CODE_NAMES = {codec.ACCESS_ACCEPT: "accept", codec.ACCESS_REJECT: "reject",
              codec.ACCOUNTING_RESPONSE: "acct-response"}


def _mac(index: int) -> str:
    return "02:" + ":".join(f"{b:02X}" for b in struct.pack("!I", index & 0xFFFFFFFF)) + ":01"


class _Builder:
    """Encodes request ``i`` of a workload."""

    def __init__(self, work: Workload):
        self.work = work
        self.static: dict[int, bytes] = {}
        self.common = (codec.address(codec.NAS_IP_ADDRESS, work.nas_ip)
                       + codec.integer(codec.NAS_PORT_TYPE, codec.WIRELESS_80211)
                       + codec.attribute(codec.CALLED_STATION_ID, b"captiva-bench"))

    def build(self, index: int, identifier: int) -> tuple[bytes, bytes]:
        work = self.work
        user_index = index % len(work.users)
        username, value = work.users[user_index]
        if work.kind == "auth":
            static = self.static.get(user_index)
            if static is None:
                static = (codec.attribute(codec.USER_NAME, username.encode()) + self.common
                          + codec.attribute(codec.CALLING_STATION_ID,
                                            (work.calling_station or _mac(user_index)).encode()))
                self.static[user_index] = static
            return codec.access_request(identifier, work.secret, static, value.encode(),
                                        chap=work.chap)
        round_ = index // len(work.users) + 1
        total = round_ * 3_000_000 + user_index
        attributes = (
            codec.integer(codec.ACCT_STATUS_TYPE, codec.STATUS_INTERIM)
            + codec.attribute(codec.USER_NAME, username.encode())
            + codec.attribute(codec.ACCT_SESSION_ID, value.encode())
            + codec.address(codec.NAS_IP_ADDRESS, work.nas_ip)
            + codec.address(codec.FRAMED_IP_ADDRESS,
                            socket.inet_ntoa(struct.pack("!I", 0x0A400000 + user_index)))
            + codec.attribute(codec.CALLING_STATION_ID, _mac(user_index).encode())
            + codec.integer(codec.ACCT_INPUT_OCTETS, total & 0xFFFFFFFF)
            + codec.integer(codec.ACCT_INPUT_GIGAWORDS, total >> 32)
            + codec.integer(codec.ACCT_OUTPUT_OCTETS, (total * 4) & 0xFFFFFFFF)
            + codec.integer(codec.ACCT_OUTPUT_GIGAWORDS, (total * 4) >> 32)
            + codec.integer(codec.ACCT_SESSION_TIME, round_ * work.interim_interval)
            + codec.integer(codec.EVENT_TIMESTAMP,
                            work.event_timestamp + round_ * work.interim_interval))
        return codec.accounting_request(identifier, work.secret, attributes)


class _Socket(asyncio.DatagramProtocol):
    def __init__(self, worker: _Worker, number: int):
        self.worker = worker
        self.number = number
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.worker.received(self.number, data)

    def error_received(self, exc):  # ICMP port unreachable: the request is lost
        pass


class _Worker:
    def __init__(self, work: Workload, number: int, processes: int, start_at: float):
        self.work = work
        self.indices = range(work.offset + number, work.offset + work.count, processes)
        self.rate = work.rate / processes if work.rate else None
        self.window = max(1, work.window // processes)
        self.start_at = start_at
        self.builder = _Builder(work)
        self.result = WorkerResult()
        self.pending: dict[tuple[int, int], tuple[float, bytes]] = {}
        self.free: list[tuple[int, int]] = []
        self.resting: deque[tuple[float, tuple[int, int]]] = deque()
        self.sockets: list[_Socket] = []
        self.next = 0
        self.done: asyncio.Event | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        in_flight = (self.rate * self.work.timeout * 2.5 + 64) if self.rate else 2 * self.window
        for number in range(max(1, -(-int(in_flight) // IDS_PER_SOCKET))):
            _, protocol = await loop.create_datagram_endpoint(
                lambda n=number: _Socket(self, n), local_addr=(self.work.source, 0),
                remote_addr=self.work.server)
            self.sockets.append(protocol)
            self.free.extend((number, ident) for ident in range(IDS_PER_SOCKET))
        self.free.reverse()

    def send_next(self) -> bool:
        if self.next >= len(self.indices) or not self.free:
            return False
        key = self.free.pop()
        data, authenticator = self.builder.build(self.indices[self.next], key[1])
        self.next += 1
        now = time.perf_counter()
        if not self.result.sent:
            self.result.first_send = now
        # (last sent, first sent, authenticator, packet, retransmissions left)
        self.pending[key] = (now, now, authenticator, data, self.work.retries)
        self.sockets[key[0]].transport.sendto(data)
        self.result.sent += 1
        return True

    def received(self, number: int, data: bytes) -> None:
        if len(data) < 20:
            return
        key = (number, data[1])
        entry = self.pending.get(key)
        if entry is None:
            return  # a reply after its request timed out
        _, sent_at, authenticator, _, _ = entry
        if not codec.reply_valid(data, authenticator, self.work.secret):
            self.result.invalid += 1
            return
        now = time.perf_counter()
        del self.pending[key]
        self.free.append(key)
        self.result.latencies.append(now - sent_at)
        self.result.codes[CODE_NAMES.get(data[0], str(data[0]))] += 1
        self.result.last_reply = now
        self.completed()

    def completed(self) -> None:
        if self.rate is None:
            self.send_next()
        if self.next >= len(self.indices) and not self.pending:
            self.done.set()

    async def expire(self) -> None:
        while not self.done.is_set():
            await asyncio.sleep(0.05)
            now = time.perf_counter()
            limit = now - self.work.timeout
            # An identifier that timed out rests for another timeout before reuse, so a late
            # reply is not taken for the answer to a new request.
            while self.resting and self.resting[0][0] < limit:
                self.free.append(self.resting.popleft()[1])
            expired = 0
            retry = []
            while self.pending:
                key = next(iter(self.pending))
                if self.pending[key][0] > limit:
                    break
                _, first, authenticator, data, left = self.pending.pop(key)
                if left:
                    retry.append((key, (now, first, authenticator, data, left - 1)))
                    continue
                self.resting.append((now, key))
                expired += 1
            for key, entry in retry:  # re-inserted last: the dict stays in send order
                self.pending[key] = entry
                self.sockets[key[0]].transport.sendto(entry[3])
            self.result.retransmitted += len(retry)
            self.result.lost += expired
            if self.rate is None:  # closed loop: refill the window
                while len(self.pending) < self.window and self.send_next():
                    pass
            if self.next >= len(self.indices) and not self.pending:
                self.done.set()

    async def offer(self) -> None:
        """Open loop: send request k at start + k / rate."""
        start = time.perf_counter()
        total = len(self.indices)
        while self.next < total:
            now = time.perf_counter()
            due = min(total, int((now - start) * self.rate) + 1)
            if due > self.next:
                self.result.max_lag = max(self.result.max_lag,
                                          now - (start + self.next / self.rate))
            while self.next < due and self.send_next():
                pass
            await asyncio.sleep(0.001)
        if not self.pending:
            self.done.set()

    async def run(self) -> WorkerResult:
        self.done = asyncio.Event()
        await self.open()
        await asyncio.sleep(max(0.0, self.start_at - time.time()))
        cpu = time.process_time()
        if not self.indices:
            self.done.set()
        elif self.rate is None:
            for _ in range(self.window):
                if not self.send_next():
                    break
        else:
            asyncio.get_running_loop().create_task(self.offer())
        expiry = asyncio.get_running_loop().create_task(self.expire())
        await self.done.wait()
        await expiry
        self.result.cpu = time.process_time() - cpu
        for sock in self.sockets:
            sock.transport.close()
        return self.result


def _worker_main(work: Workload, number: int, processes: int, start_at: float, conn) -> None:
    try:
        import uvloop
    except ImportError:  # plain asyncio still works, only slower
        uvloop = None
    worker = _Worker(work, number, processes, start_at)
    result = (uvloop.run if uvloop is not None else asyncio.run)(worker.run())
    conn.send(result)
    conn.close()


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(work: Workload, processes: int | None = None) -> Report:
    """Send ``work`` from ``processes`` worker processes (default: one per core, at most 4)."""
    if work.kind not in ("auth", "acct"):
        raise ValueError(f"workload kind {work.kind!r}: expected 'auth' or 'acct'")
    if not work.users:
        raise ValueError("workload without users")
    processes = processes or min(4, os.cpu_count() or 1)
    context = multiprocessing.get_context("fork")
    start_at = time.time() + 0.3
    children = []
    for number in range(processes):
        parent_end, child_end = context.Pipe(duplex=False)
        process = context.Process(target=_worker_main,
                                  args=(work, number, processes, start_at, child_end))
        process.start()
        child_end.close()
        children.append((process, parent_end))
    results = []
    for process, conn in children:
        results.append(conn.recv())
        process.join()
    latencies = sorted(value for result in results for value in result.latencies)
    codes: Counter = Counter()
    for result in results:
        codes.update(result.codes)
    sent = [result for result in results if result.sent]
    elapsed = (max(result.last_reply for result in sent) - min(result.first_send
                                                                 for result in sent)
               if sent else 0.0)
    return Report(
        kind=work.kind, offered_rate=work.rate,
        sent=sum(result.sent for result in results), answered=len(latencies),
        lost=sum(result.lost for result in results),
        retransmitted=sum(result.retransmitted for result in results),
        invalid=sum(result.invalid for result in results), codes=dict(codes),
        elapsed=elapsed,
        p50_ms=statistics.median(latencies) * 1e3 if latencies else float("nan"),
        p99_ms=_percentile(latencies, 0.99) * 1e3, max_ms=(latencies[-1] * 1e3
                                                            if latencies else float("nan")),
        generator_cpu=sum(result.cpu for result in results),
        max_lag_ms=max(result.max_lag for result in results) * 1e3,
        first_send=min((result.first_send for result in sent), default=0.0),
        last_reply=max((result.last_reply for result in sent), default=0.0),
    )
