"""The console's pure parts: how a search text is matched, MAC prefixes, the grant form."""

import datetime as dt

import pytest

from captiva.portal.console import actions, data
from captiva.portal.staff import Staff


@pytest.mark.parametrize(("text", "kind"), [
    ("", "all"), ("STU2025001", "text"), ("ngono", "text"), ("awa@etu.univ.cm", "text"),
    ("aa", "text"), ("AA:BB:CC", "mac"), ("aa-bb-cc-00-00-01", "mac"), ("aabbcc000001", "mac"),
    ("10.5.50.78", "ip"), ("10.5.50.0/24", "ip"), ("2001:db8::1", "ip"), ("2025", "text"),
])
def test_a_search_text_is_matched_as_what_it_looks_like(text, kind):
    assert data.Query(text=text).kind() == kind


@pytest.mark.parametrize(("text", "prefix"), [
    ("aa-bb-c", "AA:BB:C"), ("AA:BB:CC:00:00:01", "AA:BB:CC:00:00:01"),
    ("aabbcc000001", "AA:BB:CC:00:00:01")])
def test_mac_prefixes_are_normalised_as_routers_send_them(text, prefix):
    assert data.mac_prefix(text) == prefix


def test_query_parameters_are_bounded():
    query = data.Query.from_params({"q": " x" * 100, "page": "-3", "status": "bogus"})
    assert len(query.text) <= 100 and query.page == 1 and query.status == ""
    assert data.Query.from_params({"page": "nope"}).page == 1


def test_the_grant_form_reads_gib_exactly_and_campus_time():
    extra, expires = actions.parse_grant_form(
        {"kind": "extra", "amount": "1,5", "expires": "2026-12-04T18:00"}, "Africa/Douala")
    assert extra == 3 * 1024**3 // 2
    assert expires == dt.datetime(2026, 12, 4, 17, 0, tzinfo=dt.UTC)
    assert actions.parse_grant_form({"kind": "reset"}, "UTC") == (None, None)
    for bad in ("0", "-1", "abc", "nan", "inf"):
        with pytest.raises(actions.ActionRefused, match="console.bad_amount"):
            actions.parse_grant_form({"kind": "extra", "amount": bad}, "UTC")
    with pytest.raises(actions.ActionRefused, match="console.bad_expiry"):
        actions.parse_grant_form({"kind": "extra", "amount": "1", "expires": "soon"}, "UTC")


def test_only_the_admin_role_acts():
    assert Staff("a", "admin", ()).can_act
    assert not Staff("o", "operator", ()).can_act
    assert not Staff("v", "viewer", ()).can_act
