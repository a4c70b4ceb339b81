"""Validate the roster and compile it, on the controller, contacting no host.

Reads the roster variables (captiva_profiles, captiva_promotions, captiva_users,
captiva_sites and the captiva_* settings) from the play's variables, validates them and
prints **every** error as ``<file>:<line>: <yaml path>: <reason>``. On success it sets one
small fact, ``captiva_compiled``: the routers' desired RouterOS configuration and API
settings, the FreeRADIUS clients and a summary. (The users themselves are never put into
facts: at 50,000 users every later task would pay for them; ``captiva_radius`` reads the
roster from the variables itself.)
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import ansible.module_utils
from ansible import constants as C

# Modules get module_utils through AnsiballZ; an action plugin runs in the controller process,
# so it imports the project's module_utils the same way tests/conftest.py does.
_MODULE_UTILS = str(Path(__file__).resolve().parents[1] / "module_utils")
if _MODULE_UTILS not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(_MODULE_UTILS)

from ansible.module_utils.captiva_roster import (  # noqa: E402
    compile_roster,
    validate_variables,
)
from ansible.plugins.action import ActionBase  # noqa: E402
from ansible.utils.display import Display  # noqa: E402

display = Display()
DEFAULTS_FILE = str(Path(__file__).resolve().parents[2] / "group_vars" / "captiva_defaults.yml")


class RosterInvalid(Exception):
    """Raised by :func:`load_roster` after printing every error."""

    def __init__(self, lines):
        super().__init__(f"the roster has {len(lines)} error(s); nothing was changed")
        self.lines = lines


def load_roster(action: ActionBase, task_vars):
    """Validate the play's roster; print every error and raise RosterInvalid if any."""
    roster, lines = validate_variables(task_vars, action._templar.template, DEFAULTS_FILE,
                                       str(Path.cwd()))
    if lines:
        for line in lines:
            display.display(line, color=C.COLOR_ERROR, stderr=True)
        raise RosterInvalid(lines)
    return roster


def evaluation_time(args) -> dt.datetime:
    now = args.get("now")
    return dt.datetime.fromisoformat(now) if now else dt.datetime.now(dt.UTC)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("now",))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        started = time.monotonic()
        try:
            roster = load_roster(self, task_vars or {})
        except RosterInvalid as exc:
            result.update(failed=True, errors=exc.lines, msg=str(exc))
            return result
        compiled = compile_roster(roster, evaluation_time(self._task.args))
        summary = compiled["summary"]
        result.update(
            changed=False,
            summary=summary,
            elapsed=round(time.monotonic() - started, 3),
            msg=("roster valid: {users} users ({active} active), {profiles} profiles, "
                 "{promotions} promotions, {sites} sites, {routers} routers").format(**summary),
            ansible_facts={"captiva_compiled": {
                k: compiled[k] for k in ("freeradius_clients", "routeros", "router_api", "summary")
            }},
        )
        return result
