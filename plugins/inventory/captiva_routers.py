"""The inventory group ``routers``, made from the roster's ``captiva_sites[].routers``.

A router is declared once, under its site (``group_vars/all/sites.yml``): this plugin adds
one host per router, named like it, to the group ``routers``, which the router plays run for
(playbooks/routers.yml, playbooks/smoke.yml). Every task of theirs runs on the controller
and reaches the router over the RouterOS API at the roster's address, so the group's hosts
get the controller's connection and Python, and no address of their own.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: captiva_routers
short_description: The group routers, one host per router of captiva_sites
description:
  - Reads C(captiva_sites) from the inventory's variables of the group C(all) (its
    C(group_vars/all.yml) or C(group_vars/all/*.yml), or C(all.vars) of a host file) and
    adds each router's C(name) as a host of the group C(routers).
  - The group gets C(ansible_connection=local) and the controller's Python
    (C(ansible_playbook_python)); an inventory's C(group_vars/routers.yml) may override them.
  - A router without a valid name, or a name used twice, fails the source with the file,
    line and YAML path of the router (the same errors as C(captiva.campus.validate)).
  - "Enable it with a file of the inventory directory named C(routers.yml) holding
    C(plugin: captiva.campus.captiva_routers); the C(auto) inventory plugin (enabled by
    default) loads it."
options:
  plugin:
    description: The name of this plugin; it makes the file an inventory source of it.
    required: true
    choices: [captiva.campus.captiva_routers]
"""

EXAMPLES = r"""
# inventories/<campus>/routers.yml
plugin: captiva.campus.captiva_routers
"""

import os
from pathlib import Path

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin
from ansible.template import trust_as_template
from ansible.utils.vars import combine_vars
from ansible.vars.plugins import get_vars_from_inventory_sources
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster_io import (
    ROUTERS_GROUP,
    ROUTERS_PLUGIN,
    Locator,
    roster_files,
)
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster_schema import (
    name as router_name,
)

GROUP = ROUTERS_GROUP
SITES = "captiva_sites"
DEFAULTS_FILE = str(Path(__file__).resolve().parents[2] / "group_vars" / "captiva_defaults.yml")


def router_names(sites) -> tuple[list[str], list[tuple[str, str]]]:
    """Pure: ``(names, errors)`` from ``captiva_sites``: the routers' names in order, and
    ``(yaml path, reason)`` for each router without a valid name or with a name used twice.
    The rest of a router (address, API, secrets) is validate's to check."""
    names: list[str] = []
    errors: list[tuple[str, str]] = []
    if sites is None:
        return names, errors
    if not isinstance(sites, list):
        return names, [(SITES, f"expected a list of sites, got {type(sites).__name__}")]
    seen: dict[str, str] = {}
    for i, site in enumerate(sites):
        routers = site.get("routers") if isinstance(site, dict) else None
        if routers is None:
            continue
        if not isinstance(routers, list):
            errors.append((f"{SITES}[{i}].routers",
                           f"expected a list of routers, got {type(routers).__name__}"))
            continue
        for j, router in enumerate(routers):
            path = f"{SITES}[{i}].routers[{j}]"
            if not isinstance(router, dict):
                errors.append((path, f"expected a mapping, got {type(router).__name__}"))
                continue
            if "name" not in router:
                errors.append((f"{path}.name", "required: the router's name, which is its host "
                               f"in the inventory group {GROUP!r}"))
                continue
            found: list = []
            value = router_name(router["name"], f"{path}.name", found)
            if found:
                errors += [(error.path, error.reason) for error in found]
            elif value in seen:
                errors.append((f"{path}.name", f"duplicate router name {value!r} (already used "
                               f"by {seen[value]})"))
            else:
                seen[value] = path
                names.append(str(value))
    return names, errors


class InventoryModule(BaseInventoryPlugin):
    NAME = ROUTERS_PLUGIN

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("routers.yml", "routers.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        sources = list(dict.fromkeys([*getattr(inventory, "processed_sources", []), path]))
        everyone = inventory.groups["all"]
        # The group all's variables as a play sees them: a host file's all.vars (parsed
        # before, in name order), then group_vars/all of each source (host_group_vars).
        variables = combine_vars(everyone.get_vars(),
                                 get_vars_from_inventory_sources(loader, sources, [everyone],
                                                                 "all"))
        names, errors = router_names(variables.get(SITES))
        if errors:
            locator = Locator(roster_files(DEFAULTS_FILE, sources), display_root=os.getcwd())
            lines = []
            for yaml_path, reason in errors:
                where = locator.locate(yaml_path)
                lines.append(f"{where}: {yaml_path}: {reason}" if where
                             else f"{yaml_path}: {reason}")
            raise AnsibleParserError(f"{path}: the group {GROUP!r} comes from {SITES}, which "
                                     "has errors:\n" + "\n".join(lines))
        self.inventory.add_group(GROUP)
        self.inventory.set_variable(GROUP, "ansible_connection", trust_as_template("local"))
        self.inventory.set_variable(GROUP, "ansible_python_interpreter",
                                    trust_as_template("{{ ansible_playbook_python }}"))
        for router in names:
            self.inventory.add_host(router, group=GROUP)
