"""Validate the roster and compile the routers' desired state, once a run, on the controller.

Ansible glue only; the work is in the ``captiva_roster`` module (module_utils
``captiva_roster_io`` and ``captiva_roster_compile``). This plugin:

1. reads every ``captiva_*`` variable of the play as plain values, decrypting vaulted ones
   (a missing vault password fails here, naming the vault id and how to pass it);
2. writes them, with the inventory's files and its ``routers`` group, to a file in the task's
   private temporary directory, and runs the module on the controller;
3. prints every roster error as ``<file>:<line>: <yaml path>: <reason>``, or, on success,
   fetches the validated roster into Ansible's private temporary directory of this run
   (removed when ansible-playbook exits) and sets the fact ``captiva_compiled``; its
   ``roster_file`` is what ``captiva_radius`` reconciles, so the roster is validated once.

Its result is hidden like ``no_log`` when it succeeds (the fact holds router secrets), and
shown when it fails (errors name no secret), so the task itself needs no ``no_log``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ansible import constants as C
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()
PROJECT = Path(__file__).resolve().parents[2]
DEFAULTS_FILE = PROJECT / "group_vars" / "captiva_defaults.yml"
PREFIX = "captiva_"
FACT = "captiva_compiled"


class VaultLocked(Exception):
    """A vaulted roster value could not be decrypted."""


def vault_id(ciphertext: str) -> str:
    """The vault id of a vaulted value (``$ANSIBLE_VAULT;1.2;AES256;<id>``), or ``default``."""
    header = ciphertext.lstrip().split("\n", 1)[0].split(";")
    return header[3].strip() if len(header) > 3 and header[3].strip() else "default"


def vault_help(ids: set[str]) -> str:
    shown = ", ".join(sorted(ids))
    one = sorted(ids)[0]
    return (
        f"cannot decrypt the roster: no vault password for vault id {shown!s} (or a wrong one). "
        f"Pass it to ansible-playbook with --vault-id {one}@prompt, or --vault-id "
        f"{one}@<password file>, or set ANSIBLE_VAULT_PASSWORD_FILE=<password file>; with "
        f"make: make plan INVENTORY=... VAULT_ARGS='--vault-id {one}@prompt'")


def plain(value: Any, template: Callable[[Any], Any], locked: set[str]) -> Any:
    """``value`` as plain JSON-able Python values.

    Only the leaves that need it go through ``template``: strings holding a Jinja expression
    and vaulted values (which it decrypts). Templating the whole structure would be
    equivalent but costs seconds per 10,000 users in Ansible's templar. Vault ids that fail
    to decrypt are collected in ``locked``.
    """
    if isinstance(value, Mapping):
        return {str(k): plain(v, template, locked) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, template, locked) for v in value]
    if isinstance(value, str) and type(value).__name__ != "EncryptedString":
        return template(value) if ("{{" in value or "{%" in value) else str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float)):
        return value
    try:
        return template(value)  # a vaulted value and anything else the templar knows
    except Exception as exc:
        ciphertext = getattr(value, "_ciphertext", None)
        if ciphertext is None and "vault" not in type(exc).__name__.lower():
            raise
        locked.add(vault_id(str(ciphertext or getattr(exc, "obj", "") or "")))
        return None


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _VALID_ARGS = frozenset()

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        locked: set[str] = set()
        variables = {n: plain(v, self._templar.template, locked) for n, v in task_vars.items()
                     if n.startswith(PREFIX) and n != FACT}
        if locked:
            display.error(vault_help(locked))
            result.update(failed=True, msg=vault_help(locked))
            return result
        payload = {
            "variables": variables,
            "defaults_file": str(DEFAULTS_FILE),
            "inventory_sources": list(task_vars.get("ansible_inventory_sources") or []),
            "inventory_routers": list(task_vars.get("groups", {}).get("routers", [])),
            "display_root": str(Path.cwd()),
        }
        shell = self._connection._shell
        if not shell.tmpdir:
            self._make_tmp_path()
        remote_in = shell.join_path(shell.tmpdir, "captiva-variables.json")
        remote_out = shell.join_path(shell.tmpdir, "captiva-roster.json")
        try:
            self._transfer_data(remote_in, json.dumps(payload))
            module = self._execute_module(
                module_name="captiva.campus.captiva_roster", task_vars=task_vars,
                module_args={"variables_file": remote_in, "output": remote_out})
            if module.get("failed"):
                for line in module.get("errors", []):
                    display.display(line, color=C.COLOR_ERROR, stderr=True)
                result.update(module)
                return result
            # Ansible's private directory of this run (0700), removed when it exits.
            handle, local = tempfile.mkstemp(prefix="captiva-roster-", suffix=".json",
                                             dir=C.DEFAULT_LOCAL_TMP)
            os.close(handle)
            self._connection.fetch_file(remote_out, local)
        finally:
            if shell.tmpdir:
                self._remove_tmp_path(shell.tmpdir)
        os.chmod(local, 0o600)  # fetch_file may have replaced the file
        with open(local, encoding="utf-8") as handle:
            compiled = json.load(handle)["compiled"]
        summary = compiled["summary"]
        result.update(
            changed=False,
            summary=summary,
            msg=("roster valid: {users} users, {profiles} profiles, {promotions} promotions, "
                 "{sites} sites, {routers} routers").format(**summary),
            ansible_facts={FACT: dict(compiled, roster_file=local)},
            _ansible_no_log=True,
        )
        return result
