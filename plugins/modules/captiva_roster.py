#!/usr/bin/python
"""Ansible module: validate the roster and compile the routers' desired state, once a run.

The action plugin of the same name (plugins/action/captiva_roster.py) reads the roster
variables from the play, writes them to a file in the task's private temporary directory and
runs this module on the controller; the work itself is in module_utils (captiva_roster_io,
captiva_roster_compile).
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: captiva_roster
short_description: Validate the roster and compile the routers' desired state, contacting no host
description:
  - Reads the roster variables (C(captiva_profiles), C(captiva_promotions), C(captiva_users),
    C(captiva_sites) and the C(captiva_*) settings) and validates them all, and checks that
    the routers of C(captiva_sites) are exactly the hosts of the inventory group C(routers).
  - "Prints every error on one line, as C(<file>:<line>: <yaml path>: <reason>), and fails if
    there is any."
  - On success the action plugin sets one fact, C(captiva_compiled), with keys
    C(freeradius_clients) (name, address, secret of each router), C(routeros) (each router's
    desired RouterOS configuration), C(router_api) (how to reach each router's API),
    C(summary) (counts of users, profiles, promotions, sites and routers) and
    C(roster_file) (the validated roster, in the run's private temporary directory on the
    controller, for O(captiva.campus.captiva_radius#module:roster_file)).
  - Users are counted by status (active, expired, ...) by C(captiva_radius), which knows
    when each user was first provisioned.
  - Give no option in a playbook; the action plugin sets both.
options:
  variables_file:
    description: JSON file of the roster variables and the inventory's files and routers.
    type: path
    required: true
  output:
    description: Where to write the validated roster and the compiled routers (JSON).
    type: path
    required: true
attributes:
  check_mode:
    support: full
    description: Validation changes nothing; it runs the same in check mode.
  diff_mode:
    support: none
    description: Validation has nothing to show as a diff; the reconcile's modules show theirs.
author: Captiva contributors (@captiva)
notes:
  - Runs on the controller. The fact carries RADIUS secrets and API passwords, so the
    action plugin hides its result (as C(no_log) would) when it succeeds.
"""

EXAMPLES = r"""
- name: Validate and compile the roster
  captiva_roster:
"""

RETURN = r"""
summary:
  description: Counts of users, profiles, promotions, sites and routers.
  returned: success
  type: dict
  sample: {users: 60, profiles: 5, promotions: 6, sites: 2, routers: 3}
errors:
  description: Every error, one line each.
  returned: failure
  type: list
  elements: str
"""

import json

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster_compile import (
    compile_routers,
)
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster_io import (
    RosterInvalid,
    host_files,
    load_roster,
    raw_secret_values,
    roster_files,
    roster_to_data,
    secret_values,
)


def main():
    module = AnsibleModule(argument_spec={
        "variables_file": {"type": "path", "required": True},
        "output": {"type": "path", "required": True},
    }, supports_check_mode=True)
    with open(module.params["variables_file"], encoding="utf-8") as handle:
        payload = json.load(handle)
    # Registered first: an error message must never show one of them either.
    module.no_log_values.update(raw_secret_values(payload["variables"]))
    try:
        roster = load_roster(
            payload["variables"],
            files=roster_files(payload["defaults_file"], payload["inventory_sources"]),
            display_root=payload["display_root"],
            inventory_routers=payload["inventory_routers"],
            inventory_files=host_files(payload["inventory_sources"]))
    except RosterInvalid as exc:
        module.fail_json(msg=str(exc), errors=exc.lines)
    data, credentials = roster_to_data(roster)
    module.no_log_values.update(secret_values(credentials))
    compiled = compile_routers(roster)
    # json.dumps, not json.dump: one C-encoded string is several times faster at 50,000 users.
    output = json.dumps({"roster": data, "credentials": credentials, "compiled": compiled},
                        separators=(",", ":"))
    with open(module.params["output"], "w", encoding="utf-8") as handle:
        handle.write(output)
    module.exit_json(changed=False, summary=compiled["summary"])


if __name__ == "__main__":
    main()
