"""Compile a validated roster into the desired state the reconciles apply.

Two compilers, because their inputs differ:

``compile_routers(roster)``
    FreeRADIUS clients and each router's RouterOS configuration and API settings. Depends on
    the roster alone, so the ``captiva_roster`` step compiles it once, contacting no host.
``compile_radius(roster, now, activations)``
    RADIUS group and user rows and Captiva's own table rows, with each user's status. A
    user's expiry may count from the day Captiva first provisioned them, which only the
    database knows, so ``captiva_radius`` compiles this once, after reading the database;
    its summary is the one that counts users by status.

Pure Python, no Ansible imports beyond the sibling module_utils.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from typing import Any

from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster import (
    DEFAULT_PROFILE,
    STATUS_GROUPS,
    Roster,
    effective_profile,
    profile_policy,
    user_expiry,
    user_status,
)
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster_schema import zone
from ansible_collections.captiva.campus.plugins.module_utils.captiva_routeros_certificates import (
    desired_entries,
    hotspot_certificate_name,
)
from ansible_collections.captiva.campus.plugins.module_utils.captiva_units import (
    format_duration,
    format_rate,
)
from ansible_collections.captiva.campus.plugins.module_utils.captiva_vouchers import (
    compile_vouchers,
)
from ansible_collections.captiva.campus.plugins.module_utils.captiva_workstations import (
    compile_workstations,
)


def policies(roster: Roster) -> dict[str, dict[str, Any]]:
    """Every profile's policy; ``captiva-default`` always, it is what a user without any
    profile gets."""
    return {n: profile_policy(roster, n) for n in [DEFAULT_PROFILE, *sorted(roster.profiles)]}


def rate_limit(policy: Mapping[str, Any]) -> str | None:
    """``<upload>/<download>``: MikroTik reads rx/tx from the router's side, and rx is what
    the client uploads."""
    if not (policy["rate_upload"] or policy["rate_download"]):
        return None
    return f"{format_rate(policy['rate_upload'] or 0)}/{format_rate(policy['rate_download'] or 0)}"


# --------------------------------------------------------------------------------------------
# RADIUS


def group_rows(roster: Roster, policy: Mapping[str, Any]) -> dict[str, list[list[str]]]:
    """RADIUS check/reply rows of a profile's group: ``[attribute, op, value]``.

    Reply rows use ``=`` so an admin's own per-user radreply row still wins for one user;
    check rows use ``:=`` (``=`` in a check table is a comparison that fails).
    """
    reply = []
    limit = rate_limit(policy)
    if limit:
        reply.append(["Mikrotik-Rate-Limit", "=", limit])
    if policy["session_timeout"]:
        reply.append(["Session-Timeout", "=", str(policy["session_timeout"])])
    if policy["idle_timeout"]:
        reply.append(["Idle-Timeout", "=", str(policy["idle_timeout"])])
    reply.append(["Acct-Interim-Interval", "=", str(roster.settings["captiva_interim_interval"])])
    reply.append(["Mikrotik-Group", "=", policy["name"]])
    check = []
    if policy["simultaneous_use"]:
        check.append(["Simultaneous-Use", ":=", str(policy["simultaneous_use"])])
    return {"check": check, "reply": reply}


def status_group_rows(message: str) -> dict[str, list[list[str]]]:
    return {"check": [["Auth-Type", ":=", "Reject"]], "reply": [["Reply-Message", ":=", message]]}


def compile_radius(roster: Roster, now: dt.datetime,
                   activations: Mapping[str, dt.date] | None = None) -> dict[str, Any]:
    """RADIUS rows, Captiva's table rows and a summary counting users by status, as plain
    data (JSON-able but for the ``captiva_user`` rows' ``expires_at`` datetime and
    ``activated_on`` date).

    ``activations`` maps usernames to the day Captiva first provisioned them (read back from
    the database); users without one are activated today.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    settings = roster.settings
    tz = zone(settings["captiva_timezone"])
    today = now.astimezone(tz).date()
    activations = activations or {}
    storage = settings["captiva_password_storage"]
    profile_policies = policies(roster)

    groups = {n: group_rows(roster, p) for n, p in profile_policies.items()}
    for _status, (group, message) in STATUS_GROUPS.items():
        groups[group] = status_group_rows(message)

    radius_users: dict[str, dict] = {}
    user_rows = []
    counts = {"active": 0, "disabled": 0, "wifi-off": 0, "expired": 0}
    for user in roster.users:
        profile = effective_profile(roster, user)
        policy = profile_policies[profile]
        activated = user.get("activated") or activations.get(user["username"]) or today
        if isinstance(activated, dt.datetime):
            activated = activated.date()
        expires_at = user_expiry(roster, user, policy, activated)
        status = user_status(roster, user, expires_at, now)
        counts[status] += 1
        if user["password_hash"] is not None:
            password = {"scheme": "crypt-hash", "value": user["password_hash"]}
        else:
            password = {"scheme": "crypt" if storage == "hashed" else "cleartext",
                        "value": user["password"]}
        check = []
        if expires_at is not None:
            # Epoch seconds: rlm_expiration compares against it, and FreeRADIUS parses a
            # plain integer date without any timezone ambiguity.
            check.append(["Expiration", ":=", _epoch(expires_at)])
        radius_users[user["username"]] = {
            "group": profile if status == "active" else STATUS_GROUPS[status][0],
            "password": password,
            "check": check,
        }
        user_rows.append({
            "username": user["username"],
            "first_name": user["first_name"],
            "last_name": user["last_name"],
            "email": user["email"],
            "language": user["language"] or settings["captiva_language"],
            "promotion": user["promotion"],
            "own_profile": user["profile"],
            "profile": profile,
            "enabled": user["enabled"],
            "status": status,
            "expires_at": expires_at,
            "activated_on": activated,
        })

    sites, routers = [], []
    for site in roster.sites.values():
        sites.append({
            "name": site["name"],
            "timezone": site["timezone"] or settings["captiva_timezone"],
            "week_start": site["week_start"] or settings["captiva_week_start"],
            "month_start_day": site["month_start_day"] or settings["captiva_month_start_day"],
        })
        routers.extend({"name": router["name"], "site": site["name"],
                        "nasipaddress": router["address"], "coa_port": router["coa_port"],
                        # where the kiosk page may send a session code (its login URL's host)
                        "hotspot_dns_name": (router.get("hotspot") or {}).get("dns_name")}
                       for router in site["routers"])

    # Vouchers: one RADIUS user per code (its password is the code), in its batch's profile.
    vouchers = compile_vouchers(roster.vouchers)
    radius_users.update(vouchers["radius_users"])

    return {
        "radius": {"groups": groups, "users": radius_users},
        "tables": {
            "captiva_quota_settings": [{
                "id": True, "timezone": settings["captiva_timezone"],
                "week_start": settings["captiva_week_start"],
                "month_start_day": settings["captiva_month_start_day"]}],
            "captiva_site": sites,
            "captiva_router": routers,
            "captiva_profile": [dict(p) for p in profile_policies.values()],
            "captiva_promotion": [
                {"name": p["name"], "profile": p["profile"], "wifi_enabled": p["wifi_enabled"]}
                for p in roster.promotions.values()
            ],
            "captiva_user": user_rows,
            "captiva_staff": [{"username": m["username"], "role": m["role"],
                               "sites": sorted(m["sites"])} for m in roster.staff],
            **vouchers["tables"],
            **compile_workstations(roster.workstations, roster.workstation_rules),
        },
        "summary": {**roster_counts(roster), **counts, **vouchers["summary"]},
    }


