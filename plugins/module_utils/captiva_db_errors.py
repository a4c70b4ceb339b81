"""What Captiva's modules say about a failed database statement.

psycopg 3's ``str(exc)`` carries the server's DETAIL and CONTEXT lines, which quote rows: a
unique violation prints the duplicate key's value (a voucher code, a username), a failed
COPY its line (a password). Modules report only the SQLSTATE and the primary message,
which name the constraint or the object, never a value.
"""

from __future__ import annotations


def database_error(exc: Exception) -> str:
    """``SQLSTATE: primary message`` of a psycopg error, without DETAIL, HINT or CONTEXT.

    Without a server message (a connection failure), the client's first line.
    """
    diag = getattr(exc, "diag", None)
    sqlstate = getattr(diag, "sqlstate", None)
    primary = getattr(diag, "message_primary", None)
    if primary is None:
        primary = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"{sqlstate}: {primary}" if sqlstate else primary
