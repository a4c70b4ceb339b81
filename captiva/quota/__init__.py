"""Quota jobs (``captiva-quota``): enforce, alerts, close-stale, retention, report."""

from collections.abc import Callable

from captiva.portal.labels import looks_like_code

# Where a job prints what it would do (dry runs) or its report: print, or a test's list.
Printer = Callable[[str], None]


def session_of(username: str | None, radacctid: int) -> str:
    """How a job's log line or dry run names the account of a session (radacct row): never a
    code, since a voucher's or a workstation session's username is also its password
    (docs/portal.md, "Labels, never codes"): ``code (radacct N)``, its row in ``radacct``
    and ``captiva_disconnect``; any other name as ``repr()`` (a newline in a name the router
    sent cannot forge a log line)."""
    if username and looks_like_code(username):
        return f"code (radacct {radacctid})"
    return repr(username)
