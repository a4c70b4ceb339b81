"""The controller tools' way into the collection ``captiva.campus``'s shared Python.

The roster's validation, the voucher rules and the RouterOS client live in the collection's
``plugins/module_utils`` (Ansible ships them to modules). The tools (CSV import, voucher
cards) run from a checkout of the repository, where ``collections/ansible_collections/captiva/
campus`` points at the repository itself, or from an installed collection
(``.../ansible_collections/captiva/campus/captiva``); either way they import the same files
under the same names as Ansible and the tests do:
``ansible_collections.captiva.campus.plugins.module_utils.<name>``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "ansible_collections.captiva.campus.plugins.module_utils"


def collections_dir() -> Path:
    """The directory that holds ``ansible_collections/captiva/campus`` for this tree."""
    if ROOT.parent.name == "captiva" and ROOT.parent.parent.name == "ansible_collections":
        return ROOT.parents[2]
    return ROOT / "collections"


def module_utils(name: str) -> ModuleType:
    """The collection's ``plugins/module_utils/<name>.py``, imported."""
    path = str(collections_dir())
    if path not in sys.path:
        sys.path.insert(0, path)
    return importlib.import_module(f"{PACKAGE}.{name}")
