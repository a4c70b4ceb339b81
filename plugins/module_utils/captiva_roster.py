"""The roster: its shape, validation and each user's effective policy.

Pure Python, no Ansible imports beyond the sibling module_utils. The other roster files:
``captiva_roster_schema.py`` (the checkers this shape is built from),
``captiva_roster_compile.py`` (desired state for RADIUS and the routers) and
``captiva_roster_io.py`` (where the roster comes from, file:line of errors, transport).

``validate(variables)``
    Checks every profile, promotion, user and site, collects **every** error (never just the
    first) and returns a normalised :class:`Roster` (units parsed to exact integers) or the
    errors. Each error has a YAML path such as ``captiva_users[41].promotion``.
Effective policy
    A user's profile is their own, else their promotion's, else ``captiva-default`` (built from
    ``captiva_default_profile``). A user is active when enabled, their promotion's WiFi is on
    and the account has not expired.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
from collections.abc import Mapping
from typing import Any

from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster_hotspot import (
    HOTSPOT_TLS,
    LOGIN_METHODS,
    check_login_methods,
    check_sites,
    html_directory,
)
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster_schema import (
    INVALID,
    Checker,
    Field,
    RosterError,
    address,
    boolean,
    date_or_datetime,
    dns_name,
    duration,
    email,
    fail,
    integer,
    language,
    list_of,
    name,
    one_of,
    port,
    positive,
    radius_secret,
    rate,
    record,
    secret,
    simultaneous,
    size,
    suggest,
    text,
    timezone,
    type_name,
    unique_records,
    username,
    weekday,
    zone,
)
from ansible_collections.captiva.campus.plugins.module_utils.captiva_units import format_size
from ansible_collections.captiva.campus.plugins.module_utils.captiva_vouchers import (
    validate_batches,
)
from ansible_collections.captiva.campus.plugins.module_utils.captiva_workstations import (
    network,
    validate_workstations,
)

MANAGED_BY = "captiva"
DEFAULT_PROFILE = "captiva-default"
RESERVED_PREFIX = "captiva-"
# Where each setting's default lives; inventories override it in their group_vars.
DEFAULTS_FILE = "group_vars/captiva_defaults.yml"

# Inactive users join one of these groups instead of their profile's; each rejects with a
# message the hotspot login page shows (French first: the campuses' language).
STATUS_GROUPS = {
    "disabled": (
        "captiva-disabled",
        "Compte WiFi desactive / WiFi account disabled. Contactez le service informatique.",
    ),
    "wifi-off": (
        "captiva-wifi-off",
        "WiFi suspendu pour votre promotion / WiFi is switched off for your promotion.",
    ),
    "expired": (
        "captiva-expired",
        "Compte WiFi expire / WiFi account expired. Contactez le service informatique.",
    ),
}
PASSWORD_ATTRIBUTES = ("Cleartext-Password", "Crypt-Password")

# RouterOS's standard API ports with the other protocol: a certain failure to connect.
PORT_MISMATCH = {
    (8728, True): "8728 is RouterOS's plain API port, but api.tls is true (the default): use "
                  "API-SSL on 8729, or opt in to the plain API with api.tls: false",
    (8729, False): "8729 is RouterOS's API-SSL port, but api.tls is false: set api.tls: true",
}
_SHA512_CRYPT = re.compile(r"^\$6\$(rounds=\d+\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{86}$")


# --------------------------------------------------------------------------------------------
# The roster's shape

BANDWIDTH = record({"upload": Field(positive(rate, "rate")),
                    "download": Field(positive(rate, "rate"))})
QUOTA = record({p: Field(positive(size, "quota")) for p in ("daily", "weekly", "monthly", "total")})
ALERTS = record({
    "quota_percent": Field(list_of(integer(1, 100), unique=True)),
    "expiry_days": Field(list_of(integer(0, 365), unique=True)),
})
PROFILE_FIELDS = {
    "name": Field(name, required=True),
    "description": Field(text, default=""),
    "bandwidth": Field(BANDWIDTH),
    "quota": Field(QUOTA),
    "session_timeout": Field(positive(duration, "timeout")),
    "idle_timeout": Field(positive(duration, "timeout")),
    "simultaneous_use": Field(simultaneous),
    "validity_days": Field(integer(1, 36500)),
    "alerts": Field(ALERTS),
}
PROFILE = record(PROFILE_FIELDS)
DEFAULT_PROFILE_CHECK = record({k: v for k, v in PROFILE_FIELDS.items() if k != "name"})
PROMOTION = record({
    "name": Field(name, required=True),
    "description": Field(text, default=""),
    "profile": Field(name),
    "wifi_enabled": Field(boolean, default=True),
})
USER = record({
    "username": Field(username, required=True),
    "first_name": Field(text, default=""),
    "last_name": Field(text, default=""),
    "email": Field(email),
    "language": Field(language),
    "promotion": Field(name),
    "profile": Field(name),
    "enabled": Field(boolean, default=True),
    "password": Field(secret),
    "password_hash": Field(secret),
    "activated": Field(date_or_datetime),
    "expires": Field(date_or_datetime),
})
ROUTER = record({
    "name": Field(name, required=True),
    "address": Field(address, required=True),
    "radius_secret": Field(radius_secret, required=True),
    "coa_port": Field(port, default=3799),
    "api": Field(record({
        "host": Field(text),
        "port": Field(port),
        "tls": Field(boolean, default=True),  # API-SSL; the plain API is an explicit opt-in
        "validate_certs": Field(boolean, default=True),
        "username": Field(text, required=True),
        "password": Field(secret, required=True),
    }), required=True),
    "hotspot": Field(record({
        "dns_name": Field(dns_name),
        "profile": Field(name, default="captiva"),
    }), default={"dns_name": None, "profile": "captiva"}),
    # This router's hotspot certificate, instead of its site's (captiva_roster_hotspot)
    "hotspot_tls": Field(HOTSPOT_TLS),
})
SITE = record({
    "name": Field(name, required=True),
    "description": Field(text, default=""),
    "timezone": Field(timezone),
    "week_start": Field(weekday),
    "month_start_day": Field(integer(1, 28)),
    "routers": Field(list_of(ROUTER), default=[]),
    # The hotspot certificate of the site's routers (PEM certificate, vaulted key)
    "hotspot_tls": Field(HOTSPOT_TLS),
    # The site's client networks (CIDR): public workstations' IPs must lie in one of them.
    "networks": Field(list_of(network, unique=True), default=[]),
})
SETTINGS = {
    "captiva_timezone": Field(timezone, required=True),
    "captiva_week_start": Field(weekday, required=True),
    "captiva_month_start_day": Field(integer(1, 28), required=True),
    "captiva_interim_interval": Field(positive(duration, "interval"), required=True),
    "captiva_language": Field(language, required=True),
    "captiva_password_storage": Field(one_of("hashed", "cleartext"), required=True),
    "captiva_password_min_length": Field(integer(6, 128), required=True),
    "captiva_hotspot_login_by": Field(list_of(one_of(*LOGIN_METHODS), unique=True),
                                      required=True),
    "captiva_hotspot_html_directory": Field(html_directory, required=True),
    "captiva_alerts": Field(ALERTS, required=True),
    "captiva_default_profile": Field(DEFAULT_PROFILE_CHECK, required=True),
    "captiva_radius_servers": Field(list_of(address, unique=True), required=True),
    "captiva_radius_timeout": Field(positive(duration, "timeout"), required=True),
    # The hotspot user profile (and RADIUS Mikrotik-Group) of public workstations' sessions.
    "captiva_workstation_profile": Field(name, required=True),
    "captiva_portal": Field(record({
        "address": Field(address, required=True),
        "dns_name": Field(dns_name, required=True),
    }), required=True),
}
# Staff of the portal's console (docs/portal.md, "Staff"). They sign in like students, through
# RADIUS, so each one is a roster user. What each role may do, and where (sites: empty means
# every site), is the one policy's: captiva/authz.py (docs/portal.md, "Roles"), whose
# STAFF_ROLES these are (tests/unit/test_authz.py compares them; module_utils cannot import
# the runtime package).
STAFF_ROLES = ("admin", "operator", "viewer")
STAFF = record({
    "username": Field(username, required=True),
    "role": Field(one_of(*STAFF_ROLES), required=True),
    "sites": Field(list_of(name, unique=True), default=[]),
})
ROSTER_LISTS = ("captiva_profiles", "captiva_promotions", "captiva_users", "captiva_sites",
                "captiva_staff")


@dataclasses.dataclass
class Roster:
    """A validated roster: plain dicts with units parsed, plus the settings."""

    settings: dict[str, Any]
    profiles: dict[str, dict]
    promotions: dict[str, dict]
    users: list[dict]
    sites: dict[str, dict]
    staff: list[dict] = dataclasses.field(default_factory=list)
    # Voucher batches (captiva_vouchers.validate_batches), their codes derived
    vouchers: list[dict] = dataclasses.field(default_factory=list)
    # Public workstations and each site's session rules (captiva_workstations)
    workstations: list[dict] = dataclasses.field(default_factory=list)
    workstation_rules: dict[str, dict] = dataclasses.field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Validation


def validate(variables: Mapping[str, Any], *,
             decrypted: bool = True) -> tuple[Roster | None, list[RosterError]]:
    """Validate the roster variables; return ``(roster, [])`` or ``(None, errors)``.

    ``decrypted=False``: the vaulted values are stand-ins (a tool that reads the inventory
    without the vault password); what only the cleartext can show, such as whether the hotspot
    certificate's key belongs to it, is then not checked."""
    errors: list[RosterError] = []
    settings = {}
    for key, field in SETTINGS.items():
        raw = variables.get(key)
        if raw is None:
            fail(errors, key, f"required setting is missing (its default is in {DEFAULTS_FILE})")
            settings[key] = INVALID
        else:
            settings[key] = field.check(raw, key, errors)

    lists = {}
    for key in ROSTER_LISTS:
        raw = variables.get(key)
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            fail(errors, key, f"expected a list, got {type_name(raw)}")
            raw = []
        lists[key] = raw

    profiles = _unique_items(lists["captiva_profiles"], "captiva_profiles", PROFILE, "name",
                             errors)
    promotions = _unique_items(lists["captiva_promotions"], "captiva_promotions", PROMOTION,
                               "name", errors)
    sites = _unique_items(lists["captiva_sites"], "captiva_sites", SITE, "name", errors)

    for i, profile in profiles.values():
        path = f"captiva_profiles[{i}]"
        if profile["name"].startswith(RESERVED_PREFIX):
            fail(errors, f"{path}.name",
                  f"the prefix {RESERVED_PREFIX!r} is reserved for Captiva's built-in groups")
        _check_quota_order(profile.get("quota"), f"{path}.quota", errors)
    default_profile = settings.get("captiva_default_profile")
    if isinstance(default_profile, dict):
        _check_quota_order(default_profile.get("quota"), "captiva_default_profile.quota", errors)

    known_profiles = set(profiles) | {DEFAULT_PROFILE}
    for i, promotion in promotions.values():
        _check_ref(promotion["profile"], known_profiles, f"captiva_promotions[{i}].profile",
                   "profile", errors)

    workstation_profile = settings.get("captiva_workstation_profile")
    if isinstance(workstation_profile, str) and (
            not workstation_profile.startswith(RESERVED_PREFIX)
            or workstation_profile in {DEFAULT_PROFILE, *(g for g, _ in STATUS_GROUPS.values())}):
        fail(errors, "captiva_workstation_profile",
              f"must start with {RESERVED_PREFIX!r} (no roster profile can then take its name) "
              f"and differ from Captiva's built-in groups, got {workstation_profile!r}")
    _check_routers(sites, errors)
    check_sites(sites, settings, errors, check_keys=decrypted)
    users = _check_users(lists["captiva_users"], settings, known_profiles, promotions, errors)
    staff = _check_staff(lists["captiva_staff"], lists["captiva_users"], sites, errors)
    workstations, workstation_rules, workstation_errors = validate_workstations(
        variables, {n: s for n, (_, s) in sites.items()})
    errors.extend(workstation_errors)

    check_login_methods(settings, variables, errors)

    vouchers = None
    if not errors:  # codes are derived only from an otherwise valid roster
        vouchers, voucher_errors = validate_batches(
            variables, profiles=known_profiles,
            sites={n: s.get("timezone") for n, (_, s) in sites.items()},
            usernames=[u["username"] for u in users],
            default_timezone=settings["captiva_timezone"],
            default_language=settings["captiva_language"])
        errors.extend(voucher_errors)
    if errors:
        return None, errors
    return Roster(
        settings=settings,
        profiles={n: p for n, (_, p) in profiles.items()},
        promotions={n: p for n, (_, p) in promotions.items()},
        users=users,
        sites={n: s for n, (_, s) in sites.items()},
        staff=staff,
        vouchers=vouchers or [],
        workstations=workstations,
        workstation_rules=workstation_rules,
    ), []


