"""Quota jobs (``captiva-quota``): enforce, alerts, close-stale, retention, report."""

from collections.abc import Callable

# Where a job prints what it would do (dry runs) or its report: print, or a test's list.
Printer = Callable[[str], None]
