"""Effective policy, activity and the compiled desired state."""

import datetime as dt
import hashlib
import ssl
from zoneinfo import ZoneInfo

import pytest
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster import (
    DEFAULT_PROFILE,
    validate,
)
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster_compile import (
    compile_roster,
)
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster_io import (
    roster_from_data,
    roster_to_data,
    secret_values,
)
from roster_base import base_variables, hotspot_tls

DOUALA = ZoneInfo("Africa/Douala")
NOW = dt.datetime(2026, 11, 21, 10, 0, tzinfo=DOUALA)


def fingerprint(pem: str) -> str:
    """SHA-256 of the DER form, as RouterOS prints it (the standard library's reading)."""
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def roster_with(users, promotions=None, profiles=None, **settings):
    variables = base_variables()
    variables["captiva_users"] = users
    if promotions is not None:
        variables["captiva_promotions"] = promotions
    if profiles is not None:
        variables["captiva_profiles"] += profiles
    variables.update(settings)
    roster, errors = validate(variables)
    assert errors == []
    return roster


def user(name, **fields):
    return {"username": name, "password": f"pw-of-{name}-123", **fields}


STAFF = {"name": "personnel", "bandwidth": {"upload": "20M", "download": "50M"},
         "simultaneous_use": "unlimited"}


def compiled_for(users, **kwargs):
    return compile_roster(roster_with(users, **kwargs), NOW)


def test_effective_profile_user_then_promotion_then_default():
    out = compiled_for(
        [user("own", promotion="L3-INFO-2025", profile="personnel"),
         user("promo", promotion="L3-INFO-2025"),
         user("nothing")],
        profiles=[STAFF],
    )
    groups = {u: v["group"] for u, v in out["radius"]["users"].items()}
    assert groups == {"own": "personnel", "promo": "etudiant-standard", "nothing": DEFAULT_PROFILE}


def test_inactive_users_join_a_status_group_with_a_reason():
    out = compiled_for(
        [user("off", enabled=False, promotion="L3-INFO-2025"),
         user("promo-off", promotion="L2"),
         user("old", expires="2026-11-20"),
         user("both", enabled=False, promotion="L2")],
        promotions=[{"name": "L3-INFO-2025", "profile": "etudiant-standard"},
                    {"name": "L2", "profile": "etudiant-standard", "wifi_enabled": False}],
    )
    groups = {u: v["group"] for u, v in out["radius"]["users"].items()}
    assert groups == {"off": "captiva-disabled", "promo-off": "captiva-wifi-off",
                      "old": "captiva-expired", "both": "captiva-disabled"}
    rows = out["radius"]["groups"]["captiva-expired"]
    assert ["Auth-Type", ":=", "Reject"] in rows["check"]
    assert any(r[0] == "Reply-Message" and "expired" in r[2] for r in rows["reply"])


def test_expiry_date_means_valid_through_that_day_in_campus_time():
    out = compiled_for([user("today", expires="2026-11-21"), user("later", expires="2026-12-31")])
    users = {u["username"]: u for u in out["tables"]["captiva_user"]}
    assert users["today"]["status"] == "active"  # valid until midnight tonight, Douala time
    end = dt.datetime(2026, 11, 22, tzinfo=DOUALA)
    assert users["today"]["expires_at"] == end
    expiration = out["radius"]["users"]["today"]["check"]
    assert expiration == [["Expiration", ":=", str(int(end.timestamp()))]]


def test_validity_days_count_from_activation():
    roster = roster_with([user("new", promotion="L3-INFO-2025"),
                          user("veteran", promotion="L3-INFO-2025")])
    out = compile_roster(roster, NOW, activations={"veteran": dt.date(2026, 1, 1)})
    users = {u["username"]: u for u in out["tables"]["captiva_user"]}
    # etudiant-standard has validity_days: 180
    assert users["new"]["expires_at"].date() == dt.date(2027, 5, 20)
    assert users["veteran"]["status"] == "expired"  # 2026-01-01 + 180 days = 2026-06-30
    assert out["radius"]["users"]["veteran"]["group"] == "captiva-expired"


