"""The last run of each quota job as a Prometheus textfile (node_exporter's textfile collector).

One file per job, ``<metrics_dir>/captiva_quota_<job>.prom``, replaced atomically at the end
of every run (and when a run is skipped because another one holds the lock).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(job: str, summary: dict[str, Any], *, seconds: float, overlapped: bool = False,
           at: float | None = None) -> str:
    job_label = f'job="{_label(job)}"'
    lines = [
        "# HELP captiva_quota_last_run_timestamp_seconds End of the job's last run.",
        "# TYPE captiva_quota_last_run_timestamp_seconds gauge",
        f"captiva_quota_last_run_timestamp_seconds{{{job_label}}} {at or time.time():.3f}",
        "# HELP captiva_quota_last_run_duration_seconds How long the last run took.",
        "# TYPE captiva_quota_last_run_duration_seconds gauge",
        f"captiva_quota_last_run_duration_seconds{{{job_label}}} {seconds:.3f}",
        "# HELP captiva_quota_last_run_failed Actions of the last run that failed.",
        "# TYPE captiva_quota_last_run_failed gauge",
        f"captiva_quota_last_run_failed{{{job_label}}} {int(summary.get('failed', 0))}",
        "# HELP captiva_quota_last_run_overlapped 1 when the last start found a run going on.",
        "# TYPE captiva_quota_last_run_overlapped gauge",
        f"captiva_quota_last_run_overlapped{{{job_label}}} {int(overlapped)}",
        "# HELP captiva_quota_last_run_deferred Work left to the next run (time budget).",
        "# TYPE captiva_quota_last_run_deferred gauge",
        f"captiva_quota_last_run_deferred{{{job_label}}} {int(summary.get('deferred', 0))}",
    ]
    if job == "enforce" and not overlapped:
        lines += ["# HELP captiva_quota_enforce_disconnects Disconnect-Requests of the last "
                  "run, by result.",
                  "# TYPE captiva_quota_enforce_disconnects gauge"]
        for result in ("ack", "nak", "timeout", "error", "skipped", "closed_meanwhile"):
            lines.append(f'captiva_quota_enforce_disconnects{{result="{result}"}} '
                         f"{int(summary.get(result, 0))}")
        lines += ["# HELP captiva_quota_enforce_router_failed 1 for a router that failed in "
                  "the last run (unreachable, NAKs, timeouts, no secret).",
                  "# TYPE captiva_quota_enforce_router_failed gauge",
                  "# HELP captiva_quota_enforce_router_unreachable 1 for a router marked "
                  "unreachable in the last run.",
                  "# TYPE captiva_quota_enforce_router_unreachable gauge"]
        # FreeRADIUS's throttle of code guessing (docs/freeradius.md, "Guessing codes").
        guessing = summary.get("guess_throttled", {})
        lines += ["# HELP captiva_radius_guess_throttled_sources Sources (a device of a NAS, "
                  "or a whole NAS) throttled for guessing codes in the last 10 minutes.",
                  "# TYPE captiva_radius_guess_throttled_sources gauge"]
        lines += [f'captiva_radius_guess_throttled_sources{{scope="{scope}"}} '
                  f"{int(guessing.get(scope, {}).get('sources', 0))}"
                  for scope in ("station", "nas")]
        lines += ["# HELP captiva_radius_guess_throttled_requests Code logins those sources' "
                  "episodes had refused without a lookup.",
                  "# TYPE captiva_radius_guess_throttled_requests gauge"]
        lines += [f'captiva_radius_guess_throttled_requests{{scope="{scope}"}} '
                  f"{int(guessing.get(scope, {}).get('requests', 0))}"
                  for scope in ("station", "nas")]
        failed = summary.get("failed_routers", {})
        routers = summary.get("routers", {})
        for name in sorted(set(routers) | set(failed)):
            label = f'router="{_label(name)}"'
            lines.append(f"captiva_quota_enforce_router_failed{{{label}}} "
                         f"{int(name in failed)}")
            lines.append(f"captiva_quota_enforce_router_unreachable{{{label}}} "
                         f"{int(bool(routers.get(name, {}).get('unreachable')))}")
    return "\n".join(lines) + "\n"


def write(directory: str | Path, job: str, text: str) -> Path:
    path = Path(directory) / f"captiva_quota_{job.replace('-', '_')}.prom"
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
