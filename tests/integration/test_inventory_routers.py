"""Routers declared once: an inventory's routers.yml (the inventory plugin
captiva.campus.captiva_routers) makes the group routers from captiva_sites, as
ansible-inventory and ansible-playbook read it; bad routers are named by file, line and path."""

import json
import os
import subprocess

import yaml
from ansible_run import BIN, ROOT, ansible_playbook
from roster_base import base_variables, with_hotspot

ROUTERS_YML = "---\nplugin: captiva.campus.captiva_routers\n"


def campus(tmp_path, routers_by_site):
    inventory = tmp_path / "campus"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}}}))
    (inventory / "routers.yml").write_text(ROUTERS_YML)
    roster = {k: v for k, v in base_variables().items()
              if k in ("captiva_radius_servers", "captiva_portal", "captiva_profiles",
                       "captiva_promotions")}
    roster["captiva_sites"] = [
        {"name": site, "routers": [
            dict({"address": f"10.20.{i}.{j}", "radius_secret": "a-long-enough-radius-secret",
                  "api": {"username": "captiva", "password": "api-password"}}, **router)
            for j, router in enumerate(routers, 1)]}
        for i, (site, routers) in enumerate(routers_by_site.items(), 1)]
    with_hotspot(roster)
    (inventory / "group_vars" / "all" / "sites.yml").write_text(yaml.safe_dump(roster))
    return inventory


def inventory_list(inventory):
    return subprocess.run([str(BIN / "ansible-inventory"), "-i", str(inventory), "--list"],
                          cwd=ROOT, env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
                                             ANSIBLE_NOCOLOR="1"),
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_group_routers_is_the_routers_of_captiva_sites(tmp_path):
    inventory = campus(tmp_path, {"ndogbong": [{"name": "ndogbong-gw1"},
                                               {"name": "ndogbong-gw2"}],
                                  "akwa": [{"name": "akwa-gw1"}]})
    listed = inventory_list(inventory)
    assert listed.returncode == 0, listed.stderr
    assert "WARNING" not in listed.stderr, listed.stderr
    data = json.loads(listed.stdout)
    assert data["routers"]["hosts"] == ["ndogbong-gw1", "ndogbong-gw2", "akwa-gw1"]
    gw = data["_meta"]["hostvars"]["akwa-gw1"]
    # Managed from the controller over the API at the roster's address: no address here.
    assert gw["ansible_connection"] == "local"
    assert gw["ansible_python_interpreter"] == "{{ ansible_playbook_python }}"
    assert "ansible_host" not in gw
    # And validate agrees: the group and captiva_sites name the same routers.
    validated = ansible_playbook(inventory, "validate.yml")
    assert validated.returncode == 0, validated.stdout
    assert "routers: 3" in validated.stdout


def test_a_router_without_a_name_or_named_twice_is_named_by_file_line_and_path(tmp_path):
    inventory = campus(tmp_path, {"ndogbong": [{"name": "gw1"}, {"name": "gw1"}],
                                  "akwa": [{}]})
    sites = yaml.safe_load((inventory / "group_vars/all/sites.yml").read_text())
    lines = (inventory / "group_vars/all/sites.yml").read_text().splitlines()
    second = [n for n, line in enumerate(lines, 1) if line.strip() == "name: gw1"][1]
    assert sites["captiva_sites"][1]["routers"][0].get("name") is None
    listed = inventory_list(inventory)
    errors = " ".join(listed.stderr.split())
    assert (f"group_vars/all/sites.yml:{second}: captiva_sites[0].routers[1].name: duplicate "
            "router name 'gw1' (already used by captiva_sites[0].routers[0])") in errors
    assert ("captiva_sites[1].routers[0].name: required: the router's name, which is its host "
            "in the inventory group 'routers'") in errors
    assert f"{inventory / 'routers.yml'}: the group 'routers' comes from captiva_sites" in errors
    assert "routers" not in json.loads(listed.stdout)
    # A playbook stops at validate, which names them too; nothing is applied.
    refused = ansible_playbook(inventory, "validate.yml")
    assert refused.returncode != 0
    assert "captiva_sites[0].routers[1].name: duplicate router name 'gw1'" in refused.stdout


def test_an_inventory_without_routers_yml_is_refused_by_validate(tmp_path):
    inventory = campus(tmp_path, {"ndogbong": [{"name": "gw1"}]})
    (inventory / "routers.yml").unlink()
    refused = ansible_playbook(inventory, "validate.yml")
    assert refused.returncode != 0
    assert ("captiva_sites[0].routers[0].name: router 'gw1' is not a host of the inventory "
            "group 'routers'") in refused.stdout
    assert "add the inventory source routers.yml" in " ".join(refused.stdout.split())
