#!/usr/bin/env python3
"""Print the lab hosts of inventories/lab/hosts.yml, the one place they are defined.

Each line: NAME CONTAINER ADDRESS GROUP (GROUP is the host's first group, e.g. postgres).
A lab host is any inventory host with ``captiva_lab_container`` and ``captiva_lab_address``.
Fails if an address is outside the subnet, or a container or address is used twice.

usage: lab-hosts.py INVENTORY_FILE SUBNET
"""

from __future__ import annotations

import ipaddress
import sys

import yaml


def walk(group_name: str, group: dict, inherited: dict, out: dict) -> None:
    group = group or {}
    group_vars = {**inherited, **(group.get("vars") or {})}
    for name, host_vars in (group.get("hosts") or {}).items():
        entry = out.setdefault(name, {"groups": [], "vars": {}})
        entry["groups"].append(group_name)
        entry["vars"] = {**group_vars, **entry["vars"], **(host_vars or {})}
    for child_name, child in (group.get("children") or {}).items():
        walk(child_name, child, group_vars, out)


def main() -> int:
    inventory_file, subnet_text = sys.argv[1], sys.argv[2]
    subnet = ipaddress.ip_network(subnet_text)
    with open(inventory_file, encoding="utf-8") as stream:
        inventory = yaml.safe_load(stream) or {}
    hosts: dict = {}
    walk("all", inventory.get("all"), {}, hosts)
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
