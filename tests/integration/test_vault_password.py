"""A missing vault password says which vault id it needs and how to pass it, for the
playbooks and for make validate / plan / apply."""

import os
import subprocess

import pytest
from ansible_run import ROOT, ansible_playbook

EXAMPLE = ROOT / "inventories" / "example"


@pytest.mark.parametrize("playbook, args", [("validate.yml", ()), ("site.yml", ("--check",))])
def test_playbook_without_the_vault_password_names_the_vault_id(playbook, args, monkeypatch):
    for name in ("ANSIBLE_VAULT_PASSWORD_FILE", "ANSIBLE_VAULT_IDENTITY_LIST"):
        monkeypatch.delenv(name, raising=False)
    result = ansible_playbook(EXAMPLE, playbook, *args)
    assert result.returncode != 0
    output = " ".join(result.stdout.split())  # the callback folds long lines
    assert "no vault password for vault id example" in output
    assert "--vault-id example@prompt" in output
    assert "ANSIBLE_VAULT_PASSWORD_FILE" in output
    assert "hidden due to" not in output


@pytest.mark.parametrize("target", ["validate", "plan", "apply"])
def test_make_without_the_vault_password_says_how_to_pass_it(target):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_VAULT")}
    result = subprocess.run(
        ["make", "--no-print-directory", target, "INVENTORY=inventories/example", "VAULT_ARGS="],
        cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=300, check=False)
    assert result.returncode != 0
    assert "encrypted with vault id(s) example, but no vault password is given" in result.stdout
    assert (f"make {target} INVENTORY=inventories/example VAULT_ARGS='--vault-id example@prompt'"
            in result.stdout)
    assert "PLAY [" not in result.stdout  # stopped before Ansible touched anything