@functools.lru_cache(maxsize=4096)
def _epoch(instant: dt.datetime) -> str:
    return str(int(instant.timestamp()))


def roster_counts(roster: Roster) -> dict[str, int]:
    """What the roster declares, independent of the day and of the database."""
    return {"users": len(roster.users), "staff": len(roster.staff),
            "profiles": len(roster.profiles) + 1,
            "promotions": len(roster.promotions), "sites": len(roster.sites),
            "routers": sum(len(site["routers"]) for site in roster.sites.values())}


# --------------------------------------------------------------------------------------------
# Routers


def compile_routers(roster: Roster) -> dict[str, Any]:
    """FreeRADIUS clients, each router's RouterOS configuration and its API settings."""
    profile_policies = policies(roster)
    clients, routeros, router_api = [], {}, {}
    workstation_sites = {ws["site"] for ws in roster.workstations}
    for site in roster.sites.values():
        for router in site["routers"]:
            clients.append({"name": router["name"], "address": router["address"],
                            "secret": router["radius_secret"]})
            routeros[router["name"]] = routeros_desired(
                roster, router, profile_policies,
                workstations=site["name"] in workstation_sites)
            api = router["api"]
            router_api[router["name"]] = {
                "host": api["host"] or router["address"], "port": api["port"],
                "tls": api["tls"], "validate_certs": api["validate_certs"],
                "username": api["username"], "password": api["password"]}
    return {"freeradius_clients": clients, "routeros": routeros, "router_api": router_api,
            "summary": roster_counts(roster)}


