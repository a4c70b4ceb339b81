"""radload: a RADIUS load generator that is not the bottleneck (docs/tuning.md).

    .venv/bin/python tools/radload --help
"""

from .cpu import CpuSource, container_cgroup, snapshot, spent
from .load import Report, Workload, run

__all__ = ["CpuSource", "Report", "Workload", "container_cgroup", "run", "snapshot", "spent"]
