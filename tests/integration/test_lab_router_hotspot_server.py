"""lab/lab-router.py hotspot-server against tools/routeros-sim: the step an admin does by
hand on a real router (docs/deploy.md) adds a hotspot server on the roster's hotspot profile,
never on another profile the router holds, and only once."""

import subprocess
import sys

import yaml
from routeros_fixtures import ROOT, routeros_sim  # noqa: F401


def lab_router(inventory, *args):
    return subprocess.run([sys.executable, str(ROOT / "lab" / "lab-router.py"), "-i",
                           str(inventory), *args], capture_output=True, text=True, timeout=60,
                          check=False)


def test_hotspot_server_uses_the_rosters_profile_once(tmp_path, routeros_sim):  # noqa: F811
    sim = routeros_sim
    inventory = tmp_path / "campus"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {
        "ansible_connection": "local"}}}}))
    (inventory / "group_vars" / "all" / "sites.yml").write_text(yaml.safe_dump({
        "captiva_sites": [{"name": "campus-a", "routers": [{
            "name": "gw1", "address": sim.host, "hotspot": {"profile": "campus-hotspot"},
            "api": {"username": sim.user, "password": sim.password, "port": sim.port,
                    "tls": False}}]}]}))
    # Someone's own profile, first in the list: not the one the roster names.
    sim.command("/ip/hotspot/profile/add", name="guests")
    refused = lab_router(inventory, "gw1", "hotspot-server")
    assert refused.returncode == 1
    assert "no hotspot profile campus-hotspot yet: converge first" in refused.stderr
    assert sim.rows("/ip/hotspot") == []

    sim.command("/ip/hotspot/profile/add", name="campus-hotspot")
    added = lab_router(inventory, "gw1", "hotspot-server")
    assert added.returncode == 0, added.stderr
    (server,) = [(r["name"], r["profile"]) for r in sim.rows("/ip/hotspot")]
    assert server == ("hotspot1", "campus-hotspot")
    again = lab_router(inventory, "gw1", "hotspot-server")
    assert again.returncode == 0 and "already there" in again.stdout
    assert len(sim.rows("/ip/hotspot")) == 1