def routeros_desired(roster: Roster, router: Mapping[str, Any],
                     profile_policies: Mapping[str, Mapping[str, Any]],
                     workstations: bool = False) -> dict[str, Any]:
    """What Captiva owns on one router, in RouterOS field names per menu path.

    ``workstations``: the router's site has public workstations, so it also gets their user
    profile (``workstation_user_profile``)."""
    settings = roster.settings
    hotspot = router["hotspot"]
    timeout = settings["captiva_radius_timeout"]
    profile = {
        "name": hotspot["profile"],
        "use-radius": True,
        "radius-accounting": True,
        "radius-interim-update": format_duration(settings["captiva_interim_interval"]),
        "login-by": ",".join(settings["captiva_hotspot_login_by"]),
    }
    if hotspot.get("dns_name"):
        profile["dns-name"] = hotspot["dns_name"]
    # The pages are where Captiva puts them (roles/mikrotik, the same setting), and the HTTPS
    # login has its certificate, imported before the profile names it (captiva_routeros).
    profile["html-directory"] = settings["captiva_hotspot_html_directory"]
    tls = router.get("hotspot_tls")
    profile["ssl-certificate"] = hotspot_certificate_name(tls) if tls else "none"
    user_profiles = []
    for policy in profile_policies.values():
        entry = {"name": policy["name"],
                 "shared-users": policy["simultaneous_use"] or "unlimited"}
        limit = rate_limit(policy)
        if limit:
            entry["rate-limit"] = limit
        if policy["session_timeout"]:
            entry["session-timeout"] = format_duration(policy["session_timeout"])
        if policy["idle_timeout"]:
            entry["idle-timeout"] = format_duration(policy["idle_timeout"])
        user_profiles.append(entry)
    if workstations:
        user_profiles.append(workstation_user_profile(settings["captiva_workstation_profile"]))
    portal = settings["captiva_portal"]
    return {
        "/certificate": desired_entries(tls) if tls else [],
        "/radius": [{
            "service": "hotspot",
            "address": server,
            "secret": router["radius_secret"],
            "timeout": format_duration(timeout) if timeout >= 1 else "1s",
            "authentication-port": 1812,
            "accounting-port": 1813,
            "require-message-auth": "yes-for-request-resp",
        } for server in settings["captiva_radius_servers"]],
        "/radius/incoming": {"accept": True, "port": router["coa_port"]},
        "/ip/hotspot/profile": [profile],
        "/ip/hotspot/user/profile": user_profiles,
        "/ip/hotspot/walled-garden": [{"dst-host": portal["dns_name"], "action": "allow"}],
        "/ip/hotspot/walled-garden/ip": [{"dst-address": portal["address"], "action": "accept"}],
    }


def workstation_user_profile(name: str) -> dict[str, Any]:
    """The hotspot user profile of public workstations' sessions (FreeRADIUS names it in
    Mikrotik-Group). Nothing of a session may outlive it for the next person at the PC: no
    MAC cookie (the router would log the MAC in again without RADIUS, so the next person
    would inherit the session), one login at a time. The time is the RADIUS Session-Timeout
    alone (none here); no idle timeout, since a member may read for a while, but a PC that
    stops answering ends its session after the keepalive timeout. The status page opens at
    every login: it is what opens the kiosk page."""
    return {"name": name, "add-mac-cookie": False, "shared-users": 1,
            "idle-timeout": "none", "keepalive-timeout": "2m",
            "open-status-page": "always", "transparent-proxy": False}


def compile_roster(roster: Roster, now: dt.datetime,
                   activations: Mapping[str, dt.date] | None = None) -> dict[str, Any]:
    """Both compilers' output in one mapping (tests and benchmarks)."""
    radius = compile_radius(roster, now, activations)
    return {**compile_routers(roster), **radius}
