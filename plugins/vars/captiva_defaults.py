"""Load Captiva's site-wide defaults from the top-level ``group_vars/`` for every inventory.

Ansible reads ``group_vars/`` only next to the inventory source or the playbook, so the
project's shared defaults would silently not load for ``playbooks/*.yml`` run against
``inventories/<env>``. This plugin loads ``<project>/group_vars/captiva_defaults.yml`` as
variables of the ``all`` group at the inventory stage. It is listed before
``host_group_vars`` in ``ansible.cfg``, so each inventory's own group_vars override these
defaults. (The file is deliberately not named ``all.yml``: an ad-hoc ``ansible`` command run
from the project root would load ``group_vars/all.yml`` as playbook-level variables, above
the inventory's own values.)
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: captiva_defaults
short_description: Captiva's site-wide defaults from the project's top-level group_vars
description:
  - Loads C(group_vars/captiva_defaults.yml) at the project root as variables
    of the C(all) group, with lower precedence than any inventory's own group_vars.
options:
  stage:
    description: When the plugin runs; only the inventory stage keeps the lowest precedence.
    default: inventory
    choices: [inventory]
    ini:
      - section: vars_captiva_defaults
        key: stage
"""

from pathlib import Path

from ansible.inventory.group import Group
from ansible.plugins.vars import BaseVarsPlugin

DEFAULTS_FILE = Path(__file__).resolve().parents[2] / "group_vars" / "captiva_defaults.yml"


class VarsModule(BaseVarsPlugin):
    is_stateless = True

    def get_vars(self, loader, path, entities, cache=True):
        super().get_vars(loader, path, entities)
        if not any(isinstance(e, Group) and e.name == "all" for e in entities):
            return {}
        # Trusted as templates like any group_vars file, so defaults may derive from other
        # variables (Ansible 2.19 renders only trusted templates).
        return loader.load_from_file(str(DEFAULTS_FILE), cache="all", unsafe=False,
                                     trusted_as_template=True) or {}
