"""A small valid roster that tests start from and change one thing at a time."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS_FILE = ROOT / "group_vars" / "captiva_defaults.yml"


def base_variables() -> dict:
    variables = yaml.safe_load(DEFAULTS_FILE.read_text())
    variables.update({
        "captiva_radius_servers": ["10.89.0.11"],
        "captiva_portal": {"address": "10.89.0.12", "dns_name": "portal.campus.test"},
        "captiva_profiles": [{
            "name": "etudiant-standard",
            "bandwidth": {"upload": "2M", "download": "10M"},
            "quota": {"daily": "5GiB", "weekly": "30GiB", "monthly": "100GiB"},
            "session_timeout": "8h",
            "idle_timeout": "10m",
            "simultaneous_use": 1,
            "validity_days": 180,
        }],
        "captiva_promotions": [{"name": "L3-INFO-2025", "profile": "etudiant-standard"}],
        "captiva_users": [],
        "captiva_sites": [],
    })
    return variables
