"""The inventory group routers names the roster's routers (an inventory without routers.yml,
or a host added to the group by hand, is an error naming both places); the RouterOS API is
API-SSL unless the roster opts out; the prune guard is one rule."""

import math
import textwrap

import pytest
import yaml
from ansible_collections.captiva.campus.plugins.module_utils.captiva_prune import (
    PruneRefused,
    check_prune,
    prune_limit,
)
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster_compile import (
    compile_routers,
)
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster_io import (
    RosterInvalid,
    load_roster,
)
from roster_base import DEFAULTS_FILE, base_variables, with_hotspot

HOSTS = textwrap.dedent("""\
    all:
      children:
        routers:
          hosts:
            gw1: {ansible_host: 10.20.1.1}
            gw9: {ansible_host: 10.20.1.9}
    """)
SITES = textwrap.dedent("""\
    captiva_sites:
      - name: campus-a
        routers:
          - name: gw1
            address: 10.20.1.1
            radius_secret: a-long-enough-radius-secret
            api: {username: captiva, password: pw-123456}
          - name: gw2
            address: 10.20.1.2
            radius_secret: a-long-enough-radius-secret
            api: {username: captiva, password: pw-123456}
    """)


def inventory(tmp_path):
    (tmp_path / "group_vars" / "all").mkdir(parents=True)
    (tmp_path / "hosts.yml").write_text(HOSTS)
    sites = tmp_path / "group_vars" / "all" / "sites.yml"
    sites.write_text(SITES)
    variables = base_variables()
    variables.update(yaml.safe_load(SITES))
    return with_hotspot(variables), [str(DEFAULTS_FILE), str(sites)]


def test_a_router_in_one_place_only_is_an_error_naming_both_places(tmp_path):
    variables, files = inventory(tmp_path)
    with pytest.raises(RosterInvalid) as raised:
        load_roster(variables, files=files, display_root=str(tmp_path),
                    inventory_routers=["gw1", "gw9"],
                    inventory_files=[str(tmp_path / "hosts.yml")])
    assert raised.value.lines == [
        # in the roster, not in the inventory group
        "group_vars/all/sites.yml:8: captiva_sites[0].routers[1].name: router 'gw2' is not a "
        "host of the inventory group 'routers' (hosts.yml): add the inventory source "
        "routers.yml, which makes that group from captiva_sites ('plugin: "
        "captiva.campus.captiva_routers'), or remove the router from captiva_sites",
        # in the inventory group, not in the roster
        "hosts.yml:6: routers.hosts.gw9: host 'gw9' of the inventory group 'routers' is not "
        "declared in captiva_sites[].routers (group_vars/all/sites.yml): declare it under its "
        "site only (routers.yml makes the group from captiva_sites), and remove it from the "
        "group",
    ]


def test_the_same_routers_in_both_places_are_valid(tmp_path):
    variables, files = inventory(tmp_path)
    roster = load_roster(variables, files=files, inventory_routers=["gw2", "gw1"])
    assert [r["name"] for r in roster.sites["campus-a"]["routers"]] == ["gw1", "gw2"]


def test_router_api_defaults_to_api_ssl_with_certificate_verification(tmp_path):
    variables, files = inventory(tmp_path)
    api = compile_routers(load_roster(variables, files=files))["router_api"]["gw1"]
    assert (api["tls"], api["validate_certs"], api["port"]) == (True, True, None)


def test_plain_api_is_an_explicit_opt_in(tmp_path):
    variables, files = inventory(tmp_path)
    variables["captiva_sites"][0]["routers"][0]["api"].update(tls=False, port=8728)
    api = compile_routers(load_roster(variables, files=files))["router_api"]["gw1"]
    assert (api["tls"], api["port"]) == (False, 8728)


def oracle(owned, ratio, count):
    """The documented rule, written out independently."""
    allowed = max(1, math.ceil(ratio * owned))
    return min(allowed, count)


@pytest.mark.parametrize("owned, ratio, count", [
    (0, 0.1, 500), (1, 0.1, 500), (5, 0.1, 500), (10, 0.1, 500), (11, 0.1, 500),
    (6, 0.5, 500), (20_000, 0.1, 500), (4, 0.75, 2), (100, 0.0, 500), (50, 0.1, 0)])
def test_prune_limit_is_one_rule(owned, ratio, count):
    limit = prune_limit(owned, ratio, count)
    assert limit == oracle(owned, ratio, count)
    check_prune(limit, owned, "users", max_ratio=ratio, max_count=count)
    with pytest.raises(PruneRefused, match=f"refusing to remove {limit + 1} of the {owned} "
                                           f"users \\(the prune guard allows {limit}"):
        check_prune(limit + 1, owned, "users", max_ratio=ratio, max_count=count)
    check_prune(limit + 1, owned, "users", max_ratio=ratio, max_count=count,
                allow_mass_prune=True)
