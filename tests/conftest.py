"""Make Captiva's module_utils importable exactly as Ansible ships them to modules."""

import sys
from pathlib import Path

import ansible.module_utils

ROOT = Path(__file__).resolve().parents[1]
_MODULE_UTILS = str(ROOT / "plugins" / "module_utils")
if _MODULE_UTILS not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(_MODULE_UTILS)

# Shared test helpers (roster_base.py) live next to this file; the runtime package `captiva`
# is imported from the tree (roles/portal installs it on the hosts).
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]


# In CI a skipped test is a failure (tests/ci_rules.py).
pytest_plugins = ["ci_rules"]
