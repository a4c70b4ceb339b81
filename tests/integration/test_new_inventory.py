"""make new-inventory NAME=... (issue 26): a skeleton inventory that yamllint accepts, that
validation refuses while it names every placeholder by file and line, and that validates once
each placeholder holds the campus's value."""

import json
import re
import subprocess

import yaml
from ansible_run import BIN, ROOT, ansible_playbook
from roster_base import hotspot_tls

PLACEHOLDER = re.compile(r"CHANGE-ME[A-Za-z0-9_-]*")


def placeholders(inventory):
    """{(file, line): placeholder} of every placeholder outside comments."""
    found = {}
    for path in sorted(inventory.rglob("*.yml")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if not line.lstrip().startswith("#"):
                for token in PLACEHOLDER.findall(line):
                    found[(path, number)] = token
    return found


def test_new_inventory_fails_validation_naming_each_placeholder_until_filled_in(tmp_path):
    inventory = tmp_path / "univ-test"
    made = subprocess.run(["make", "-s", "new-inventory", "NAME=univ-test", f"DIR={inventory}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert made.returncode == 0, made.stderr
    assert (inventory / "README.md").is_file()
    for part in ("hosts.yml", "settings.yml", "profiles.yml", "promotions.yml", "sites.yml"):
        assert part in made.stdout
    # Written again over an existing one: refused, nothing touched.
    again = subprocess.run(["make", "-s", "new-inventory", "NAME=univ-test", f"DIR={inventory}"],
                           cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode != 0 and "exists already" in again.stderr

    lint = subprocess.run([str(BIN / "yamllint"), "--strict", "-c", str(ROOT / ".yamllint"),
                           str(inventory)], capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout
    hosts = yaml.safe_load((inventory / "hosts.yml").read_text())
    assert set(hosts["all"]["children"]) >= {"postgres", "freeradius", "portal"}
    # The routers are declared once, in sites.yml: routers.yml makes their group from it.
    assert "routers" not in hosts["all"]["children"]
    assert yaml.safe_load((inventory / "routers.yml").read_text()) == {
        "plugin": "captiva.campus.captiva_routers"}
    settings = (inventory / "group_vars/all/settings.yml").read_text()
    assert "--vault-id univ-test@prompt" in settings

    found = placeholders(inventory)
    assert len(found) >= 20
    refused = ansible_playbook(inventory, "validate.yml")
    assert refused.returncode != 0
    output = " ".join(refused.stdout.split())
    for (path, number), token in found.items():
        # a secret's placeholder is masked like any secret; its file and line name it
        assert (f"{path}:{number}: {token}: a placeholder" in output
                or f"{path}:{number}: ********: a placeholder" in output), (path, number, token)

    # The campus fills each one in (its secrets vaulted in real life).
    tls = hotspot_tls("login.univ-test.example")
    values = {
        "CHANGE-ME-database-host-address": "10.20.0.10",
        "CHANGE-ME-radius-host-address": "10.20.0.11",
        "CHANGE-ME-portal-host-address": "10.20.0.20",
        "CHANGE-ME-router-address": "10.20.1.1",
        "CHANGE-ME-wifi-name": "UnivTest-WiFi",
        "CHANGE-ME-portal-dns-name": "wifi.univ-test.example",
        "CHANGE-ME-controller-network": "10.20.0.5/32",
        "CHANGE-ME-timezone": "Africa/Douala",
        "CHANGE-ME-client-network": "10.5.0.0/16",
        "CHANGE-ME-hotspot-dns-name": "login.univ-test.example",
        "CHANGE-ME-hotspot-certificate-pem": json.dumps(tls["certificate"]),
        "CHANGE-ME-vaulted-hotspot-key-pem": json.dumps(tls["key"]),
    }
    for path in inventory.rglob("*.yml"):
        text = path.read_text()
        for token in set(PLACEHOLDER.findall(text)):
            text = text.replace(token, values.get(token, f"{token[10:]}-a-long-random-value-42"))
        path.write_text(text)
    assert not placeholders(inventory)
    valid = ansible_playbook(inventory, "validate.yml")
    assert valid.returncode == 0, valid.stdout
    listed = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(inventory), "--list"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["routers"]["hosts"] == ["gw1"]
