"""Accounting survives a database outage: the detail-file buffer replays it, once.

This module stops and restarts the shared PostgreSQL; its own FreeRADIUS (module scope) has
the role's short test delays (sql retry_delay 1 s, buffer retry_interval 4 s).
"""

from __future__ import annotations

import time

import pytest
import radius_fixtures
from pyrad import packet
from radius_fixtures import (
    ROUTER_SECRET,
    message_authenticator_valid,
    postgres_stopped,
    wait_for,
)
from rlm_sql import WRITE_LOG

radius_server = radius_fixtures.radius_server

SESSIONS = 10  # a Start and a Stop each: 20 accounting packets while the database is down



@pytest.fixture(scope="module")
def server(radius_server):
    with radius_server.db.connect() as conn:
        conn.execute(WRITE_LOG)
    return radius_server


def buffered_files(server) -> list[str]:
    """Files of the buffer, in its shards too (sites-available/default chooses one)."""
    return sorted(path.name for path in server.buffer_dir.rglob("*") if path.is_file())


def test_accounting_sent_while_postgres_is_down_lands_once_it_is_back(server):
    with server.db.connect() as conn:
        conn.execute("INSERT INTO radcheck (username, attribute, op, value, managed_by)"
                     " VALUES ('olga', 'Cleartext-Password', ':=', 'olga-Pass-1', 'captiva')")
    sent_before = time.time()
    with postgres_stopped(server.db.server):
        # Logins need the database: rejected (and signed), never accepted.
        reply = server.authenticate("olga", "olga-Pass-1")
        assert reply is not None and reply.code == packet.AccessReject
        assert message_authenticator_valid(reply.raw_packet, reply.request_authenticator,
                                           ROUTER_SECRET.encode())

        for number in range(SESSIONS):
            session_id = f"outage-{number}"
            # Each packet is acknowledged at once: it is safe in the buffer.
            ack = server.account("olga", "Start", session_id,
                                 Framed_IP_Address=f"10.5.60.{number + 1}")
            assert ack.code == packet.AccountingResponse
            ack = server.account("olga", "Stop", session_id, Acct_Session_Time=30 + number,
                                 Acct_Output_Octets=1000 * (number + 1),
                                 Acct_Terminate_Cause="User-Request")
            assert ack.code == packet.AccountingResponse
        assert buffered_files(server), "nothing was buffered"
        # Sharded by session (16 readers replay concurrently); 10 sessions in one shard of
        # 16 would be a 1-in-10^11 chance.
        shards = {path.parent.name for path in server.buffer_dir.rglob("detail-*")}
        assert len(shards) > 1 and "buffer" not in shards, shards
        time.sleep(2)  # the reader keeps retrying while the database is down
    restarted = time.time()

    def closed_sessions():
        with server.db.connect() as conn:
            return conn.execute(
                "SELECT acctsessionid, acctstarttime, acctstoptime, acctsessiontime,"
                " acctoutputoctets FROM radacct WHERE username = 'olga'"
                " AND acctstoptime IS NOT NULL ORDER BY acctsessionid").fetchall()

    rows = wait_for(lambda: len(rows := closed_sessions()) == SESSIONS and rows, timeout=60)
    # The buffer is drained (the reader deletes a file once replayed)...
    wait_for(lambda: not [name for name in buffered_files(server)
                          if name.startswith("detail")], timeout=30)
    time.sleep(2 * 4)  # ... and two reader retry intervals bring no late replay.

    with server.db.connect() as conn:
        all_rows = conn.execute("SELECT acctsessionid FROM radacct"
                                " WHERE username = 'olga'").fetchall()
        writes = conn.execute("SELECT acctsessionid, op, stopped FROM test_radacct_writes"
                              " WHERE acctsessionid LIKE 'outage-%'"
                              " ORDER BY acctsessionid, stopped").fetchall()
    assert sorted(all_rows) == sorted((f"outage-{n}",) for n in range(SESSIONS))
    # One insert (Start) and one update (Stop) per session: none lost, none twice.
    assert writes == [(f"outage-{n}", op, stopped)
                      for n in sorted(range(SESSIONS), key=lambda n: f"outage-{n}")
                      for op, stopped in (("INSERT", False), ("UPDATE", True))]
    by_session = {row[0]: row for row in rows}
    for number in range(SESSIONS):
        session_id, started, stopped, session_time, output = by_session[f"outage-{number}"]
        assert session_time == 30 + number and output == 1000 * (number + 1)
        # The replay keeps the time the packet was received, not the time it was written.
        assert sent_before - 1 <= started.timestamp() <= restarted
        assert stopped.timestamp() <= restarted
