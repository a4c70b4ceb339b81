#!/usr/bin/python
"""The documentation of the action captiva_warn (plugins/action/captiva_warn.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: captiva_warn
short_description: Print a warning from a task, on every run, changing nothing
description:
  - For a setting that weakens security on purpose (an explicit opt-in such as
    C(etcd_plaintext)), every run, C(make plan) included, shows the message as a warning.
  - An action that runs on the controller only; this file documents it.
version_added: "1.0.0"
author: Captiva contributors (@captiva)
attributes:
  check_mode:
    support: full
    description: Warns in check mode too; changes nothing.
  diff_mode:
    support: none
    description: A warning has no diff.
options:
  msg:
    description: The warning, a non-empty string.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Warn that etcd serves plain HTTP
  captiva.campus.captiva_warn:
    msg: etcd_plaintext is true; etcd's clients and peers talk without TLS
  when: etcd_plaintext | bool
"""

RETURN = r"""
msg:
  description: The warning shown.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec={"msg": {"type": "str", "required": True}},
                           supports_check_mode=True)
    module.fail_json(msg="captiva_warn is an action: it runs on the controller, never as a "
                         "module on a host")


if __name__ == "__main__":
    main()
