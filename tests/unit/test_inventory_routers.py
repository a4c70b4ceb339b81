"""The inventory plugin captiva.campus.captiva_routers: the group routers is the roster's
routers, by name, in order; a router it cannot name is an error with its YAML path."""

from ansible_collections.captiva.campus.plugins.inventory.captiva_routers import router_names


def site(name, *routers):
    return {"name": name, "routers": list(routers)}


def test_every_router_of_every_site_in_order():
    sites = [site("ndogbong", {"name": "ndogbong-gw1"}, {"name": "ndogbong-gw2"}),
             {"name": "no-router-yet"},
             site("akwa", {"name": "akwa-gw1"})]
    assert router_names(sites) == (["ndogbong-gw1", "ndogbong-gw2", "akwa-gw1"], [])


def test_no_sites_no_routers():
    assert router_names(None) == ([], [])
    assert router_names([]) == ([], [])


def test_a_router_without_a_name_is_an_error_with_its_path():
    names, errors = router_names([site("a", {"name": "gw1"}, {"address": "10.0.0.2"})])
    assert names == ["gw1"]
    assert errors == [("captiva_sites[0].routers[1].name",
                       "required: the router's name, which is its host in the inventory group "
                       "'routers'")]


def test_a_name_used_twice_is_an_error_naming_the_first_use():
    names, errors = router_names([site("a", {"name": "gw1"}),
                                  site("b", {"name": "gw2"}, {"name": "gw1"})])
    assert names == ["gw1", "gw2"]
    assert errors == [("captiva_sites[1].routers[1].name",
                       "duplicate router name 'gw1' (already used by captiva_sites[0].routers[0])")]


def test_a_name_no_host_can_have_is_the_roster_error():
    # The roster's own rule for names (captiva_roster_schema.name): a host name must fit it.
    names, errors = router_names([site("a", {"name": "gw 1"}, {"name": 7})])
    assert names == []
    assert [path for path, _ in errors] == ["captiva_sites[0].routers[0].name",
                                            "captiva_sites[0].routers[1].name"]
    assert errors[0][1].startswith("invalid name 'gw 1'")


def test_shapes_it_cannot_read_are_errors():
    assert router_names({"name": "a"})[1] == [("captiva_sites",
                                               "expected a list of sites, got dict")]
    assert router_names([{"name": "a", "routers": "gw1"}])[1] == [
        ("captiva_sites[0].routers", "expected a list of routers, got str")]
    assert router_names([site("a", "gw1")])[1] == [
        ("captiva_sites[0].routers[0]", "expected a mapping, got str")]
