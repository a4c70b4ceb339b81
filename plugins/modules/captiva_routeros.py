#!/usr/bin/python
"""Ansible module: reconcile Captiva's hotspot configuration on one MikroTik router."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: captiva_routeros
short_description: Reconcile Captiva's hotspot configuration on a MikroTik router
description:
  - Brings the RADIUS client, RADIUS incoming (CoA), hotspot profile, hotspot user profiles,
    walled garden and the hotspot's TLS certificate of one RouterOS router to the state given
    in O(desired), over the RouterOS API (librouteros), in one call per router.
  - Reads each menu in O(desired) once (one C(print) per menu path), computes a plan of
    creations, updates and removals, then applies it, one write per changed entry
    (removals of one menu go in a single command). Check mode sends no write.
  - Only entries Captiva created are changed or removed. Where the menu has a C(comment)
    field they carry C(comment=<marker>); hotspot profiles and user profiles, which have no
    comment, are listed in an ownership ledger kept on the router as C(/system/script)
    entries named C(<marker>-ledger-N). A desired name that already exists on the router
    and is not Captiva's fails the run before any write.
  - Values are compared in RouterOS's canonical forms (C(10M) equals C(10000000), C(1h)
    equals C(01:00:00), C(yes) equals C(true)), so a second run reports no change.
  - Never creates local C(/ip/hotspot/user) entries, which would shadow RADIUS users.
  - "A C(/certificate) entry (C(name), C(certificate), C(key): PEM texts) is imported when no
    certificate of that name is on the router: uploaded as C(<name>.pem) with C(/file/add),
    imported with C(/certificate/import), the file removed at once (it holds the key), then
    read back (fingerprint, private key). Imports run before every other write, removals of
    certificates Captiva imported after them. The name must be C(captiva-hotspot-) and the
    first 12 hex digits of the certificate's SHA-256 fingerprint. The key is never shown."
version_added: "0.1.0"
author: Captiva contributors (@captiva)
requirements:
  - librouteros >= 4.2
extends_documentation_fragment:
  - captiva.campus.routeros_api
  - captiva.campus.prune_guard
options:
  desired:
    description:
      - What Captiva owns on the router, keyed by menu path, in RouterOS field names.
      - List menus (C(/certificate), C(/radius), C(/ip/hotspot/profile),
        C(/ip/hotspot/user/profile), C(/ip/hotspot/walled-garden),
        C(/ip/hotspot/walled-garden/ip)) take a list of entries;
        settings menus (C(/radius/incoming), C(/system/identity)) take a dict of fields.
      - Entries are matched on C(name), on C(service) and C(address) for C(/radius), and on
        their match fields for the walled garden. Fields not given are left as they are.
      - Menu paths that are not given are neither read nor changed; give an empty list to
        remove all of Captiva's entries of a menu.
      - Unknown or read-only fields fail the run before anything is written.
    type: dict
    required: true
  prune:
    description: Remove entries Captiva owns that are no longer in O(desired).
    type: bool
    default: true
  marker:
    description: Ownership marker (comment value and ledger name prefix).
    type: str
    default: captiva
attributes:
  check_mode:
    support: full
    description: Reads the router and reports the plan; sends no write.
  diff_mode:
    support: full
    description: >-
      Per menu and entry, the managed fields before and after; secrets masked, certificates
      shown by name, fingerprint, names and end date, never their key.
notes:
  - Walled-garden order is not managed; Captiva's entries are allow rules added at the end.
"""

EXAMPLES = r"""
- name: Reconcile the router's hotspot configuration
  captiva_routeros:
    host: 10.89.1.1
    username: captiva
    password: "{{ vault_mikrotik_api_password }}"
    tls: true
    ca_path: /etc/captiva/routers-ca.pem
    desired:
      /radius:
        - service: hotspot
          address: 10.89.0.10
          secret: "{{ vault_radius_secret }}"
          timeout: 2s
          authentication-port: 1812
          accounting-port: 1813
          require-message-auth: yes-for-request-resp
      /radius/incoming: {accept: true, port: 3799}
      /ip/hotspot/profile:
        - {name: captiva, use-radius: true, radius-interim-update: 5m, login-by: "https,cookie"}
      /ip/hotspot/user/profile:
        - {name: etudiant-standard, rate-limit: 2M/10M, shared-users: 1, session-timeout: 8h}
      /ip/hotspot/walled-garden:
        - {dst-host: portal.campus.example, action: allow}
      /ip/hotspot/walled-garden/ip:
        - {dst-address: 10.89.0.12, action: accept}
  delegate_to: localhost
  no_log: true
"""

RETURN = r"""
actions:
  description:
    - The writes, in order (in check mode, the writes it would send). Secret values masked.
    - Writes to the ownership ledger appear with menu C(/system/script).
  type: list
  elements: dict
  returned: always
  sample:
    - {menu: /ip/hotspot/user/profile, action: update, entry: name=etudiant-standard,
       fields: {rate-limit: 4M/20M}}
    - {menu: /radius, action: create, entry: "service=hotspot,address=10.89.0.10",
       fields: {address: 10.89.0.10, comment: captiva, secret: "********", service: hotspot}}
counts:
  description: Number of entry actions by kind (create, update, delete, set).
  type: dict
  returned: always
  sample: {create: 3, update: 1}
diff:
  description: Per menu and entry, managed fields before and after (diff mode).
  type: dict
  returned: when diff mode is on
  sample:
    before: {/ip/hotspot/user/profile: {name=etudiant-standard: {rate-limit: 2M/10M}}}
    after: {/ip/hotspot/user/profile: {name=etudiant-standard: {rate-limit: 4M/20M}}}
"""

import importlib.util

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.captiva.campus.plugins.module_utils.captiva_prune import (
    ARGUMENT_SPEC as PRUNE_ARGUMENT_SPEC,
)
from ansible_collections.captiva.campus.plugins.module_utils.captiva_routeros import (
    CONNECTION_ARGUMENT_SPEC,
    reconcile,
    run_connected,
    secret_values,
)

# Whether the RouterOS API client is installed (module_utils imports it when it connects).
HAS_LIBROUTEROS = importlib.util.find_spec("librouteros") is not None

ARGUMENT_SPEC = {
    **CONNECTION_ARGUMENT_SPEC,
    "desired": {"type": "dict", "required": True},
    "prune": {"type": "bool", "default": True},
    **PRUNE_ARGUMENT_SPEC,
    "marker": {"type": "str", "default": "captiva"},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if not HAS_LIBROUTEROS:
        module.fail_json(msg=missing_required_lib("librouteros"))
    params = module.params
    # RADIUS secrets sit inside `desired`: mask them in every output, invocation included.
    module.no_log_values.update(secret_values(params["desired"]))
    result = run_connected(module, lambda client: reconcile(
        client, params["desired"], marker=params["marker"], prune=params["prune"],
        prune_max_ratio=params["prune_max_ratio"], prune_max_count=params["prune_max_count"],
        allow_mass_prune=params["allow_mass_prune"], check_mode=module.check_mode))
    for warning in result.pop("warnings"):
        module.warn(warning)
    if not module._diff:
        result.pop("diff")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
