"""Workstations and session rules in the roster: validation (YAML path + reason), compile."""

from __future__ import annotations

import datetime as dt

from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster import validate
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster_compile import (
    compile_radius,
)
from roster_base import base_variables, with_hotspot

SITE = {"name": "campus-ndogbong", "networks": ["10.5.60.0/24"], "routers": []}


def variables(workstations, rules=None, sites=None):
    v = base_variables()
    v["captiva_sites"] = sites if sites is not None else [dict(SITE)]
    v["captiva_workstations"] = workstations
    if rules is not None:
        v["captiva_workstation_rules"] = rules
    return with_hotspot(v)


def pc(n, **changes):
    item = {"name": f"BIB-PC-{n:02d}", "site": "campus-ndogbong",
            "mac": f"02:00:5e:10:00:{n:02x}", "ip": f"10.5.60.{10 + n}", "room": "Bibliotheque"}
    item.update(changes)
    return item


def errors_of(v):
    roster, errors = validate(v)
    assert roster is None
    return {e.path: e.reason for e in errors}


def test_valid_workstations_and_rules_compile_to_rows():
    roster, errors = validate(variables(
        [pc(1), pc(2, mac="02-00-5E-10-00-02", maintenance=True)],
        [{"site": "campus-ndogbong", "opening_hours": {"monday": "08:00-18:00",
                                                      "Saturday": "09:00-13:00"},
          "default_session": "45m", "max_session": "2h", "daily_sessions": 3,
          "daily_time": "3h", "warnings": ["30s", "5m", "10s"]}]))
    assert errors == []
    tables = compile_radius(roster, dt.datetime.now(dt.UTC))["tables"]
    assert tables["captiva_workstation"][1] == {
        "name": "BIB-PC-02", "site": "campus-ndogbong", "mac": "02:00:5E:10:00:02",
        "ip": "10.5.60.12", "room": "Bibliotheque", "maintenance": True}
    assert tables["captiva_workstation_rules"] == [{
        "site": "campus-ndogbong", "default_seconds": 2700, "max_seconds": 7200,
        "daily_sessions": 3, "daily_seconds": 10800, "warnings": [300, 30, 10],
        "guest_retention_days": 90}]
    assert tables["captiva_workstation_hours"] == [
        {"site": "campus-ndogbong", "weekday": 1, "opens_minute": 480, "closes_minute": 1080},
        {"site": "campus-ndogbong", "weekday": 6, "opens_minute": 540, "closes_minute": 780}]


def test_a_site_without_rules_gets_the_defaults():
    roster, errors = validate(variables([pc(1)]))
    assert errors == []
    assert roster.workstation_rules["campus-ndogbong"]["warnings"] == [300, 120, 60, 30, 10]


def test_duplicates_and_addresses_outside_the_site_are_named_by_path():
    found = errors_of(variables([
        pc(1), pc(2, name="bib-pc-01"), pc(3, mac="02:00:5E:10:00:01"), pc(4, ip="10.5.60.11"),
        pc(5, ip="10.9.0.5"), pc(6, site="campus-ndogbon"), pc(7, mac="02:00:5e:10:00")]))
    assert found["captiva_workstations[1].name"].startswith("duplicate workstation name")
    assert "captiva_workstations[0]" in found["captiva_workstations[2].mac"]
    assert found["captiva_workstations[3].ip"].startswith("duplicate workstation ip")
    assert found["captiva_workstations[4].ip"] == (
        "10.9.0.5 is not in a network of site 'campus-ndogbong' (10.5.60.0/24)")
    assert found["captiva_workstations[5].site"] == (
        "unknown site 'campus-ndogbon' (did you mean 'campus-ndogbong'?)")
    assert found["captiva_workstations[6].mac"].startswith("invalid MAC address")


def test_a_site_must_declare_its_networks_for_workstations():
    found = errors_of(variables([pc(1)], sites=[{"name": "campus-ndogbong"}]))
    assert found["captiva_workstations[0].ip"].startswith(
        "site 'campus-ndogbong' declares no networks")
    found = errors_of(variables([], sites=[{"name": "x", "networks": ["10.5.60.1/24"]}]))
    assert "captiva_sites[0].networks[0]" in found


def test_rules_are_checked():
    found = errors_of(variables([pc(1)], [
        {"site": "campus-ndogbong", "opening_hours": {"lundi": "08:00-18:00",
                                                      "monday": "18:00-08:00"},
         "default_session": "3h", "max_session": "2h", "warnings": ["5m", "5m"]},
        {"site": "campus-ndogbong"}, {"site": "nowhere"}]))
    assert found["captiva_workstation_rules[0].opening_hours.lundi"].startswith(
        "unknown weekday")
    assert "closing time must be after" in found[
        "captiva_workstation_rules[0].opening_hours.monday"]
    assert found["captiva_workstation_rules[0].warnings"] == "duplicate values"
    assert found["captiva_workstation_rules[1].site"].startswith("duplicate rules")
    assert found["captiva_workstation_rules[2].site"].startswith("unknown site 'nowhere'")
    found = errors_of(variables([pc(1)], [{"site": "campus-ndogbong", "default_session": "3h",
                                           "max_session": "2h"}]))
    assert found["captiva_workstation_rules[0].default_session"] == (
        "the default session is longer than max_session")


