"""playbooks/validate.yml with a real inventory: the routers of the inventory group
`routers` and of captiva_sites are cross-checked, naming both files."""

import textwrap

import yaml
from ansible_run import ansible_playbook
from roster_base import base_variables, with_hotspot

HOSTS = textwrap.dedent("""\
    all:
      hosts:
        localhost:
          ansible_connection: local
          ansible_python_interpreter: "{{ ansible_playbook_python }}"
      children:
        routers:
          hosts:
            gw1: {ansible_host: 10.20.1.1}
            gw9: {ansible_host: 10.20.1.9}
    """)


def test_validate_names_both_places_of_a_router_declared_once(tmp_path):
    inventory = tmp_path / "campus"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(HOSTS)
    roster = {k: v for k, v in base_variables().items()
              if k in ("captiva_radius_servers", "captiva_portal", "captiva_profiles",
                       "captiva_promotions")}
    roster["captiva_sites"] = [{"name": "campus-a", "routers": [
        {"name": name, "address": address, "radius_secret": "a-long-enough-radius-secret",
         "api": {"username": "captiva", "password": "api-password"}}
        for name, address in (("gw1", "10.20.1.1"), ("gw2", "10.20.1.2"))]}]
    with_hotspot(roster)
    (inventory / "group_vars" / "all" / "sites.yml").write_text(yaml.safe_dump(roster))
    result = ansible_playbook(inventory, "validate.yml")
    assert result.returncode != 0
    assert ("captiva_sites[0].routers[1].name: router 'gw2' is not a host of the inventory "
            "group 'routers'") in result.stdout
    assert ("routers.hosts.gw9: host 'gw9' of the inventory group 'routers' is not declared "
            "in captiva_sites[].routers") in result.stdout
    assert "hosts.yml:10: routers.hosts.gw9" in result.stdout


def test_validate_shows_no_router_secret_even_verbose(tmp_path):
    # The task has no no_log: the action hides its own result, whose fact holds secrets.
    inventory = tmp_path / "campus"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(HOSTS.replace("gw9: {ansible_host: 10.20.1.9}", ""))
    roster = {k: v for k, v in base_variables().items()
              if k in ("captiva_radius_servers", "captiva_portal", "captiva_profiles",
                       "captiva_promotions")}
    roster["captiva_users"] = [{"username": "alice01", "password": "alice01-secret-pw"}]
    roster["captiva_sites"] = [{"name": "campus-a", "routers": [
        {"name": "gw1", "address": "10.20.1.1", "radius_secret": "router-radius-secret-1",
         "api": {"username": "captiva", "password": "router-api-secret-1"}}]}]
    with_hotspot(roster)
    (inventory / "group_vars" / "all" / "sites.yml").write_text(yaml.safe_dump(roster))
    result = ansible_playbook(inventory, "validate.yml", "-vvv")
    assert result.returncode == 0, result.stdout
    assert "users: 1" in result.stdout and "routers: 1" in result.stdout
    # the hotspot certificate's key: no line of it either
    key_lines = roster["captiva_sites"][0]["hotspot_tls"]["key"].splitlines()[1:-1]
    for secret in ("router-radius-secret-1", "router-api-secret-1", "alice01-secret-pw",
                   *key_lines):
        assert secret not in result.stdout
