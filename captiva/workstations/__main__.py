"""``python -m captiva.workstations --config quota.toml report [--day D] | retention``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import zoneinfo

import psycopg

from captiva import __version__
from captiva.quota import config as config_mod
from captiva.workstations import jobs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="captiva-workstations")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--config", required=True, help="the quota jobs' quota.toml")
    parser.add_argument("--dry-run", action="store_true")
    sub = parser.add_subparsers(dest="job", required=True)
    report = sub.add_parser("report", help="mail each site's daily report (CSV)")
    report.add_argument("--day", type=dt.date.fromisoformat,
                        help="the local day (default: yesterday in the campus timezone)")
    sub.add_parser("retention", help="erase expired guests, delete old sessions and audit")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        config = config_mod.load(args.config)
    except config_mod.ConfigError as exc:
        logging.error("%s", exc)
        return 2
    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(config.dsn, application_name=f"captiva-workstations-{args.job}") as conn:
        if args.job == "report":
            tz = conn.execute("SELECT timezone FROM captiva_quota_settings LIMIT 1").fetchone()
            today = now.astimezone(zoneinfo.ZoneInfo(tz[0] if tz else "UTC")).date()
            summary = jobs.report(conn, config, args.day or today - dt.timedelta(days=1),
                                  dry_run=args.dry_run)
        else:
            summary = jobs.retention(conn, config, now)
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
