"""Validate the roster and compile it, on the controller, contacting no host.

Reads the roster variables (captiva_profiles, captiva_promotions, captiva_users,
captiva_sites and the captiva_* settings) from the play's variables, validates them with
``captiva_roster.validate`` and prints **every** error as ``<file>:<line>: <yaml path>: <reason>``.
On success it sets three facts: ``captiva_roster`` (the normalised roster without secrets)
and ``captiva_credentials`` (its passwords and secrets), both for the ``captiva_radius``
module, and ``captiva_compiled`` (the desired state of the routers and FreeRADIUS clients,
and a summary).
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
    ROSTER_LISTS,
    SETTINGS,
    Locator,
    compile_roster,
    roster_to_data,
    validate,
)
from ansible.plugins.action import ActionBase  # noqa: E402
from ansible.utils.display import Display  # noqa: E402

display = Display()
DEFAULTS_FILE = Path(__file__).resolve().parents[2] / "group_vars" / "captiva_defaults.yml"


def roster_files(inventory_sources) -> list[str]:
    """The YAML files the roster may come from, in Ansible's precedence order."""
    files = [str(DEFAULTS_FILE)]
    for source in inventory_sources or []:
        base = Path(source)
        base = base if base.is_dir() else base.parent
        group_vars = base / "group_vars"
        for name in ("all.yml", "all.yaml"):
            if (group_vars / name).is_file():
                files.append(str(group_vars / name))
        if (group_vars / "all").is_dir():
            files += sorted(str(p) for p in (group_vars / "all").iterdir()
                            if p.suffix in (".yml", ".yaml"))
    return files


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("now",))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        started = time.monotonic()
        names = [*SETTINGS, *ROSTER_LISTS]
        variables = {n: self._templar.template(task_vars[n]) for n in names if n in task_vars}
        roster, errors = validate(variables)
        if errors:
            locator = Locator(roster_files(task_vars.get("ansible_inventory_sources")),
                              display_root=str(Path.cwd()))
            lines = [e.render(locator) for e in errors]
            for line in lines:
                display.display(line, color=C.COLOR_ERROR, stderr=True)
            result.update(failed=True, errors=lines,
                          msg=f"the roster has {len(errors)} error(s); nothing was changed")
            return result
        now = self._task.args.get("now")
        now = dt.datetime.fromisoformat(now) if now else dt.datetime.now(dt.UTC)
        compiled = compile_roster(roster, now)
        data, credentials = roster_to_data(roster)
        summary = compiled["summary"]
        result.update(
            changed=False,
            summary=summary,
            elapsed=round(time.monotonic() - started, 3),
            msg=("roster valid: {users} users ({active} active), {profiles} profiles, "
                 "{promotions} promotions, {sites} sites, {routers} routers").format(**summary),
            ansible_facts={
                "captiva_roster": data,
                "captiva_credentials": credentials,
                "captiva_compiled": {k: compiled[k] for k in
                                     ("freeradius_clients", "routeros", "router_api",
                                      "summary")},
            },
        )
        return result
