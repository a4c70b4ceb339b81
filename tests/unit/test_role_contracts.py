"""Every role input is documented: a default (or a vault-only input) and an argument spec
entry, carrying the role's prefix (STYLE.md)."""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "defaults").is_dir())
VAULT_ONLY = {"mikrotik": {"mikrotik_api_password"}}  # secrets without a default


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_argument_specs_agree(role):
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text())
    options = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text(
    ))["argument_specs"]["main"]["options"]
    assert set(defaults) - set(options) == set(), "defaults without an argument spec"
    assert set(options) - set(defaults) == VAULT_ONLY.get(role, set()), "inputs without a default"
    assert [name for name in options if not name.startswith(f"{role}_")] == []
    for name, option in options.items():
        assert option.get("description"), f"{name} has no description"


def test_every_role_is_checked():
    assert ROLES == ["etcd", "freeradius", "mikrotik", "portal", "postgres"]
