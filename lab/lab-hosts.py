#!/usr/bin/env python3
"""Print the lab hosts of an inventory (inventories/lab, inventories/lab-ha), as Ansible
reads it: the hosts of hosts.yml, and the routers the inventory plugin
captiva.campus.captiva_routers makes from captiva_sites (routers.yml).

Each line: NAME CONTAINER ADDRESS GROUP (GROUP is the host's innermost group, e.g. postgres;
the last one for a host in two, e.g. postgres for a database host also in etcd).
A lab host is any inventory host with ``captiva_lab_container`` and ``captiva_lab_address``
(in hosts.yml; a router's container in host_vars/<host>.yml, its address the roster's,
captiva_sites[].routers[].address).
Fails if an address is outside the subnet, or a container or address is used twice.

usage: lab-hosts.py INVENTORY SUBNET    (INVENTORY: the directory, or its hosts.yml)
"""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]


def inventory_hosts(source: str) -> dict:
    """``{name: {"groups": [innermost group], "vars": host vars}}`` in inventory order."""
    os.environ.setdefault("ANSIBLE_CONFIG", str(PROJECT_DIR / "ansible.cfg"))
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import init_plugin_loader
    from ansible.utils.vars import combine_vars
    from ansible.vars.plugins import get_vars_from_inventory_sources

    # The collection finder over ansible.cfg's collections_path: the inventory plugin
    # captiva.campus.captiva_routers loads as it does for a playbook.
    init_plugin_loader()
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[source])
    everyone = inventory.groups["all"]
    sites = combine_vars(everyone.get_vars(), get_vars_from_inventory_sources(
        loader, [source], [everyone], "all")).get("captiva_sites") or []
    # A router's address is the roster's (captiva_sites[].routers[].address), declared once.
    router_addresses = {router["name"]: router.get("address") for site in sites
                        for router in site.get("routers") or []}
    hosts = {}
    for name, host in inventory.hosts.items():
        depth, innermost = -1, "all"
        for group in host.get_groups():
            if group.name != "all" and group.depth >= depth:
                depth, innermost = group.depth, group.name
        host_vars = combine_vars(host.get_vars(),
                                 get_vars_from_inventory_sources(loader, [source], [host], "all"))
        if name in router_addresses and "captiva_lab_address" not in host_vars:
            host_vars["captiva_lab_address"] = router_addresses[name]
        hosts[name] = {"groups": [innermost], "vars": host_vars}
    return hosts


def main() -> int:
    inventory_file, subnet_text = sys.argv[1], sys.argv[2]
    subnet = ipaddress.ip_network(subnet_text)
    source = inventory_file if os.path.isdir(inventory_file) else os.path.dirname(inventory_file)
    hosts = inventory_hosts(os.path.abspath(source or "."))
    errors, seen = [], {}
    for name, entry in hosts.items():
        host_vars = entry["vars"]
        container = host_vars.get("captiva_lab_container")
        address = host_vars.get("captiva_lab_address")
        if not container or not address:
            continue
        if ipaddress.ip_address(address) not in subnet:
            errors.append(f"{name}: captiva_lab_address {address} is outside {subnet}")
        for key in (container, address):
            if key in seen:
                errors.append(f"{name}: {key} is also used by {seen[key]}")
            seen[key] = name
        groups = [g for g in entry["groups"] if g != "all"]
        print(name, container, address, groups[-1] if groups else "all")
    for error in errors:
        print(f"{inventory_file}: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
