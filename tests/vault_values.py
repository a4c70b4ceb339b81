"""Every secret an inventory holds, in clear, to look for in what Captiva prints.

The inventory's YAML files (group_vars links followed) are read with a loader that keeps
each ``!vault`` value; each is decrypted with the inventory's committed vault password
(lab and example inventories only: vault-password-<id>-only.txt), with ansible-vault's own
library. ``password_hash`` values of the roster count as secrets too.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from ansible.constants import DEFAULT_VAULT_ID_MATCH
from ansible.parsing.vault import VaultLib, VaultSecret

# sha512-crypt, as a roster's password_hash or radcheck holds it.
CRYPT_HASH = re.compile(r"\$6\$(rounds=\d+\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{86}")


class _Vaulted(str):
    pass


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!vault", lambda loader, node: _Vaulted(loader.construct_scalar(node)))


def _walk(value, path: str):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")
    else:
        yield path, value


def inventory_secrets(inventory: Path) -> dict[str, str]:
    """{``file: yaml.path``: clear value} of every vaulted value and password_hash."""
    password_file = next(inventory.glob("vault-password-*-only.txt"))
    vault_id = password_file.name.removeprefix("vault-password-").removesuffix("-only.txt")
    secret = VaultSecret(password_file.read_bytes().strip())
    vault = VaultLib([(vault_id, secret), (DEFAULT_VAULT_ID_MATCH, secret)])
    found = {}
    for file in sorted(inventory.rglob("*.yml")):
        data = yaml.load(file.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506
        for path, value in _walk(data, file.relative_to(inventory).as_posix() + ":"):
            if isinstance(value, _Vaulted):
                found[path] = vault.decrypt(value.encode()).decode()
            elif path.endswith(".password_hash") and isinstance(value, str):
                found[path] = value
    return found


def leaked(text: str, secrets: dict[str, str]) -> list[str]:
    """Where each secret shows in ``text`` (as is, or escaped as JSON would), and any
    sha512-crypt hash: an empty list when nothing leaks."""
    found = [f"{where} (vaulted value or password_hash)" for where, value in secrets.items()
             if value and (value in text or value.encode("unicode_escape").decode() in text)]
    found += [f"a password hash {match.group(0)[:12]}..." for match in CRYPT_HASH.finditer(text)]
    return found
