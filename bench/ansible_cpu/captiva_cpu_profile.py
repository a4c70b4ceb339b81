"""The Ansible controller's CPU seconds per task and per role (docs/lab.md, "Where a converge's
CPU goes"). An engineering tool, not part of the collection.

    ANSIBLE_CALLBACK_PLUGINS=bench/ansible_cpu ANSIBLE_CALLBACKS_ENABLED=captiva_cpu_profile \
    CAPTIVA_CPU_PROFILE=build/cpu-profile.txt make lab-converge

A task's figure is the controller's own CPU (user + system) plus its reaped children's (the
forked workers, and what they ran and waited for: `podman exec`, a local module) between the
task's start and the next task's start; the workers that have ended are reaped first. What
runs inside a container (the module on the host) is not counted: `tools/cpu-seconds` around
the whole run counts it, as the conmon that ran it exits.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: captiva_cpu_profile
type: aggregate
short_description: the controller's CPU seconds per task and per role
description:
  - Writes the tasks and roles that cost the controller the most CPU to CAPTIVA_CPU_PROFILE
    (or prints them) when the playbook ends.
options: {}
"""


def _cpu() -> float:
    multiprocessing.active_children()  # reap the workers that have ended: their CPU counts now
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "captiva_cpu_profile"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._rows: list[list] = []  # [play, role, task, cpu, wall, results]
        self._current: list | None = None
        self._mark = (_cpu(), time.monotonic())
        self._started = self._mark

    def _close(self) -> None:
        cpu, wall = _cpu(), time.monotonic()
        if self._current is not None:
            self._current[3] += cpu - self._mark[0]
            self._current[4] += wall - self._mark[1]
        self._mark = (cpu, wall)

    def v2_playbook_on_play_start(self, play):
        self._close()
        self._current = None
        self._play = play.get_name()

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._close()
        role = task._role.get_name() if task._role else "-"
        self._current = [getattr(self, "_play", "-"), role, task.get_name(), 0.0, 0.0, 0]
        self._rows.append(self._current)

    v2_playbook_on_handler_task_start = v2_playbook_on_task_start

    def _result(self, result, *args, **kwargs):
        if self._current is not None:
            self._current[5] += 1

    v2_runner_on_ok = v2_runner_on_failed = v2_runner_on_skipped = _result
    v2_runner_on_unreachable = _result

    def v2_playbook_on_stats(self, stats):
        self._close()
        total_cpu = _cpu() - self._started[0]
        total_wall = time.monotonic() - self._started[1]
        roles: dict[str, list] = {}
        for _play, role, _task, cpu, wall, results in self._rows:
            entry = roles.setdefault(role, [0.0, 0.0, 0, 0])
            entry[0] += cpu
            entry[1] += wall
            entry[2] += results
            entry[3] += 1
        lines = [f"controller CPU {total_cpu:.1f} s, wall {total_wall:.1f} s, "
                 f"{len(self._rows)} tasks, {sum(r[5] for r in self._rows)} results",
                 "", "by role: CPU s, wall s, results, tasks"]
        for role, (cpu, wall, results, tasks) in sorted(roles.items(), key=lambda i: -i[1][0]):
            lines.append(f"{cpu:8.1f} {wall:8.1f} {results:6d} {tasks:5d}  {role}")
        lines += ["", "the 40 tasks with the most CPU: CPU s, wall s, results, role: task"]
        for _play, role, task, cpu, wall, results in sorted(self._rows, key=lambda r: -r[3])[:40]:
            lines.append(f"{cpu:8.2f} {wall:8.2f} {results:6d}  {role}: {task}")
        text = "\n".join(lines) + "\n"
        path = os.environ.get("CAPTIVA_CPU_PROFILE")
        if path:
            with open(path, "a", encoding="utf-8") as out:
                out.write(text)
        else:
            self._display.display(text)