def _unique_items(items: list, key: str, check: Checker, id_field: str,
                  errors: list) -> dict[str, tuple[int, dict]]:
    """Items by their identifier; an item with errors is kept too (the roster is then
    rejected anyway) so that references to it do not report a second, misleading error."""
    return {item[id_field]: (i, item)
            for i, _, item in unique_records(items, key, check, id_field, errors)}


def _check_ref(value, known, path, what, errors):
    if isinstance(value, str) and value not in known:
        fail(errors, path, f"unknown {what} {value!r}" + suggest(value, known))


def _check_quota_order(quota, path, errors):
    if not isinstance(quota, dict):
        return
    set_periods = [(p, quota[p]) for p in ("daily", "weekly", "monthly", "total")
                   if isinstance(quota.get(p), int)]
    for (small, a), (large, b) in zip(set_periods, set_periods[1:], strict=False):
        if a > b:
            fail(errors, f"{path}.{small}",
                  f"the {small} quota ({quota_text(a)}) is larger than the {large} quota "
                  f"({quota_text(b)})")


def quota_text(n_bytes: int) -> str:
    return format_size(n_bytes)


def _check_routers(sites, errors):
    names: dict[str, str] = {}
    addresses: dict[str, str] = {}
    for i, site in sites.values():
        routers = site["routers"] if isinstance(site["routers"], list) else []
        for j, router in enumerate(routers):
            path = f"captiva_sites[{i}].routers[{j}]"
            if not isinstance(router, dict):
                continue
            for value, seen, field in ((router["name"], names, "name"),
                                       (router["address"], addresses, "address")):
                if value is INVALID:
                    continue
                if value in seen:
                    fail(errors, f"{path}.{field}",
                          f"duplicate router {field} {value!r} (already used by {seen[value]})")
                else:
                    seen[value] = path
            api = router.get("api")
            if isinstance(api, dict) and (api.get("port"), api.get("tls")) in PORT_MISMATCH:
                fail(errors, f"{path}.api.port", PORT_MISMATCH[(api["port"], api["tls"])])


