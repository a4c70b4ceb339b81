#!/usr/bin/python
"""Documentation of the captiva_roster action (plugins/action/captiva_roster.py).

The work runs on the controller, in the action plugin; this file holds the module contract
so ansible-doc and ansible-lint know the action.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: captiva_roster
short_description: Validate the roster and compile the desired state, contacting no host
description:
  - Reads the roster variables (C(captiva_profiles), C(captiva_promotions), C(captiva_users),
    C(captiva_sites) and the C(captiva_*) settings) and validates them all.
  - "Prints every error on one line, as C(<file>:<line>: <yaml path>: <reason>), and fails if
    there is any."
  - On success sets the facts C(captiva_roster) (the normalised roster without secrets),
    C(captiva_credentials) (its passwords and secrets) and C(captiva_compiled) (the routers'
    desired RouterOS configuration, the FreeRADIUS clients and a summary).
options:
  now:
    description: The instant the roster is evaluated at (ISO 8601, for tests); default now.
    type: str
attributes:
  check_mode:
    support: full
    description: Validation never changes anything.
  diff_mode:
    support: none
author: Captiva
notes:
  - Runs on the controller only; use it with C(no_log) since the facts carry secrets.
"""

EXAMPLES = r"""
- name: Validate and compile the roster
  captiva_roster:
  no_log: true
"""

RETURN = r"""
summary:
  description: Counts of users by status, profiles, promotions, sites and routers.
  returned: success
  type: dict
  sample: {users: 60, active: 45, disabled: 6, wifi-off: 7, expired: 2, profiles: 5}
errors:
  description: Every error, one line each.
  returned: failure
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec={"now": {"type": "str"}}, supports_check_mode=True)
    module.fail_json(msg="captiva_roster runs as an action plugin on the controller")


if __name__ == "__main__":
    main()
