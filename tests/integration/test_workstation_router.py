"""The workstations' hotspot user profile on a router: the compiled roster reconciled by
captiva_routeros's planner into tools/routeros-sim, read back over the API."""

from __future__ import annotations

from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster import validate
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster_compile import (
    compile_routers,
)
from roster_base import base_variables, with_hotspot
from routeros_fixtures import routeros_sim  # noqa: F401

ROUTER = {"name": "gw1", "address": "10.5.0.1", "radius_secret": "s" * 20,
          "api": {"username": "captiva", "password": "api-password"}}
PC = {"name": "BIB-PC-01", "site": "campus-ndogbong", "mac": "02:00:5e:10:00:01",
      "ip": "10.5.60.11", "room": "Bibliotheque"}


def desired(workstations):
    variables = base_variables()
    variables["captiva_sites"] = [{"name": "campus-ndogbong", "networks": ["10.5.60.0/24"],
                                   "routers": [ROUTER]}]
    variables["captiva_workstations"] = workstations
    roster, errors = validate(with_hotspot(variables))
    assert errors == []
    return compile_routers(roster)["routeros"]["gw1"]


def profiles(sim):
    return {row["name"]: row for row in sim.rows("/ip/hotspot/user/profile")}


def test_the_workstation_profile_is_created_without_mac_cookie_kept_and_pruned(
        routeros_sim):  # noqa: F811
    sim = routeros_sim
    # Somebody's own profile on the router: never Captiva's to change or remove.
    sim.command("/ip/hotspot/user/profile/add", name="local-guests")
    with_workstations = desired([PC])
    checked = sim.reconcile(with_workstations, allow_mass_prune=True, check_mode=True)
    assert checked["changed"] and sim.stats()["writes"] == 0
    assert "captiva-workstation" not in profiles(sim)
    assert sim.reconcile(with_workstations, allow_mass_prune=True)["changed"]
    workstation = profiles(sim)["captiva-workstation"]
    assert (workstation["add-mac-cookie"], workstation["shared-users"],
            workstation["open-status-page"], workstation["keepalive-timeout"],
            workstation["idle-timeout"]) == (False, 1, "always", "2m", "none")
    # The router's own default would give the next person at the PC the session.
    assert profiles(sim)["local-guests"]["add-mac-cookie"] is True

    again = sim.reconcile(with_workstations, allow_mass_prune=True)
    assert not again["changed"] and sim.stats()["writes"] == 0  # idempotent

    # Someone turns the MAC cookie on by hand: the next run puts it back off.
    sim.command("/ip/hotspot/user/profile/set", **{".id": workstation[".id"]},
                **{"add-mac-cookie": "yes"})
    fixed = sim.reconcile(with_workstations, allow_mass_prune=True)
    assert [(a["menu"], a["action"]) for a in fixed["actions"]] == [
        ("/ip/hotspot/user/profile", "update")]
    assert profiles(sim)["captiva-workstation"]["add-mac-cookie"] is False

    # The site's last workstation is gone: the profile goes, the foreign one stays.
    assert sim.reconcile(desired([]), allow_mass_prune=True)["changed"]
    assert "captiva-workstation" not in profiles(sim)
    assert "local-guests" in profiles(sim)