def _check_users(items, settings, known_profiles, promotions, errors) -> list[dict]:
    users: list[dict] = []
    seen: dict[str, int] = {}
    storage = settings.get("captiva_password_storage")
    min_length = settings.get("captiva_password_min_length")
    for i, raw in enumerate(items):
        path = f"captiva_users[{i}]"
        user = USER(raw, path, errors)
        if user is INVALID or not isinstance(user["username"], str):
            continue
        folded = user["username"].lower()
        if folded in seen:
            first = seen[folded]
            fail(errors, f"{path}.username",
                  f"duplicate username {user['username']!r} (same as captiva_users[{first}] "
                  f"{items[first]['username']!r}; usernames are case-insensitive)")
            continue
        seen[folded] = i
        _check_ref(user["promotion"], promotions, f"{path}.promotion", "promotion", errors)
        _check_ref(user["profile"], known_profiles, f"{path}.profile", "profile", errors)
        password, password_hash = user["password"], user["password_hash"]
        if INVALID in (password, password_hash):
            pass
        elif password is None and password_hash is None:
            fail(errors, f"{path}.password", "required: set password (or password_hash)")
        elif password is not None and password_hash is not None:
            fail(errors, f"{path}.password_hash", "set either password or password_hash")
        elif password_hash is not None:
            if storage == "cleartext":
                fail(errors, f"{path}.password_hash",
                      "cleartext storage (CHAP login) needs the password itself, not a hash")
            elif not _SHA512_CRYPT.match(password_hash):
                fail(errors, f"{path}.password_hash",
                      "expected a sha512-crypt hash ($6$salt$...); create one with "
                      "'openssl passwd -6'")
        elif isinstance(min_length, int) and len(password) < min_length:
            fail(errors, f"{path}.password",
                  f"password too short: use at least {min_length} characters")
        elif password.lower() == user["username"].lower():
            fail(errors, f"{path}.password", "password must not be the username")
        users.append(user)
    return users


