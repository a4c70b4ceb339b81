"""inventories/lab-ha reuses the lab roster (docs/ha.md): no lab host needed."""

from __future__ import annotations

import json
import os
import subprocess

import yaml

import lab

LAB_VARS = lab.ROOT / "inventories" / "lab" / "group_vars" / "all"
HA_VARS = lab.INVENTORY / "group_vars" / "all"


def test_every_lab_roster_file_is_linked_or_replaced():
    for path in sorted(LAB_VARS.iterdir()):
        ha = HA_VARS / path.name
        assert ha.exists(), f"{ha}: link it to {path} (or replace it) so lab-ha has the roster"
        if ha.is_symlink():
            assert ha.resolve() == path.resolve(), ha


def test_sites_equal_the_lab_but_for_the_router_address():
    lab_sites = yaml.safe_load((LAB_VARS / "sites.yml").read_text().replace(
        "10.89.0.21", "10.89.2.21").replace("!vault", "vault"))
    ha_sites = yaml.safe_load((HA_VARS / "sites.yml").read_text().replace("!vault", "vault"))
    assert ha_sites == lab_sites


def test_the_ha_addresses_win_over_the_lab_settings():
    out = subprocess.run(
        [str(lab.ROOT / ".venv" / "bin" / "ansible-inventory"), "-i", str(lab.INVENTORY),
         "--vault-id", lab.VAULT_ID, "--host", "ha-radius1"],
        check=True, capture_output=True, text=True, cwd=lab.ROOT,
        env={**os.environ, "ANSIBLE_CONFIG": str(lab.ROOT / "ansible.cfg")}).stdout
    host = json.loads(out)
    assert host["captiva_database"]["host"] == "10.89.2.10,10.89.2.11,10.89.2.12"
    assert host["captiva_radius_servers"] == ["10.89.2.15", "10.89.2.16"]
    # The RADIUS hosts verify the members through their database proxy by the name lab/ha-pki
    # writes into every member's certificate.
    pki = (lab.ROOT / "lab" / "ha-pki").read_text()
    assert host["captiva_database"]["proxy"] is True
    assert f'CLUSTER_NAME={host["captiva_database"]["tls_name"]}\n' in pki
    assert host["freeradius_db_unavailable"] == "drop"
    assert "captiva_db_passwords" in host  # the lab's settings.yml, linked
