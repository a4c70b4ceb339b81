"""lab/lab-hosts.py: the lab hosts as `make lab` creates them, read from the inventories as
Ansible reads them. A router is declared once, in the roster's sites.yml: its container's
address is the router's address there, not a second copy in host_vars."""

import ipaddress
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def lab_hosts(inventory: str, subnet: str) -> dict[str, tuple[str, str, str]]:
    out = subprocess.run([sys.executable, str(ROOT / "lab" / "lab-hosts.py"),
                          str(ROOT / "inventories" / inventory), subnet],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    return {name: (container, address, group)
            for name, container, address, group in (line.split() for line in out.splitlines())}


def sites_routers(inventory: str) -> dict[str, str]:
    text = (ROOT / "inventories" / inventory / "group_vars" / "all" / "sites.yml").read_text()
    sites = yaml.safe_load(text.replace("!vault", "vault"))["captiva_sites"]
    return {router["name"]: router["address"] for site in sites for router in site["routers"]}


@pytest.mark.parametrize(("inventory", "subnet"), [("lab", "10.89.0.0/24"),
                                                   ("lab-ha", "10.89.2.0/24")])
def test_each_router_container_is_at_the_routers_address_of_sites_yml(inventory, subnet):
    hosts = lab_hosts(inventory, subnet)
    routers = sites_routers(inventory)
    assert routers
    for name, address in routers.items():
        container, lab_address, group = hosts[name]
        assert (lab_address, group) == (address, "routers")
        assert container.startswith("captiva-lab")
    addresses = [address for _, address, _ in hosts.values()]
    assert len(set(addresses)) == len(addresses)
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network(subnet) for a in addresses)
    host_vars = ROOT / "inventories" / inventory / "host_vars"
    for name in routers:
        assert "captiva_lab_address" not in yaml.safe_load((host_vars / f"{name}.yml").read_text())
