"""Make Captiva's module_utils importable exactly as Ansible ships them to modules: the
repository is the collection captiva.campus (collections/ansible_collections/captiva/campus
points at it), so ``ansible_collections.captiva.campus.plugins.module_utils.<name>``."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "collections"))

# Shared test helpers (roster_base.py) live next to this file; the runtime package `captiva`
# is imported from the tree (roles/portal installs it on the hosts).
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]


# In CI a skipped test is a failure (tests/ci_rules.py).
pytest_plugins = ["ci_rules"]
