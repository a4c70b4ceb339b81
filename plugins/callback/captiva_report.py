"""Captiva's run report: what a plan or an apply changed, as JSON, Markdown and Prometheus
textfile metrics, for merge-request comments and drift detection (docs/gitops.md).

Enabled only where asked (``make plan REPORT=...``, ``make drift``):
``ANSIBLE_CALLBACKS_ENABLED=captiva.campus.captiva_report CAPTIVA_REPORT=path/without/suffix``.
It writes ``<path>.json`` and ``<path>.md``, and, with ``CAPTIVA_METRICS=<file.prom>``, the
metrics. It only reads what the modules return, which is already masked (passwords,
secrets, personal data as ``********``).
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: captiva_report
type: aggregate
short_description: Captiva plan/apply report (JSON, Markdown, Prometheus textfile)
description:
  - Collects changes per kind (RADIUS users and groups, vouchers, profiles, promotions,
    staff, workstations and the roster's other kinds, router entries, foreign rows on
    Captiva's users) and failures, and writes them when the playbook ends.
requirements:
  - enable in ansible.cfg or with ANSIBLE_CALLBACKS_ENABLED=captiva.campus.captiva_report
options:
  report:
    description: Path prefix of the report (.json and .md are appended).
    env:
      - name: CAPTIVA_REPORT
    type: path
  metrics:
    description: Prometheus textfile to write (atomically).
    env:
      - name: CAPTIVA_METRICS
    type: path
"""

import difflib
import json
import os
import tempfile
import time

from ansible import context
from ansible.plugins.callback import CallbackBase

# The modules whose results carry counts per kind.
RADIUS_ACTION = "captiva_radius"
ROUTEROS_ACTION = "captiva_routeros"
DIFF_LINES = 200


