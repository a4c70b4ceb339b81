"""Run the ``captiva_radius`` module with the roster read from the play's variables.

When the task gives ``roster`` and ``credentials`` itself, they are passed through; otherwise
the roster is validated here (every error printed, nothing changed) and handed to the module
as a JSON file in the task's private temporary directory (``roster_file``). A file rather
than arguments: Ansible logs, echoes and masks module arguments value by value, which costs
more than the reconcile itself at 50,000 users.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from ansible.plugins.action import ActionBase

# The roster loading is shared with the captiva_roster action next to this file.
_spec = importlib.util.spec_from_file_location(
    "captiva_action_roster", Path(__file__).with_name("captiva_roster.py"))
_roster_action = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_roster_action)

from ansible.module_utils.captiva_roster import roster_to_data  # noqa: E402


class ActionModule(ActionBase):
    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        if "roster" not in args:
            try:
                roster = _roster_action.load_roster(self, task_vars or {})
            except _roster_action.RosterInvalid as exc:
                result.update(failed=True, errors=exc.lines, msg=str(exc))
                return result
            data, credentials = roster_to_data(roster)
            shell = self._connection._shell
            if not shell.tmpdir:
                self._make_tmp_path()
            args["roster_file"] = shell.join_path(shell.tmpdir, "captiva-roster.json")
            self._transfer_data(args["roster_file"],
                                json.dumps({"roster": data, "credentials": credentials}))
        try:
            result.update(self._execute_module(module_name="captiva_radius", module_args=args,
                                               task_vars=task_vars))
        finally:
            if self._connection._shell.tmpdir:  # _execute_module may have removed it already
                self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
