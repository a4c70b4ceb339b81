"""Action plugins are controller glue: they load no sibling file and leave
``ansible.module_utils`` as Ansible has it (the work runs in modules)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ACTIONS = sorted((ROOT / "plugins" / "action").glob("*.py"))
PROBE = """
import importlib.util, sys
import ansible.module_utils
before = list(ansible.module_utils.__path__)
spec = importlib.util.spec_from_file_location("probe", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
assert list(ansible.module_utils.__path__) == before, ansible.module_utils.__path__
assert not any(m.startswith("ansible.module_utils.captiva") for m in sys.modules), sorted(
    m for m in sys.modules if "captiva" in m)
assert hasattr(module, "ActionModule")
"""


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: p.stem)
def test_action_plugin_imports_no_module_utils(path):
    # A fresh interpreter: tests/conftest.py extends ansible.module_utils for pytest itself.
    result = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True,
                            text=True, cwd=ROOT, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "importlib" not in path.read_text()