def _diff_text(diff) -> str:
    """A module's diff (before/after, text or data) as unified diff lines."""
    if not isinstance(diff, dict):
        return ""
    if diff.get("prepared"):
        return str(diff["prepared"])
    before, after = diff.get("before", ""), diff.get("after", "")
    if not isinstance(before, str) or not isinstance(after, str):
        before = json.dumps(before, indent=1, sort_keys=True, default=str)
        after = json.dumps(after, indent=1, sort_keys=True, default=str)
    if before == after:
        return ""
    return "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                        "before", "after", n=1))


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "captiva_report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.started = time.time()
        self.check_mode = False
        self.kinds: dict[str, dict[str, int]] = {}
        self.changed_tasks: list[dict] = []
        self.failures: list[dict] = []
        self.summaries: list[str] = []
        self.diffs: list[str] = []

    # -- collecting ------------------------------------------------------------------------

    def v2_playbook_on_start(self, playbook):
        self.check_mode = bool(context.CLIARGS.get("check"))

    def _add(self, kind, counts):
        slot = self.kinds.setdefault(kind, {"added": 0, "changed": 0, "removed": 0})
        for key, value in counts.items():
            if isinstance(value, int):
                slot[key] = slot.get(key, 0) + value

    def v2_runner_on_ok(self, result):
        res = result._result
        action = result._task.action.rsplit(".", 1)[-1]
        host = result._host.get_name()
        if res.get("_ansible_check_mode"):
            self.check_mode = True
        if action == RADIUS_ACTION:
            for kind in ("users", "groups", "vouchers"):
                if isinstance(res.get(kind), dict):
                    self._add(kind, res[kind])
            # Every other kind of the roster (profiles, promotions, staff, workstations, ...:
            # captiva_radius_plan.KINDS), each counted once it changes.
            for kind, counts in (res.get("kinds") or {}).items():
                if isinstance(counts, dict) and any(counts.values()):
                    self._add(kind, counts)
            if res.get("urgent_revocations"):
                self._add("urgent_revocations", {"added": len(res["urgent_revocations"])})
            foreign = res.get("foreign_rows") or {}
            if foreign:
                self._add("foreign_rows", {"added": sum(foreign.values())})
            if res.get("summary"):
                self.summaries.append(f"RADIUS: {res['summary']}")
            grants = res.get("active_grants") or {}
            if grants.get("count"):
                self.summaries.append(
                    f"RADIUS: {grants['count']} quota grant(s) of the console in force for "
                    f"{grants['users']} user(s) (runtime data; each expires on its own)")
        elif action == ROUTEROS_ACTION:
            # The routers whose Captiva menus change; mikrotik_no_log (the default) censors
            # the rest of the result, so the entries are counted only where it is shown.
            self._add("router_menus", {"changed": int(bool(res.get("changed")))})
            counts = res.get("counts") or {}
            if counts:
                self._add("router_entries", {
                    "added": counts.get("create", 0),
                    "changed": counts.get("update", 0) + counts.get("set", 0),
                    "removed": counts.get("delete", 0)})
            if res.get("changed"):
                self.summaries.append(f"router {host}: " + ", ".join(
                    f"{k} {v}" for k, v in sorted(counts.items())))
        if res.get("changed"):
            self.changed_tasks.append({"host": host, "task": result._task.get_name(),
                                       "action": action})
            diffs = res.get("diff") or []
            for diff in diffs if isinstance(diffs, list) else [diffs]:
                text = _diff_text(diff)
                if text:
                    self.diffs.append(f"# {host}: {result._task.get_name()}\n{text}")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if ignore_errors:
            return
        self.failures.append({"host": result._host.get_name(), "task": result._task.get_name(),
                              "msg": str(result._result.get("msg", ""))[:500]})

    def v2_runner_on_unreachable(self, result):
        self.failures.append({"host": result._host.get_name(), "task": result._task.get_name(),
                              "msg": "unreachable"})

    # -- writing ---------------------------------------------------------------------------

    def report(self, stats) -> dict:
        hosts = sorted(stats.processed.keys())
        changed = {h: stats.summarize(h)["changed"] for h in hosts}
        return {
            "mode": "plan" if self.check_mode else "apply",
            "finished": time.time(),
            "duration_seconds": round(time.time() - self.started, 3),
            "failed": bool(self.failures),
            "failures": self.failures,
            "changed_hosts": {h: n for h, n in changed.items() if n},
            "changed_tasks": self.changed_tasks,
            "kinds": self.kinds,
            "summaries": self.summaries,
            "in_sync": not self.failures and not any(changed.values())
            and not self.kinds.get("foreign_rows")
            and not self.kinds.get("urgent_revocations"),
        }

    @staticmethod
    def markdown(report: dict, diffs: list[str]) -> str:
        verb = "Plan" if report["mode"] == "plan" else "Apply"
        if report["failed"]:
            status = "**failed**"
        elif report["in_sync"]:
            status = "in sync, no change"
        else:
            status = "changes" if report["mode"] == "plan" else "applied"
        lines = [f"### Captiva {verb.lower()}: {status}", ""]
        if report["kinds"]:
            lines += ["| kind | added | changed | removed |", "|---|---:|---:|---:|"]
            for kind, c in sorted(report["kinds"].items()):
                lines.append(f"| {kind} | {c.get('added', 0)} | {c.get('changed', 0)} | "
                             f"{c.get('removed', 0)} |")
            lines.append("")
        if report["kinds"].get("foreign_rows"):
            lines += ["Rows not owned by Captiva touch users it manages (changed by hand): "
                      "Captiva never edits them; remove them or take them over.", ""]
        for summary in report["summaries"]:
            lines.append(f"- {summary}")
        if report["changed_tasks"]:
            lines += ["", "Changed tasks:", ""]
            lines += [f"- `{t['host']}`: {t['task']}" for t in report["changed_tasks"]]
        for failure in report["failures"]:
            lines.append(f"- **failed** `{failure['host']}` {failure['task']}: {failure['msg']}")
        if diffs:
            body = "\n\n".join(diffs).splitlines()
            more = len(body) - DIFF_LINES
            body = body[:DIFF_LINES] + ([f"... {more} more lines"] if more > 0 else [])
            lines += ["", "<details><summary>Diff (personal data and secrets masked)</summary>",
                      "", "```diff", *body, "```", "", "</details>"]
        lines.append("")
        return "\n".join(lines)

    @staticmethod
    def metrics(report: dict) -> str:
        lines = [
            "# HELP captiva_drift_changes Entries a plan would change, by kind and action.",
            "# TYPE captiva_drift_changes gauge",
        ]
        for kind, counts in sorted(report["kinds"].items()):
            for action in ("added", "changed", "removed"):
                lines.append(f'captiva_drift_changes{{kind="{kind}",action="{action}"}} '
                             f"{counts.get(action, 0)}")
        status = 1 if report["failed"] else (0 if report["in_sync"] else 2)
        lines += [
            "# HELP captiva_drift_status 0 in sync, 2 drift, 1 error (the drift exit code).",
            "# TYPE captiva_drift_status gauge",
            f"captiva_drift_status {status}",
            "# HELP captiva_drift_duration_seconds Duration of the last run.",
            "# TYPE captiva_drift_duration_seconds gauge",
            f"captiva_drift_duration_seconds {report['duration_seconds']}",
        ]
        if not report["failed"]:
            lines += [
                "# HELP captiva_drift_last_success_timestamp_seconds End of the last run "
                "that completed.",
                "# TYPE captiva_drift_last_success_timestamp_seconds gauge",
                f"captiva_drift_last_success_timestamp_seconds {report['finished']:.0f}",
            ]
        return "\n".join(lines) + "\n"

    @staticmethod
    def _write(path: str, text: str) -> None:
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".captiva-report-")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)

    def v2_playbook_on_stats(self, stats):
        report = self.report(stats)
        prefix = self.get_option("report")
        if prefix:
            self._write(f"{prefix}.json", json.dumps(report, indent=2, sort_keys=True) + "\n")
            self._write(f"{prefix}.md", self.markdown(report, self.diffs))
        metrics = self.get_option("metrics")
        if metrics:
            if self.failures and os.path.exists(metrics):
                # Keep the last success time a failed run cannot know.
                with open(metrics) as f:
                    last = [line for line in f
                            if line.startswith("captiva_drift_last_success_timestamp_seconds")
                            or line.startswith("# HELP captiva_drift_last_success")
                            or line.startswith("# TYPE captiva_drift_last_success")]
                self._write(metrics, self.metrics(report) + "".join(last))
            else:
                self._write(metrics, self.metrics(report))
