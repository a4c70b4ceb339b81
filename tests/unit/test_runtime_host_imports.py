"""What a Captiva host runs imports with what roles/portal installs there: the wheel and
roles/portal/files/requirements.txt, without Ansible, the collection's module_utils (the
controller's .venv reaches them through make venv's captiva-collections.pth), PyYAML or the
voucher cards' PDF libraries. A host-side import of one of those would fail on the host only,
at the first timer run."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Controller tools: they read inventories (YAML, module_utils) or print cards.
CONTROLLER_ONLY = ("captiva.onboarding.", "captiva.gitops", "captiva.vouchers.pdf")
ABSENT_ON_HOSTS = ("ansible", "ansible_collections", "yaml", "ruamel", "fpdf", "segno")

PROBE = f"""
import importlib, importlib.abc, json, pkgutil, sys

class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {ABSENT_ON_HOSTS!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not on a Captiva host)")

sys.meta_path.insert(0, Absent())
import captiva
result = {{"imported": [], "failed": {{}}}}
for module in pkgutil.walk_packages(captiva.__path__, "captiva."):
    if module.name.endswith("__main__"):
        continue
    try:
        importlib.import_module(module.name)
        result["imported"].append(module.name)
    except ImportError as exc:
        result["failed"][module.name] = str(exc)
print(json.dumps(result))
"""


def test_every_host_side_module_imports_without_the_controllers_packages():
    run = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True)
    result = json.loads(run.stdout)
    host_failed = {name: why for name, why in result["failed"].items()
                   if not name.startswith(CONTROLLER_ONLY)}
    assert host_failed == {}
    # The commands a host runs: pyproject.toml's entry points and make smoke's checks.
    assert {"captiva.quota.cli", "captiva.portal.cli", "captiva.vouchers.cli",
            "captiva.workstations.cli", "captiva.smoke"} <= set(result["imported"])
    # The probe can fail: the controller's tools need what hosts lack.
    assert "captiva.onboarding.inventory" in result["failed"]
