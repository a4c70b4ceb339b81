"""A job's database connection: one psycopg connection, named for ``pg_stat_activity``, its
statements bounded by the job's time budget."""

from __future__ import annotations

import psycopg


class Unreachable(Exception):
    """The database does not answer or refuses the login (exit status 2)."""


def connect(dsn: str, application_name: str, budget: float | None = None) -> psycopg.Connection:
    """A connection as ``application_name``; with ``budget`` (seconds) every statement gets
    it as ``statement_timeout``, so that no statement outlives the run."""
    options = f"-c statement_timeout={int(budget * 1000)}" if budget else None
    try:
        return psycopg.connect(dsn, application_name=application_name, options=options)
    except psycopg.OperationalError as exc:
        raise Unreachable(f"cannot connect to the database: {exc}") from exc
