"""Run the ``captiva_radius`` module on the roster ``captiva_roster`` validated in this run.

``roster_file`` names the validated roster on the controller (``captiva_compiled.roster_file``,
written once a run by the ``captiva_roster`` step of ``playbooks/validate.yml``); this plugin
copies it into the task's private temporary directory and hands the copy to the module. A
file rather than arguments: Ansible logs, echoes and masks module arguments value by value,
which costs more than the reconcile itself at 50,000 users. With ``roster`` and
``credentials`` given instead, they are passed through.
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess

from ansible.plugins.action import ActionBase

# Where a pipeline says which job runs (GitLab, GitHub Actions, Jenkins, any CI).
CI_JOB_VARIABLES = ("CI_JOB_URL", "GITHUB_RUN_ID", "BUILD_URL", "CI_JOB_ID")


def _git(directory: str, *args: str) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    try:
        out = subprocess.run([git, "-C", directory, *args],  # noqa: S603  (fixed arguments)
                             capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def change_context(inventory_dir: str | None) -> dict:
    """Who applies, from which commit: the controller's side of the applied-change log."""
    directory = inventory_dir or os.getcwd()
    status = _git(directory, "status", "--porcelain", "--", ".")
    commit = _git(directory, "rev-parse", "HEAD")
    job = next((os.environ[v] for v in CI_JOB_VARIABLES if os.environ.get(v)), None)
    if job and os.environ.get("GITHUB_RUN_ID") == job and os.environ.get("GITHUB_REPOSITORY"):
        job = (f"{os.environ.get('GITHUB_SERVER_URL', 'https://github.com')}/"
               f"{os.environ['GITHUB_REPOSITORY']}/actions/runs/{job}")
    return {"user": os.environ.get("GITLAB_USER_LOGIN") or os.environ.get("GITHUB_ACTOR")
            or getpass.getuser(),
            "ci_job": job, "commit": commit,
            "branch": os.environ.get("CI_COMMIT_REF_NAME") or os.environ.get("GITHUB_REF_NAME")
            or _git(directory, "rev-parse", "--abbrev-ref", "HEAD"),
            "dirty": None if commit is None else bool(status),
            "inventory": os.path.basename(os.path.normpath(directory)) if inventory_dir
            else None}


class ActionModule(ActionBase):
    TRANSFERS_FILES = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        if not args.get("roster") and not args.get("roster_file"):
            result.update(failed=True, msg=(
                "captiva_radius needs the validated roster: import playbooks/validate.yml "
                "first and pass roster_file: \"{{ captiva_compiled.roster_file }}\""))
            return result
        if "change_context" not in args:
            args["change_context"] = change_context((task_vars or {}).get("inventory_dir"))
        shell = self._connection._shell
        try:
            if args.get("roster_file"):
                if not shell.tmpdir:
                    self._make_tmp_path()
                remote = shell.join_path(shell.tmpdir, "captiva-roster.json")
                self._transfer_file(args["roster_file"], remote)
                args["roster_file"] = remote
            result.update(self._execute_module(module_name="captiva.campus.captiva_radius",
                                               module_args=args, task_vars=task_vars))
        finally:
            if shell.tmpdir:  # _execute_module may have removed it already
                self._remove_tmp_path(shell.tmpdir)
        return result
