"""The last run of each quota job as a Prometheus textfile (node_exporter's textfile collector).

One file per job, ``<metrics_dir>/captiva_quota_<job>.prom``, replaced atomically at the end
of every run (and when a run is skipped because another one holds the lock).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _gauge(name: str, help_text: str, samples: Iterable[tuple[str, float]]) -> list[str]:
    """One metric family as the text format wants it: HELP, TYPE, then all its samples
    (``labels`` such as ``job="enforce"``, value) in one group."""
    return [f"# HELP {name} {help_text}", f"# TYPE {name} gauge",
            *(f"{name}{{{labels}}} {value}" for labels, value in samples)]


def render(job: str, summary: dict[str, Any], *, seconds: float, overlapped: bool = False,
           at: float | None = None) -> str:
    job_label = f'job="{_label(job)}"'
    lines = [
        *_gauge("captiva_quota_last_run_timestamp_seconds", "End of the job's last run.",
                [(job_label, f"{at or time.time():.3f}")]),
        *_gauge("captiva_quota_last_run_duration_seconds", "How long the last run took.",
                [(job_label, f"{seconds:.3f}")]),
        *_gauge("captiva_quota_last_run_failed", "Actions of the last run that failed.",
                [(job_label, int(summary.get("failed", 0)))]),
        *_gauge("captiva_quota_last_run_overlapped",
                "1 when the last start found a run going on.", [(job_label, int(overlapped))]),
        *_gauge("captiva_quota_last_run_deferred", "Work left to the next run (time budget).",
                [(job_label, int(summary.get("deferred", 0)))]),
    ]
    if job == "enforce" and not overlapped:
        lines += _gauge("captiva_quota_enforce_disconnects",
                        "Disconnect-Requests of the last run, by result.",
                        [(f'result="{result}"', int(summary.get(result, 0)))
                         for result in ("ack", "nak", "timeout", "error", "skipped",
                                        "closed_meanwhile")])
        failed = summary.get("failed_routers", {})
        routers = summary.get("routers", {})
        names = sorted(set(routers) | set(failed))
        lines += _gauge("captiva_quota_enforce_router_failed",
                        "1 for a router that failed in the last run (unreachable, NAKs, "
                        "timeouts, no secret).",
                        [(f'router="{_label(name)}"', int(name in failed)) for name in names])
        lines += _gauge("captiva_quota_enforce_router_unreachable",
                        "1 for a router marked unreachable in the last run.",
                        [(f'router="{_label(name)}"',
                          int(bool(routers.get(name, {}).get("unreachable")))) for name in names])
        # FreeRADIUS's throttle of code guessing (docs/freeradius.md, "Guessing codes").
        guessing = summary.get("guess_throttled", {})
        for counted, help_text in (
                ("sources", "Sources (a device of a NAS, or a whole NAS) throttled for "
                            "guessing codes in the last 10 minutes."),
                ("requests", "Code logins those sources' episodes had refused without a "
                             "lookup.")):
            lines += _gauge(f"captiva_radius_guess_throttled_{counted}", help_text,
                            [(f'scope="{scope}"', int(guessing.get(scope, {}).get(counted, 0)))
                             for scope in ("station", "nas")])
    return "\n".join(lines) + "\n"


def write(directory: str | Path, job: str, text: str) -> Path:
    path = Path(directory) / f"captiva_quota_{job.replace('-', '_')}.prom"
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