def _check_staff(items, raw_users, sites, errors) -> list[dict]:
    """Staff sign in to the portal with their roster account (RADIUS): the username must be
    a roster user's, exactly (RADIUS is case-sensitive); sites must be declared sites."""
    usernames = {u.get("username") for u in raw_users if isinstance(u, dict)}
    staff: list[dict] = []
    for _, path, member in unique_records(items, "captiva_staff", STAFF, "username", errors,
                                          "staff username"):
        who = member["username"]
        if who not in usernames:
            fail(errors, f"{path}.username",
                  f"{who!r} is not a user of captiva_users: staff sign in to the portal "
                  "through RADIUS like students, so declare their account in captiva_users"
                  + suggest(who, [u for u in usernames if isinstance(u, str)]))
        for j, site in enumerate(member["sites"] if isinstance(member["sites"], list) else []):
            _check_ref(site, sites, f"{path}.sites[{j}]", "site", errors)
        staff.append(member)
    return staff


# --------------------------------------------------------------------------------------------
# Effective policy


def effective_profile(roster: Roster, user: Mapping[str, Any]) -> str:
    """The user's own profile, else their promotion's, else ``captiva-default``."""
    if user.get("profile"):
        return user["profile"]
    promotion = roster.promotions.get(user.get("promotion") or "")
    if promotion and promotion.get("profile"):
        return promotion["profile"]
    return DEFAULT_PROFILE