def test_workstations_survive_the_transport_between_modules():
    """captiva_roster writes the roster file that captiva_radius reads back."""
    import json

    from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster_io import (
        roster_from_data,
        roster_to_data,
    )

    roster, errors = validate(variables(
        [pc(1)], [{"site": "campus-ndogbong", "opening_hours": {"monday": "08:00-18:00"}}]))
    assert errors == []
    data, credentials = roster_to_data(roster)
    again = roster_from_data(json.loads(json.dumps(data)), json.loads(json.dumps(credentials)))
    now = dt.datetime.now(dt.UTC)
    tables = compile_radius(roster, now)["tables"]
    tables_again = compile_radius(again, now)["tables"]
    for table in ("captiva_workstation", "captiva_workstation_rules",
                  "captiva_workstation_hours"):
        assert tables_again[table] == tables[table] and tables[table]


def test_a_username_shaped_like_a_session_code_is_refused():
    v = variables([])
    v["captiva_users"] = [{"username": "P-12345-67890-12345", "password": "long-enough-password"}]
    assert errors_of(v)["captiva_users[0].username"].startswith(
        "'P-12345-67890-12345' has the shape of a public workstation's session code")


def router(name, address):
    return {"name": name, "address": address, "radius_secret": "s" * 20,
            "api": {"username": "captiva", "password": "api-password"}}


def test_the_routers_of_a_site_with_workstations_get_the_profile_without_mac_cookie():
    from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster_compile import (
        compile_routers,
    )

    sites = [dict(SITE, routers=[router("gw1", "10.5.0.1"), router("gw2", "10.5.0.2")]),
             {"name": "campus-paris", "routers": [router("gw-paris", "10.33.0.1")]}]
    roster, errors = validate(variables([pc(1)], sites=sites))
    assert errors == []
    routeros = compile_routers(roster)["routeros"]
    for gw in ("gw1", "gw2"):
        profiles = {p["name"]: p for p in routeros[gw]["/ip/hotspot/user/profile"]}
        assert profiles["captiva-workstation"] == {
            "name": "captiva-workstation", "add-mac-cookie": False, "shared-users": 1,
            "idle-timeout": "none", "keepalive-timeout": "2m", "open-status-page": "always",
            "transparent-proxy": False}
        # A student's profile is untouched by the workstations (MAC cookie as RouterOS has it).
        assert "add-mac-cookie" not in profiles["etudiant-standard"]
    # A site without workstations gets no such profile.
    assert "captiva-workstation" not in {
        p["name"] for p in routeros["gw-paris"]["/ip/hotspot/user/profile"]}
    # No workstation left anywhere: the profile is no longer desired (the reconcile prunes it).
    roster, _ = validate(variables([], sites=sites))
    assert all("captiva-workstation" not in {p["name"] for p in r["/ip/hotspot/user/profile"]}
               for r in compile_routers(roster)["routeros"].values())


def test_the_workstation_profile_name_is_a_setting_checked_against_the_builtin_names():
    from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster_compile import (
        compile_routers,
    )

    v = variables([pc(1)], sites=[dict(SITE, routers=[router("gw1", "10.5.0.1")])])
    v["captiva_workstation_profile"] = "captiva-postes"
    roster, errors = validate(v)
    assert errors == []
    assert "captiva-postes" in {
        p["name"] for p in compile_routers(roster)["routeros"]["gw1"]["/ip/hotspot/user/profile"]}
    for bad in ("postes-publics", "captiva-default", "captiva-expired"):
        v["captiva_workstation_profile"] = bad
        assert errors_of(v)["captiva_workstation_profile"].startswith(
            "must start with 'captiva-' (no roster profile can then take its name)"), bad
    v["captiva_workstation_profile"] = "captiva workstation"
    assert "invalid name" in errors_of(v)["captiva_workstation_profile"]


def test_the_session_code_has_one_shape_in_the_roster_freeradius_and_the_hotspot_pages():
    """The roster (which refuses usernames of that shape), FreeRADIUS (which normalises a
    typed code, and counts failed code logins: policy.d/captiva_workstation, captiva_guess)
    and the hotspot pages (which send a code on to the kiosk) each carry the pattern in their
    own language; they must accept and refuse the same strings."""
    import re
    from pathlib import Path

    import yaml
    from ansible_collections.captiva.campus.plugins.module_utils.captiva_workstations import (
        SESSION_CODE,
    )

    root = Path(__file__).resolve().parents[2]
    pages = yaml.safe_load((root / "roles/mikrotik/vars/main.yml").read_text())[
        "__mikrotik_workstation_code"]
    radius = yaml.safe_load((root / "roles/freeradius/vars/main.yml").read_text())
    freeradius = radius["__freeradius_workstation_code"]
    for policy in ("captiva_workstation", "captiva_guess"):
        text = (root / f"roles/freeradius/templates/policy.d/{policy}.j2").read_text()
        assert "{{ __freeradius_workstation_code }}" in text, policy
    shapes = {"roster": SESSION_CODE, "pages": re.compile(pages),
              "freeradius": re.compile(freeradius.replace("[[:space:]]", r"\s"))}
    samples = ["P482913750246813", "p482913750246813", "P-48291-37502-46813",
               "P 48291 37502 46813", " P482913750246813 ", "P48291-37502-46813",
               "P48291375024681", "P4829137502468133", "Q482913750246813",
               "P-48291--37502-46813", "482913750246813", "P48291 37502 4681a", "P48291375",
               "P-4829-1375", "alice", ""]
    verdicts = {name: [bool(shape.match(text)) for text in samples]
                for name, shape in shapes.items()}
    assert verdicts["roster"][:6] == [True] * 6 and not any(verdicts["roster"][6:])
    assert verdicts["pages"] == verdicts["roster"]
    assert verdicts["freeradius"] == verdicts["roster"]
    # The compact form FreeRADIUS judges, and the table's constraint on new codes.
    compact = re.compile(radius["__freeradius_workstation_compact"])
    assert [bool(compact.match(t)) for t in ("P482913750246813", "P48291375", "p4829137502468")
            ] == [True, False, False]
