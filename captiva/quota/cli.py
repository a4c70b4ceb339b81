"""``captiva-quota``: the quota jobs from the command line (systemd timers run them).

    captiva-quota [--config FILE] [--dry-run] [-v] JOB   (enforce, alerts, close-stale,
                                                       retention, report)

Exit status: 0 done (or skipped: another run of the same job is going on), 1 some action
failed (a NAK, a timeout, an unreachable router, a mail), 2 bad configuration or database
unreachable.

Runs never overlap: a run takes ``<jobs.lock_dir>/<job>.lock`` (flock, LOCK_NB) and a
PostgreSQL advisory lock (jobs on several hosts), and exits at once when either is held. Each
job has a time budget (``<job>.budget``): the job stops starting work when it is used up, and
every SQL statement gets it as ``statement_timeout``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import logging
import os
import sys
import time
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from captiva.quota.jobs import JOBS
from captiva.runtime import cli, db, jobs_config, metrics
from captiva.runtime.settings import ConfigError

log = logging.getLogger("captiva.quota")
ADVISORY_CLASS = 0x43515441  # 'CQTA': advisory locks of the quota jobs, one per job
LOCKED_JOBS = ("enforce", "close-stale", "alerts", "retention")


class Busy(Exception):
    """Another run of the job holds its lock."""


def take_file_lock(lock_dir: str, job: str):
    """The open, flock()ed lock file of ``job``; Busy when another process holds it."""
    directory = Path(lock_dir)
    try:
        directory.mkdir(mode=0o750, exist_ok=True)
        fd = os.open(directory / f"{job}.lock", os.O_RDWR | os.O_CREAT, 0o640)
    except OSError as exc:
        raise ConfigError(
            f"jobs.lock_dir: cannot create {directory / (job + '.lock')}: {exc.strerror}"
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(fd)
        raise Busy(f"{directory / (job + '.lock')} is held") from exc
    return fd


def take_advisory_lock(conn, job: str) -> None:
    """A session advisory lock, so that runs on two hosts do not overlap either."""
    (taken,) = conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                            (ADVISORY_CLASS, LOCKED_JOBS.index(job))).fetchone()
    conn.commit()
    if not taken:
        raise Busy("a run on another host holds its database lock")


def _instant(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("--now needs a timezone offset, e.g. +01:00")
    return value


def _options(parser: argparse.ArgumentParser, top: bool) -> None:
    # Accepted before and after the job name; after it, SUPPRESS keeps a value given before.
    def default(value):
        return value if top else argparse.SUPPRESS

    parser.add_argument("--config", default=default(str(jobs_config.DEFAULT_PATH)),
                        help=f"TOML or JSON file (default: {jobs_config.DEFAULT_PATH})")
    parser.add_argument("--dry-run", action="store_true", default=default(False),
                        help="only read and print what would be done")
    parser.add_argument("-v", "--verbose", action="store_true", default=default(False),
                        help="log debug messages")
    parser.add_argument("--now", type=_instant, default=default(None),
                        help=argparse.SUPPRESS)  # tests, replays


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser("captiva-quota", "Captiva quota jobs")
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


@cli.command
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cli.start_logging(logging.DEBUG if args.verbose else logging.INFO)
    config = jobs_config.load(args.config)
    started = time.monotonic()
    started_at = dt.datetime.now(dt.UTC)
    budget = config.budgets[args.job]
    deadline = started + budget
    now = args.now or dt.datetime.now(dt.UTC)
    locked = args.job in LOCKED_JOBS and not args.dry_run
    lock_fd = None
    try:
        if locked:
            lock_fd = take_file_lock(config.lock_dir, args.job)
        with db.connect(config.dsn, f"captiva-quota-{args.job}", budget) as conn:
            if locked:
                take_advisory_lock(conn, args.job)
            summary = JOBS[args.job](conn, config, now, dry_run=args.dry_run,
                                     deadline=deadline)
            summary.setdefault("seconds", round(time.monotonic() - started, 3))
            if locked:
                record_run(conn, args.job, started_at, summary)
    except Busy as exc:
        log.warning("%s: another run is going on (%s): this one exits", args.job, exc)
        _metrics(config, args.job, {}, time.monotonic() - started, overlapped=True)
        return cli.OK
    finally:
        if lock_fd is not None:
            os.close(lock_fd)
    log.info("%s%s: %s", args.job, " (dry run)" if args.dry_run else "",
             ", ".join(f"{k}={v}" for k, v in summary.items() if k != "routers"))
    if not args.dry_run:
        _metrics(config, args.job, summary, time.monotonic() - started)
    return cli.FAILED if summary.get("failed") else cli.OK


def record_run(conn, job: str, started_at: dt.datetime, summary: dict) -> None:
    """One captiva_job_run row (migration 0070) for the admin view; 30 days are kept."""
    try:
        conn.rollback()
        conn.execute(
            "INSERT INTO captiva_job_run (job, started_at, seconds, failed, failed_routers, "
            "summary) VALUES (%s, %s, %s, %s, %s, %s)",
            (job, started_at, summary["seconds"], int(summary.get("failed", 0)),
             Jsonb(summary.get("failed_routers", {})), Jsonb(summary)))
        conn.execute("DELETE FROM captiva_job_run WHERE job = %s "
                     "AND finished_at < now() - interval '30 days'", (job,))
        conn.commit()
    except (psycopg.Error, TypeError) as exc:
        conn.rollback()
        diag = getattr(exc, "diag", None)
        log.error("cannot record the run of %s in captiva_job_run: %s", job,
                  (diag and diag.message_primary) or type(exc).__name__)


def _metrics(config, job: str, summary: dict, seconds: float, overlapped: bool = False) -> None:
    if not config.metrics_dir:
        return
    try:
        metrics.write(config.metrics_dir, job,
                      metrics.render(job, summary, seconds=seconds, overlapped=overlapped))
    except OSError as exc:
        log.error("cannot write the metrics of %s to %s: %s", job, config.metrics_dir,
                  exc.strerror)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
