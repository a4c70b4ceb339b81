"""``captiva-quota retention``: closed sessions and post-auth rows leave the live tables for
their monthly history (or are purged), the history and the console's rows expire
(docs/quota.md, "Retention")."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from psycopg import sql

from captiva.quota import Printer
from captiva.runtime.jobs_config import Config

log = logging.getLogger("captiva.quota")


def _columns(conn, table: str) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
        (table,)).fetchall()]


def _move_batches(conn, table: str, key: str, closed: sql.Composable, cutoff: dt.datetime,
                  config: Config, deadline: float | None = None) -> int:
    """Move (archive) or delete (purge) rows of ``table`` matching ``closed``, in batches."""
    history = f"{table}_history"
    kept = set(_columns(conn, history))  # read once, not once per column of the table
    columns = [c for c in _columns(conn, table) if c in kept]
    column_list = sql.SQL(", ").join(map(sql.Identifier, columns))
    picked = sql.SQL("SELECT {key} FROM {table} WHERE {closed} ORDER BY {key} LIMIT %(n)s").format(
        key=sql.Identifier(key), table=sql.Identifier(table), closed=closed)
    if config.retention_mode == "archive":
        statement = sql.SQL(
            "WITH moved AS (DELETE FROM {table} WHERE {key} IN ({picked}) AND {closed} "
            "RETURNING {columns}) "
            "INSERT INTO {history} ({columns}) SELECT {columns} FROM moved").format(
            table=sql.Identifier(table), key=sql.Identifier(key), picked=picked, closed=closed,
            columns=column_list, history=sql.Identifier(history))
    else:
        statement = sql.SQL("DELETE FROM {table} WHERE {key} IN ({picked}) AND {closed}").format(
            table=sql.Identifier(table), key=sql.Identifier(key), picked=picked, closed=closed)
    total = 0
    while True:
        count = conn.execute(statement, {"cutoff": cutoff, "n": config.batch_size}).rowcount
        conn.commit()
        total += count
        if count < config.batch_size:
            return total
        if deadline is not None and time.monotonic() > deadline:
            log.warning("retention: time budget used up after %d rows of %s; the next run "
                        "goes on", total, table)
            return total


# The history tables partitioned by month (functions/54_history_partitions.sql), in the order
# of their live tables' cutoffs below: radacct's, then radpostauth's.
HISTORIES = ("radacct_history", "radpostauth_history")


def _history_function(verb: str) -> sql.Composed:
    """``SELECT * FROM captiva_history_<verb>(history, ...)`` (functions/54_history_partitions):
    prepare takes the live table's cutoff and now, expired and drop the history cutoff."""
    arguments = "%s, %s, %s" if verb == "prepare" else "%s, %s"
    return sql.SQL("SELECT * FROM {}({})").format(
        sql.Identifier(f"captiva_history_{verb}"), sql.SQL(arguments))


def retention(conn, config: Config, now: dt.datetime, dry_run: bool = False,
              out: Printer = print, deadline: float | None = None) -> dict[str, Any]:
    """Closed sessions and post-auth rows older than their retention leave the hot tables.

    ``archive`` moves them to ``*_history`` (same transaction per batch: a row is in exactly
    one table), ``purge`` deletes them. Open sessions are never touched. Usage totals live in
    captiva_usage_daily and are not affected.

    radacct_history is partitioned by month of the stop time (migration 0130),
    radpostauth_history by month of authdate (0180): before moving, the partitions the rows
    need are created (captiva_history_prepare); with ``history_days``, the months that
    ended before the history cutoff are dropped whole (captiva_history_drop), not deleted
    row by row.
    """
    acct_cutoff = now - dt.timedelta(days=config.radacct_days)
    auth_cutoff = now - dt.timedelta(days=config.radpostauth_days)
    acct_closed = sql.SQL("acctstoptime IS NOT NULL AND acctstoptime < %(cutoff)s")
    auth_closed = sql.SQL("authdate < %(cutoff)s")
    if dry_run:
        acct = conn.execute(sql.SQL("SELECT count(*) FROM radacct WHERE {}").format(acct_closed),
                            {"cutoff": acct_cutoff}).fetchone()[0]
        auth = conn.execute(sql.SQL("SELECT count(*) FROM radpostauth WHERE {}").format(
            auth_closed), {"cutoff": auth_cutoff}).fetchone()[0]
        expired = []
        if config.retention_mode == "archive" and config.history_days > 0:
            cutoff = now - dt.timedelta(days=config.history_days)
            for history in HISTORIES:
                expired += [r[0] for r in conn.execute(
                    _history_function("expired"), (history, cutoff))]
        conn.rollback()
        verb = "move to history" if config.retention_mode == "archive" else "delete"
        out(f"would {verb}: {acct} radacct rows closed before {acct_cutoff.isoformat()}, "
            f"{auth} radpostauth rows before {auth_cutoff.isoformat()}")
        if expired:
            out(f"would drop history partitions: {', '.join(expired)}")
        return {"radacct": 0, "radpostauth": 0, "would_radacct": acct, "would_radpostauth": auth,
                "would_drop": expired, "failed": 0}
    if config.retention_mode == "archive":
        created = []
        for history, cutoff in zip(HISTORIES, (acct_cutoff, auth_cutoff), strict=True):
            created += [r[0] for r in conn.execute(
                _history_function("prepare"), (history, cutoff, now)).fetchall()]
            conn.commit()
        if created:
            log.info("retention: created partitions %s", ", ".join(created))
    summary = {
        "radacct": _move_batches(conn, "radacct", "radacctid", acct_closed, acct_cutoff, config,
                                 deadline),
        "radpostauth": _move_batches(conn, "radpostauth", "id", auth_closed, auth_cutoff,
                                     config, deadline),
        "failed": 0,
    }
    summary["console"] = _console_retention(conn, now - dt.timedelta(days=config.audit_days))
    if config.retention_mode == "archive" and config.history_days > 0:
        cutoff = now - dt.timedelta(days=config.history_days)
        dropped = []
        for history in HISTORIES:
            dropped += conn.execute(_history_function("drop"), (history, cutoff)).fetchall()
            conn.commit()
        summary["history_partitions_dropped"] = [
            name for name, _ in dropped if not name.endswith("_default")]
        # the rows of the default partitions, deleted one by one (normally none)
        summary["history_purged"] = sum(
            rows for name, rows in dropped if name.endswith("_default"))
    log.info("retention (%s): %s", config.retention_mode, summary)
    return summary


def _console_retention(conn, cutoff: dt.datetime) -> int:
    """The portal console's rows (migration 0110), kept ``retention.audit_days``: audit rows,
    grants expired and disconnect requests made before ``cutoff``. Audit rows go through
    ``captiva_audit_expire``, which keeps 30 days whatever the cutoff (migration 0140)."""
    deleted = conn.execute("SELECT captiva_audit_expire(%s)", (cutoff,)).fetchone()[0]
    for statement in ("DELETE FROM captiva_quota_grant WHERE expires_at < %s",
                      "DELETE FROM captiva_console_disconnect WHERE requested_at < %s"):
        deleted += conn.execute(statement, (cutoff,)).rowcount
    conn.commit()
    return deleted
