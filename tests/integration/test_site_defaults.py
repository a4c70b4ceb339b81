"""The top-level group_vars/captiva_defaults.yml loads for every playbook and inventory,
below each inventory's own values."""

import textwrap

import yaml
from ansible_run import ROOT, ansible_playbook

PROBE = textwrap.dedent("""\
    - name: Probe
      hosts: all
      gather_facts: false
      tasks:
        - name: Show the settings
          ansible.builtin.debug:
            msg: "tz={{ captiva_timezone }} week={{ captiva_week_start }}"
    """)


def test_defaults_reach_a_foreign_inventory_and_yield_to_it(tmp_path):
    defaults = yaml.safe_load((ROOT / "group_vars" / "captiva_defaults.yml").read_text())
    inventory = tmp_path / "campus"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n")
    (inventory / "group_vars" / "all" / "settings.yml").write_text("captiva_week_start: sunday\n")
    probe = ROOT / "playbooks" / "_probe_defaults.yml"
    probe.write_text(PROBE)
    try:
        result = ansible_playbook(inventory, probe.name)
    finally:
        probe.unlink()
    assert result.returncode == 0, result.stdout
    # from the top-level defaults, and the inventory's own value wins
    assert f"tz={defaults['captiva_timezone']} week=sunday" in result.stdout


def test_defaults_reach_every_shipped_inventory():
    for inventory in sorted((ROOT / "inventories").iterdir()):
        vault = next(inventory.glob("vault-password-*-only.txt"))
        vault_id = vault.name.removeprefix("vault-password-").removesuffix("-only.txt")
        result = ansible_playbook(inventory, "validate.yml", "--vault-id",
                                  f"{vault_id}@{vault}")
        assert result.returncode == 0, result.stdout
        assert "users:" in result.stdout
