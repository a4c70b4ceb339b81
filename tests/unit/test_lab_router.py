"""lab/lab-router.py reads the roster through Ansible's inventory in its own process: it must
load the project's vars plugins as a playbook run does (the site defaults of
captiva.campus.captiva_defaults), without a warning on every call."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_lab_router_loads_the_collection_vars_plugin_silently():
    run = subprocess.run([sys.executable, str(ROOT / "lab" / "lab-router.py"), "lab-gw1",
                          "radius-secret"], capture_output=True, text=True, timeout=300,
                         check=False)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # was: Error loading plugin 'captiva.campus.captiva_defaults'
    assert run.stdout.strip()
