"""Server CPU time, to express load as CPU per request.

Wall-clock rates on a shared machine depend on what else runs; the CPU seconds the RADIUS and
database processes spend per request do not (much). Two sources:

- a process tree (``/proc/<pid>/stat``): utime + stime + cutime + cstime of every live process
  under a root pid. The c-fields hold the CPU of children already reaped (PostgreSQL
  backends that exited), so each CPU second is counted once.
- a cgroup (``cpu.stat`` usage_usec in cgroup v2, ``cpuacct.usage`` in v1): what a podman
  container (the lab's captiva-lab-radius / -db) spent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")
CGROUP_ROOT = Path("/sys/fs/cgroup")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm (field 2) may hold spaces and parentheses: split after the last ')'.
    return text[text.rindex(")") + 2:].split()


def process_tree(root: int) -> list[int]:
    """``root`` and every live descendant."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def process_tree_cpu(root: int) -> float:
    """CPU seconds (user + system) spent so far by the process tree under ``root``."""
    ticks = 0
    for pid in process_tree(root):
        fields = _stat_fields(pid)
        if fields is not None:
            ticks += sum(int(value) for value in fields[11:15])
    return ticks / CLOCK_TICKS


def cgroup_cpu(path: Path) -> float:
    """CPU seconds a cgroup has used (v2 cpu.stat, or v1 cpuacct.usage)."""
    stat = path / "cpu.stat"
    if stat.exists():
        for line in stat.read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) / 1e6
    usage = path / "cpuacct.usage"
    if usage.exists():
        return int(usage.read_text()) / 1e9
    raise FileNotFoundError(f"{path}: neither cpu.stat (cgroup v2) nor cpuacct.usage (v1)")


def container_cgroup(name: str) -> Path:
    """The cgroup directory of a running podman container (e.g. captiva-lab-db)."""
    podman = shutil.which("podman")
    if podman is None:
        raise FileNotFoundError(f"container {name}: podman is not installed")
    # Arguments as a list, no shell: the container name cannot inject anything.
    relative = subprocess.run(  # noqa: S603
        [podman, "inspect", "--format", "{{.State.CgroupPath}}", name],
        check=True, capture_output=True, text=True).stdout.strip().lstrip("/")
    if not relative:
        # Run with --cgroups=disabled (or split from its conmon): what is found under the root
        # would be the whole machine's CPU. Measure its process tree instead (--cpu-pid).
        raise FileNotFoundError(f"container {name}: no cgroup of its own; measure its processes "
                                f"with --cpu-pid NAME=$(podman inspect --format "
                                f"'{{{{.State.Pid}}}}' {name})")
    for base in (CGROUP_ROOT, CGROUP_ROOT / "cpuacct", CGROUP_ROOT / "cpu,cpuacct",
                 CGROUP_ROOT / "unified"):
        if (base / relative / "cpu.stat").exists() or (base / relative / "cpuacct.usage").exists():
            return base / relative
    raise FileNotFoundError(f"container {name}: no CPU accounting under {CGROUP_ROOT}/.../"
                            f"{relative}")


@dataclass(frozen=True)
class CpuSource:
    """A named thing whose CPU is measured: a process tree or a cgroup."""

    name: str
    pid: int | None = None
    cgroup: Path | None = None

    def seconds(self) -> float:
        if self.pid is not None:
            return process_tree_cpu(self.pid)
        if self.cgroup is not None:
            return cgroup_cpu(self.cgroup)
        raise ValueError(f"{self.name}: neither a pid nor a cgroup")


def snapshot(sources: list[CpuSource]) -> dict[str, float]:
    return {source.name: source.seconds() for source in sources}


def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before[name] for name in before}
