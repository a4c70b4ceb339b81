"""Print a warning from a task: ``captiva_warn: {msg: ...}``.

For settings that weaken security on purpose (an explicit opt-in such as ``etcd_plaintext``):
every run, ``make plan`` included, shows ``[WARNING]: <msg>`` and changes nothing. Runs on
the controller only, in check mode too.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("msg",))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        message = self._task.args.get("msg")
        if not isinstance(message, str) or not message.strip():
            raise AnsibleActionFail("captiva_warn: msg must be a non-empty string")
        result.update(changed=False, warnings=[message.strip()], msg=message.strip())
        return result
