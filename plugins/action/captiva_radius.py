"""Run the ``captiva_radius`` module on the roster ``captiva_roster`` validated in this run.

``roster_file`` names the validated roster on the controller (``captiva_compiled.roster_file``,
written once a run by the ``captiva_roster`` step of ``playbooks/validate.yml``); this plugin
copies it into the task's private temporary directory and hands the copy to the module. A
file rather than arguments: Ansible logs, echoes and masks module arguments value by value,
which costs more than the reconcile itself at 50,000 users. With ``roster`` and
``credentials`` given instead, they are passed through.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase


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
        shell = self._connection._shell
        try:
            if args.get("roster_file"):
                if not shell.tmpdir:
                    self._make_tmp_path()
                remote = shell.join_path(shell.tmpdir, "captiva-roster.json")
                self._transfer_file(args["roster_file"], remote)
                args["roster_file"] = remote
            result.update(self._execute_module(module_name="captiva_radius", module_args=args,
                                               task_vars=task_vars))
        finally:
            if shell.tmpdir:  # _execute_module may have removed it already
                self._remove_tmp_path(shell.tmpdir)
        return result
