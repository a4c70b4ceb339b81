#!/usr/bin/python
"""Ansible module: put files (the hotspot login page) on one MikroTik router over its API."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: captiva_routeros_files
short_description: Put text files, such as the hotspot login page, on a MikroTik router
description:
  - Writes each file of O(files) on one RouterOS router over the RouterOS API (librouteros),
    with C(/file/add name=... contents=...) or C(/file/set ... contents=...) (RouterOS 7.9
    and later). Nothing on the router needs to reach the controller or a web server.
  - Reads the files once (one C(/file/print)), compares the SHA-256 of their contents with
    the desired ones and writes only the files that differ, so a second run reports no
    change. Check mode sends no write.
  - Only the files given are touched; other files of the directory (the router's own
    C(status.html), C(md5.js)...) are left as they are.
version_added: "0.2.0"
author: Captiva contributors (@captiva)
requirements:
  - librouteros >= 4.2
  - RouterOS 7.9 or later on the router
extends_documentation_fragment:
  - captiva.campus.routeros_api
options:
  files:
    description:
      - The files, each with C(name) (a path relative to the router's file root, for
        example C(flash/hotspot/login.html)) and C(contents) (text, at most 60,000 bytes, the
        API's limit).
    type: list
    elements: dict
    required: true
attributes:
  check_mode:
    support: full
    description: Reads the files and reports which would be written; sends no write.
  diff_mode:
    support: full
    description: Each changed file's text before and after.
"""

EXAMPLES = r"""
- name: Put Captiva's hotspot login page on the router
  captiva_routeros_files:
    host: 10.89.1.1
    username: captiva
    password: "{{ vault_mikrotik_api_password }}"
    ca_path: /etc/captiva/routers-ca.pem
    files:
      - name: flash/hotspot/login.html
        contents: "{{ lookup('ansible.builtin.template', 'hotspot/login.html.j2') }}"
  delegate_to: localhost
"""

RETURN = r"""
files:
  description: One entry per file with the action (create, update or none), size and hashes.
  type: list
  elements: dict
  returned: always
  sample:
    - {name: flash/hotspot/login.html, action: update, size: 5120,
       sha256: 9f2c..., before_sha256: 03ab...}
"""

import importlib.util

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.captiva.campus.plugins.module_utils.captiva_routeros import (
    CONNECTION_ARGUMENT_SPEC,
    run_connected,
)
from ansible_collections.captiva.campus.plugins.module_utils.captiva_routeros_files import reconcile

# Whether the RouterOS API client is installed (module_utils imports it when it connects).
HAS_LIBROUTEROS = importlib.util.find_spec("librouteros") is not None

ARGUMENT_SPEC = {
    **CONNECTION_ARGUMENT_SPEC,
    "files": {"type": "list", "elements": "dict", "required": True},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if not HAS_LIBROUTEROS:
        module.fail_json(msg=missing_required_lib("librouteros"))
    result = run_connected(module, lambda client: reconcile(
        client, module.params["files"], check_mode=module.check_mode))
    if not module._diff:
        result.pop("diff")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
