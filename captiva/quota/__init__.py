"""Quota jobs (``captiva-quota``): enforce, alerts, close-stale, retention, report."""
