#!/usr/bin/env python3
"""The HA probe: a router's RADIUS traffic during a failure test (docs/ha.md).

Runs in the router container's network namespace (tests/ha/lab.py starts it with nsenter),
so requests come from the router's address, with the router's secret (read from stdin,
never on a command line). Every ``--interval`` seconds it sends one login (Access-Request,
PAP) and one accounting record (Accounting-Request Start, a new Acct-Session-Id each),
each as the router does with several RADIUS servers: to the first server, and on no answer
within ``--timeout`` to the next one, in order. An accounting record is retransmitted
(same session, next server) for ``--acct-rounds`` rounds of every server before it counts
as unanswered, as a router keeps it queued.

Each login carries its own Calling-Station-Id (``--mac-prefix`` and the login's number), so
the test can find each accepted login's radpostauth row. With vouchers (codes on stdin, on
the line after the secret: never on a command line nor in the report), one voucher login
more every ``--voucher-every`` seconds from ``--voucher-from`` on, the codes in turn: the
first pass over the list makes each code's first use fall at a known time.

It stops after ``--duration`` seconds (or on SIGTERM) and prints one JSON report:
  logins: sent, accepted, rejected, unanswered, each with the send times (seconds from
          the start) of the rejected and unanswered ones, answers per server, and the
          Calling-Station-Ids of the accepted ones;
  accounting: sent, the session ids acknowledged, and those never acknowledged;
  vouchers: sent, accepted, rejected, unanswered, and per code (by its index in the list,
          never the code) the time of its first Access-Accept.

usage: probe.py --servers A,B --user U --password P --acct-user U --run RUN
                [--interval 0.1] [--duration 60] [--timeout 1.0]
                [--vouchers N --voucher-from S --voucher-every S]   (secret, codes on stdin)
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pyrad import packet
from pyrad.client import Client, Timeout
from pyrad.dictionary import Dictionary

DICTIONARY_DIR = Path("/usr/share/freeradius")
DICTIONARIES = ("rfc2865", "rfc2866", "rfc2869", "rfc3576", "mikrotik")


class Probe:
    def __init__(self, args: argparse.Namespace, secret: bytes,
                 vouchers: list[str] | None = None) -> None:
        self.args = args
        self.secret = secret
        self.vouchers = vouchers or []
        self.servers = args.servers.split(",")
        self.dictionary = Dictionary(*(str(DICTIONARY_DIR / f"dictionary.{name}")
                                       for name in DICTIONARIES))
        self.lock = threading.Lock()
        self.start = time.monotonic()
        self.logins = {"sent": 0, "accepted": 0, "rejected": 0, "unanswered": 0,
                       "rejected_at": [], "unanswered_at": [], "answered_by": {}}
        self.logins["accepted_ids"] = []
        self.accounting = {"sent": 0, "acknowledged": [], "unanswered": [], "answered_by": {}}
        self.voucher_logins = {"sent": 0, "accepted": 0, "rejected": 0, "unanswered": 0,
                               "rejected_at": [], "unanswered_at": [], "first_accept_at": {}}

    def client(self, server: str) -> Client:
        client = Client(server=server, secret=self.secret, dict=self.dictionary,
                        timeout=self.args.timeout, retries=1)
        if self.args.source:
            client.bind((self.args.source, 0))
        return client

    def now(self) -> float:
        return round(time.monotonic() - self.start, 3)

    def mac(self, number: int) -> str:
        return f"{self.args.mac_prefix}:{number >> 16 & 0xFF:02X}:{number >> 8 & 0xFF:02X}:" \
               f"{number & 0xFF:02X}"

    def authenticate(self, user: str, password: str, mac: str) -> tuple[str, int] | None:
        """Send one Access-Request as the router does: (server, reply code) of the first
        server that answers, None when none did. Each attempt's Called-Station-Id names it
        (``probe-<n>``, n the server's rank): a server that answers too late still records
        the request it was sent, and the test tells that row from a doubled one."""
        for rank, server in enumerate(self.servers, 1):
            client = self.client(server)
            request = client.CreateAuthPacket(code=packet.AccessRequest, User_Name=user,
                                              NAS_IP_Address=self.args.nas_address,
                                              Calling_Station_Id=mac,
                                              Called_Station_Id=f"probe-{rank}",
                                              message_authenticator=True)
            request["User-Password"] = request.PwCrypt(password)
            try:
                reply = client.SendPacket(request)
            except Timeout:
                continue
            finally:
                client._CloseSocket()  # noqa: SLF001  (pyrad has no public close)
            return server, reply.code
        return None

    def login(self, number: int) -> None:
        sent_at = self.now()
        mac = self.mac(number)
        answer = self.authenticate(self.args.user, self.args.password, mac)
        with self.lock:
            if answer is None:
                self.logins["unanswered"] += 1
                self.logins["unanswered_at"].append(sent_at)
                return
            server, code = answer
            by = self.logins["answered_by"]
            by[server] = by.get(server, 0) + 1
            if code == packet.AccessAccept:
                self.logins["accepted"] += 1
                self.logins["accepted_ids"].append(mac)
            else:
                self.logins["rejected"] += 1
                self.logins["rejected_at"].append(sent_at)

    def voucher_login(self, number: int) -> None:
        sent_at = self.now()
        index = number % len(self.vouchers)
        code = self.vouchers[index]
        answer = self.authenticate(code, code, self.mac(0xF00000 + number))
        with self.lock:
            found = self.voucher_logins
            if answer is None:
                found["unanswered"] += 1
                found["unanswered_at"].append(sent_at)
            elif answer[1] == packet.AccessAccept:
                found["accepted"] += 1
                found["first_accept_at"].setdefault(str(index), sent_at)
            else:
                found["rejected"] += 1
                found["rejected_at"].append(sent_at)

    def account(self, number: int) -> None:
        session_id = f"{self.args.run}-{number:06d}"
        for _round in range(self.args.acct_rounds):
            for server in self.servers:
                client = self.client(server)
                request = client.CreateAcctPacket(User_Name=self.args.acct_user,
                                                  Acct_Status_Type="Start",
                                                  Acct_Session_Id=session_id,
                                                  NAS_IP_Address=self.args.nas_address)
                try:
                    reply = client.SendPacket(request)
                except Timeout:
                    continue
                finally:
                    client._CloseSocket()  # noqa: SLF001  (pyrad has no public close)
                if reply.code == packet.AccountingResponse:
                    with self.lock:
                        self.accounting["acknowledged"].append(session_id)
                        by = self.accounting["answered_by"]
                        by[server] = by.get(server, 0) + 1
                    return
        with self.lock:
            self.accounting["unanswered"].append(session_id)

    def run(self, stop: threading.Event) -> dict:
        number = voucher = 0
        # Enough threads for every request of the longest outage the probe reports on: a
        # record retried for all its rounds holds a thread for rounds x servers x timeout.
        with ThreadPoolExecutor(max_workers=self.args.workers) as pool:
            while not stop.is_set() and time.monotonic() - self.start < self.args.duration:
                tick = self.start + number * self.args.interval
                delay = tick - time.monotonic()
                if delay > 0 and stop.wait(delay):
                    break
                pool.submit(self.login, number)
                pool.submit(self.account, number)
                self.logins["sent"] += 1
                self.accounting["sent"] += 1
                number += 1
                voucher_tick = self.args.voucher_from + voucher * self.args.voucher_every
                if self.vouchers and time.monotonic() - self.start >= voucher_tick:
                    pool.submit(self.voucher_login, voucher)
                    self.voucher_logins["sent"] += 1
                    voucher += 1
        return {"duration": self.now(), "interval": self.args.interval,
                "servers": self.servers, "logins": self.logins, "accounting": self.accounting,
                "vouchers": self.voucher_logins}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", required=True, help="RADIUS servers in order, a,b")
    parser.add_argument("--source", default="", help="address to send from (the router's)")
    parser.add_argument("--nas-address", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--acct-user", required=True)
    parser.add_argument("--run", required=True, help="prefix of this run's Acct-Session-Ids")
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--acct-rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=64, help="requests in flight at most")
    parser.add_argument("--mac-prefix", default="02:00:00",
                        help="first 3 octets of each login's Calling-Station-Id")
    parser.add_argument("--vouchers", type=int, default=0,
                        help="number of voucher codes on stdin, after the secret")
    parser.add_argument("--voucher-from", type=float, default=0.0)
    parser.add_argument("--voucher-every", type=float, default=0.5)
    args = parser.parse_args()
    secret = sys.stdin.readline().strip().encode()
    vouchers = [sys.stdin.readline().strip() for _ in range(args.vouchers)]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    report = Probe(args, secret, vouchers).run(stop)
    json.dump(report, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