def test_group_rows_use_router_orientation_and_safe_operators():
    out = compiled_for([user("a", promotion="L3-INFO-2025")])
    rows = out["radius"]["groups"]["etudiant-standard"]
    reply = {r[0]: r for r in rows["reply"]}
    # rx/tx from the router's side: 2M upload, 10M download
    assert reply["Mikrotik-Rate-Limit"] == ["Mikrotik-Rate-Limit", "=", "2M/10M"]
    assert reply["Session-Timeout"][2] == "28800"
    assert reply["Idle-Timeout"][2] == "600"
    assert reply["Acct-Interim-Interval"][2] == "300"
    assert reply["Mikrotik-Group"][2] == "etudiant-standard"
    # a check row with '=' would be a failing comparison in FreeRADIUS
    assert rows["check"] == [["Simultaneous-Use", ":=", "1"]]


SITE = {"name": "campus-a", "hotspot_tls": hotspot_tls("login.campus.test"), "routers": [{
    "name": "gw1", "address": "10.20.1.1", "radius_secret": "x" * 20,
    "api": {"username": "captiva", "password": "api-password"},
    "hotspot": {"dns_name": "login.campus.test"}}]}


def test_unlimited_staff_profile():
    out = compiled_for([user("s", profile="personnel")], profiles=[STAFF],
                       captiva_sites=[SITE])
    rows = out["radius"]["groups"]["personnel"]
    assert rows["check"] == []  # no Simultaneous-Use limit
    profile = {p["name"]: p for p in out["tables"]["captiva_profile"]}["personnel"]
    assert profile["quota_daily"] is None and profile["quota_total"] is None
    assert profile["simultaneous_use"] is None
    # on the router too: any number of devices, the staff speeds, no session timeout
    router = {p["name"]: p for p in out["routeros"]["gw1"]["/ip/hotspot/user/profile"]}
    assert router["personnel"] == {"name": "personnel", "shared-users": "unlimited",
                                   "rate-limit": "20M/50M"}


def test_quota_above_4gib_stays_exact():
    out = compiled_for([user("a", promotion="L3-INFO-2025")])
    profile = {p["name"]: p for p in out["tables"]["captiva_profile"]}["etudiant-standard"]
    assert profile["quota_monthly"] == 100 * 2**30
    assert profile["alert_quota_percent"] == [80, 95]


@pytest.mark.parametrize("storage, login_by, scheme", [
    ("hashed", ["https", "cookie"], "crypt"),
    ("cleartext", ["http-chap", "cookie"], "cleartext"),
])
def test_password_scheme_follows_the_storage_choice(storage, login_by, scheme):
    out = compiled_for([user("a")], captiva_password_storage=storage,
                       captiva_hotspot_login_by=login_by)
    assert out["radius"]["users"]["a"]["password"]["scheme"] == scheme


def test_router_desired_state():
    out = compile_roster(roster_with([user("a")], captiva_sites=[SITE]), NOW)
    desired = out["routeros"]["gw1"]
    assert desired["/radius"][0]["address"] == "10.89.0.11"
    assert desired["/radius/incoming"] == {"accept": True, "port": 3799}
    assert desired["/ip/hotspot/profile"][0]["login-by"] == "https,cookie"
    assert desired["/ip/hotspot/profile"][0]["radius-interim-update"] == "5m"
    profiles = {p["name"]: p for p in desired["/ip/hotspot/user/profile"]}
    assert profiles["etudiant-standard"]["rate-limit"] == "2M/10M"
    assert profiles["etudiant-standard"]["shared-users"] == 1
    assert out["freeradius_clients"] == [
        {"name": "gw1", "address": "10.20.1.1", "secret": "x" * 20}]
    assert out["tables"]["captiva_router"][0]["nasipaddress"] == "10.20.1.1"
    # the pages' directory and the HTTPS login's certificate, named after its fingerprint
    profile = desired["/ip/hotspot/profile"][0]
    assert profile["html-directory"] == "flash/hotspot"
    (certificate,) = desired["/certificate"]
    assert profile["ssl-certificate"] == certificate["name"] == \
        "captiva-hotspot-" + fingerprint(SITE["hotspot_tls"]["certificate"])[:12]
    assert certificate["key"].strip() == SITE["hotspot_tls"]["key"].strip()