def profile_policy(roster: Roster, profile_name: str) -> dict[str, Any]:
    """A profile's normalised policy; omitted quotas and timeouts mean unlimited."""
    if profile_name == DEFAULT_PROFILE:
        profile = dict(roster.settings["captiva_default_profile"], name=DEFAULT_PROFILE)
    else:
        profile = roster.profiles[profile_name]
    alerts = profile.get("alerts") or {}
    site_alerts = roster.settings["captiva_alerts"]
    quota = profile.get("quota") or {}
    bandwidth = profile.get("bandwidth") or {}
    return {
        "name": profile["name"],
        "description": profile.get("description") or "",
        "rate_upload": bandwidth.get("upload"),
        "rate_download": bandwidth.get("download"),
        "quota_daily": quota.get("daily"),
        "quota_weekly": quota.get("weekly"),
        "quota_monthly": quota.get("monthly"),
        "quota_total": quota.get("total"),
        "session_timeout": profile.get("session_timeout"),
        "idle_timeout": profile.get("idle_timeout"),
        "simultaneous_use": profile.get("simultaneous_use"),
        "validity_days": profile.get("validity_days"),
        "alert_quota_percent": sorted(alerts.get("quota_percent")
                                      or site_alerts["quota_percent"] or []),
        "alert_expiry_days": sorted(alerts.get("expiry_days")
                                    or site_alerts["expiry_days"] or [], reverse=True),
    }


def user_expiry(roster: Roster, user: Mapping[str, Any], policy: Mapping[str, Any],
                activated: dt.date) -> dt.datetime | None:
    """When access ends: the explicit date, else activation + the profile's validity_days.

    A date means "valid through that day": access ends at the next midnight in the
    campus timezone.
    """
    return _expiry(user.get("expires"), policy.get("validity_days"), activated,
                   roster.settings["captiva_timezone"])


@functools.lru_cache(maxsize=4096)
def _expiry(expires, validity_days, activated, timezone_name) -> dt.datetime | None:
    # Cached: a roster has a few distinct expiry dates shared by thousands of users.
    tz = zone(timezone_name)
    if isinstance(expires, dt.datetime):
        return expires if expires.tzinfo else expires.replace(tzinfo=tz)
    if isinstance(expires, dt.date):
        day = expires + dt.timedelta(days=1)
    elif validity_days:
        day = activated + dt.timedelta(days=validity_days)
    else:
        return None
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz)


def user_status(roster: Roster, user: Mapping[str, Any], expires_at: dt.datetime | None,
                now: dt.datetime) -> str:
    """``active``, or why not: ``disabled`` > ``wifi-off`` > ``expired``."""
    if not user["enabled"]:
        return "disabled"
    promotion = roster.promotions.get(user.get("promotion") or "")
    if promotion is not None and not promotion["wifi_enabled"]:
        return "wifi-off"
    if expires_at is not None and expires_at <= now:
        return "expired"
    return "active"
