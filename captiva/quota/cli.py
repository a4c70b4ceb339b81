"""``captiva-quota``: the quota jobs from the command line (systemd timers run them).

    captiva-quota [--config FILE] [--dry-run] [-v] JOB   (enforce, alerts, close-stale,
                                                       retention, report)

Exit status: 0 done, 1 some action failed (a NAK, a timeout, a mail), 2 bad configuration or
database unreachable.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys

import psycopg

from captiva.quota import config as config_mod
from captiva.quota.jobs import JOBS

log = logging.getLogger("captiva.quota")


def _instant(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("--now needs a timezone offset, e.g. +01:00")
    return value


def _options(parser: argparse.ArgumentParser, top: bool) -> None:
    # Accepted before and after the job name; after it, SUPPRESS keeps a value given before.
    def default(value):
        return value if top else argparse.SUPPRESS

    parser.add_argument("--config", default=default(str(config_mod.DEFAULT_PATH)),
                        help=f"TOML or JSON file (default: {config_mod.DEFAULT_PATH})")
    parser.add_argument("--dry-run", action="store_true", default=default(False),
                        help="only read and print what would be done")
    parser.add_argument("-v", "--verbose", action="store_true", default=default(False),
                        help="log debug messages")
    parser.add_argument("--now", type=_instant, default=default(None),
                        help=argparse.SUPPRESS)  # tests, replays


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="captiva-quota", description="Captiva quota jobs")
    _options(parser, top=True)
    sub = parser.add_subparsers(dest="job", required=True, metavar="JOB")
    helps = {
        "enforce": "disconnect sessions of users over quota, disabled, removed or expired",
        "alerts": "mail quota and expiry alerts (once per user, threshold and period)",
        "close-stale": "close sessions without accounting for N interim intervals",
        "retention": "move old closed sessions and post-auth rows to history (or purge)",
        "report": "print a usage summary",
    }
    for name, text in helps.items():
        _options(sub.add_parser(name, help=text, description=text), top=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(stream=sys.stderr,
                        level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        config = config_mod.load(args.config)
    except config_mod.ConfigError as exc:
        log.error("%s", exc)
        return 2
    now = args.now or dt.datetime.now(dt.UTC)
    try:
        conn = psycopg.connect(config.dsn, application_name=f"captiva-quota-{args.job}")
    except psycopg.OperationalError as exc:
        log.error("cannot connect to the database: %s", exc)
        return 2
    with conn:
        summary = JOBS[args.job](conn, config, now, dry_run=args.dry_run)
    log.info("%s%s: %s", args.job, " (dry run)" if args.dry_run else "",
             ", ".join(f"{k}={v}" for k, v in summary.items()))
    return 1 if summary.get("failed") else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