def test_without_https_no_certificate_is_needed_and_the_profile_names_none():
    site = {"name": "campus-a", "routers": [dict(SITE["routers"][0], hotspot={})]}
    out = compile_roster(roster_with([user("a")], captiva_sites=[site],
                                     captiva_hotspot_login_by=["http-pap", "cookie"]), NOW)
    desired = out["routeros"]["gw1"]
    # an empty list: a certificate Captiva imported before is removed
    assert desired["/certificate"] == []
    assert desired["/ip/hotspot/profile"][0]["ssl-certificate"] == "none"


def test_a_routers_own_certificate_overrides_its_sites():
    own = hotspot_tls("gw2.campus.test")
    site = dict(SITE, routers=[SITE["routers"][0], {
        "name": "gw2", "address": "10.20.1.2", "radius_secret": "y" * 20,
        "api": {"username": "captiva", "password": "api-password"},
        "hotspot": {"dns_name": "gw2.campus.test"}, "hotspot_tls": own}])
    routeros = compile_roster(roster_with([user("a")], captiva_sites=[site]), NOW)["routeros"]
    assert routeros["gw1"]["/certificate"][0]["certificate"] == \
        SITE["hotspot_tls"]["certificate"]
    assert routeros["gw2"]["/certificate"][0]["certificate"] == own["certificate"]


def test_a_certificate_for_another_name_or_with_another_key_is_refused():
    site = dict(SITE, hotspot_tls={"certificate": hotspot_tls("other.campus.test")["certificate"],
                                   "key": hotspot_tls("login.campus.test")["key"]})
    variables = base_variables()
    variables["captiva_sites"] = [site]
    _, errors = validate(variables)
    reasons = {e.path: [] for e in errors}
    for error in errors:
        reasons[error.path].append(error.reason)
    assert list(reasons) == ["captiva_sites[0].hotspot_tls.key",
                             "captiva_sites[0].hotspot_tls.certificate"]
    assert reasons["captiva_sites[0].hotspot_tls.key"][0].startswith(
        "this key does not belong to the first certificate (CN=other.campus.test)")
    assert reasons["captiva_sites[0].hotspot_tls.certificate"][0].startswith(
        "the certificate is not valid for the hotspot's dns_name 'login.campus.test' (its DNS "
        "names: other.campus.test): browsers would refuse the login page")
    # the key never shows in an error
    assert not any(site["hotspot_tls"]["key"].splitlines()[1] in e.reason for e in errors)


def test_an_expired_certificate_is_refused():
    site = dict(SITE, hotspot_tls=hotspot_tls("login.campus.test", days=-1))
    variables = base_variables()
    variables["captiva_sites"] = [site]
    _, errors = validate(variables)
    assert [(e.path, e.reason.split(" expired on ")[0]) for e in errors] == [
        ("captiva_sites[0].hotspot_tls.certificate", "CN=login.campus.test")]


def test_roster_survives_transport_as_module_arguments():
    roster = roster_with([user("a", expires="2026-12-31", promotion="L3-INFO-2025")],
                         captiva_sites=[SITE])
    data, credentials = roster_to_data(roster)
    assert "pw-of-a-123" not in str(data)  # secrets travel apart, as a no_log argument
    key = SITE["hotspot_tls"]["key"].splitlines()[1]
    assert key not in str(data) and key in str(credentials)
    assert any(key in value for value in secret_values(credentials))
    again = roster_from_data(data, credentials)
    assert compile_roster(again, NOW) == compile_roster(roster, NOW)
