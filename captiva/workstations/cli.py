"""``captiva-workstations``: the public workstations' jobs (systemd timers run them).

    captiva-workstations --config /etc/captiva/quota.toml report [--day D] | retention

Exit status (:mod:`captiva.runtime.cli`): 0 done, 1 a report mail failed, 2 bad
configuration or database unreachable.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import zoneinfo

from captiva.runtime import cli, db, jobs_config
from captiva.workstations import jobs


def build_parser():
    parser = cli.parser("captiva-workstations", "Captiva public workstations' jobs")
    cli.add_config(parser, None, "the jobs' quota.toml")
    parser.add_argument("--dry-run", action="store_true")
    sub = parser.add_subparsers(dest="job", required=True)
    report = sub.add_parser("report", help="mail each site's daily report (CSV)")
    report.add_argument("--day", type=dt.date.fromisoformat,
                        help="the local day (default: yesterday in the campus timezone)")
    sub.add_parser("retention", help="erase expired guests, delete old sessions and audit")
    return parser


@cli.command
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cli.start_logging()
    config = jobs_config.load(args.config)
    now = dt.datetime.now(dt.UTC)
    with db.connect(config.dsn, f"captiva-workstations-{args.job}") as conn:
        if args.job == "report":
            tz = conn.execute("SELECT timezone FROM captiva_quota_settings LIMIT 1").fetchone()
            today = now.astimezone(zoneinfo.ZoneInfo(tz[0] if tz else "UTC")).date()
            summary = jobs.report(conn, config, args.day or today - dt.timedelta(days=1),
                                  dry_run=args.dry_run)
        else:
            summary = jobs.retention(conn, config, now)
    print(json.dumps(summary, sort_keys=True))
    return cli.FAILED if summary.get("failed") else cli.OK


if __name__ == "__main__":
    sys.exit(main())
