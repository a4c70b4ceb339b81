"""The router lab-gw1 (the RouterOS API simulator in captiva-mol-router-campus-lab), read
back over the API: Captiva's hotspot user profiles are the roster's profiles, plus the
public workstations' profile (without MAC cookie) once the lab declares workstations."""

from __future__ import annotations

import sys

import yaml
from conftest import PROJECT_DIR

PROFILES_FILE = PROJECT_DIR / "inventories/lab/group_vars/all/profiles.yml"
WORKSTATIONS_FILE = PROJECT_DIR / "inventories/lab/group_vars/all/workstations.yml"
DEFAULTS_FILE = PROJECT_DIR / "group_vars/captiva_defaults.yml"


def read_back(run, inventory_args, *args: str) -> list[dict[str, str]]:
    result = run(sys.executable, "lab/lab-router.py", *inventory_args, "lab-gw1", "print", *args)
    return [dict(field.split("=", 1) for field in line.split(" ")) for line in
            result.stdout.splitlines()]


def test_captiva_user_profiles_are_the_rosters(run, inventory_args):
    roster = yaml.safe_load(PROFILES_FILE.read_text())["captiva_profiles"]
    expected = {"captiva-default", *(profile["name"] for profile in roster)}
    workstation_profile = yaml.safe_load(DEFAULTS_FILE.read_text())["captiva_workstation_profile"]
    lab_workstations = (yaml.safe_load(WORKSTATIONS_FILE.read_text()) or {}).get(
        "captiva_workstations") if WORKSTATIONS_FILE.exists() else None
    if lab_workstations:
        expected.add(workstation_profile)
    profiles = read_back(run, inventory_args)
    assert {profile["name"] for profile in profiles} == expected
    for profile in profiles:
        if profile["name"] == workstation_profile:
            assert profile["add-mac-cookie"].lower() == "false"  # librouteros prints False


def test_radius_points_at_molecules_freeradius(run, inventory_args):
    (radius,) = read_back(run, inventory_args, "/radius")
    assert radius["address"] == "10.89.1.11"
    assert radius["service"] == "hotspot"
    assert radius["secret"] == "********"  # read back, never printed
