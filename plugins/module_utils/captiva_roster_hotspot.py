"""The roster's hotspot settings: login methods, the hotspot's TLS certificate, the pages'
directory, and the combinations of them that cannot work on a router.

Each rule follows MikroTik's documentation ("HotSpot - Captive portal", hotspot profile
``login-by``, ``ssl-certificate``, ``html-directory``; "Certificates"), erring stricter
than a router where it is silent. Every error names its YAML path, why, and the fix.

Pure Python, no Ansible imports beyond the sibling module_utils.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster_schema import (
    INVALID,
    Field,
    fail,
    record,
    secret,
    text,
)
from ansible_collections.captiva.campus.plugins.module_utils.captiva_routeros_certificates import (
    check_hotspot_tls,
)

LOGIN_METHODS = ("http-chap", "http-pap", "https", "cookie", "mac-cookie", "mac", "trial")
# The methods with a login form: what a person types a username and password (or a voucher
# code) into, and what a voucher card's QR code opens.
FORM_METHODS = ("https", "http-chap", "http-pap")
DOCS = "docs/routeros.md, \"Certificates\""

# The hotspot's TLS certificate: per site (captiva_sites[].hotspot_tls), a router's own
# overriding it (captiva_sites[].routers[].hotspot_tls).
HOTSPOT_TLS = record({
    "certificate": Field(text, required=True),  # PEM: the hotspot's certificate, then its chain
    "key": Field(secret, required=True),  # PEM, unencrypted: keep it in the vault
})
_IPV4 = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_DIRECTORY = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")


def html_directory(value, path, errors):
    """A directory of the router's file system, relative, as the hotspot profile names it
    (``flash/hotspot``, ``hotspot``)."""
    if not isinstance(value, str) or not _DIRECTORY.match(value) or ".." in value.split("/"):
        return fail(errors, path, f"invalid html directory {value!r}: a relative path of the "
                                   "router's files such as flash/hotspot or hotspot")
    return value


def check_login_methods(settings: Mapping[str, Any], variables: Mapping[str, Any],
                        errors: list) -> None:
    """Login methods that cannot work together, or with the password storage or vouchers."""
    login_by = settings.get("captiva_hotspot_login_by")
    if not isinstance(login_by, list):
        return
    path = "captiva_hotspot_login_by"
    forms = [m for m in login_by if m in FORM_METHODS]
    if settings.get("captiva_password_storage") == "hashed" and "http-chap" in login_by:
        fail(errors, path,
             "hashed password storage cannot work with CHAP login (http-chap needs the "
             "cleartext password): remove http-chap or set captiva_password_storage: cleartext")
    for method in ("cookie", "mac-cookie"):
        if method in login_by and not forms:
            fail(errors, path,
                 f"{method} only logs in again someone who logged in with a form first "
                 "(RouterOS: 'cookie may only be used with another HTTP authentication "
                 "method'): add https (or http-chap)")
    if variables.get("captiva_voucher_batches") and not forms:
        fail(errors, path,
             "voucher cards' QR codes open the hotspot login page, and codes are typed into "
             "it, but no login method here has a form: add https (or http-chap)")


def check_sites(sites: Mapping[str, tuple[int, dict]], settings: Mapping[str, Any],
                errors: list, *, check_keys: bool = True) -> None:
    """Each router's hotspot certificate: present when login-by has https, usable, valid for
    the hotspot dns_name of every router that uses it. Resolves it into
    ``router['hotspot_tls']`` (the router's own, else its site's): what the compiled state
    installs on that router."""
    login_by = settings.get("captiva_hotspot_login_by")
    https = isinstance(login_by, list) and "https" in login_by
    uses: dict[str, tuple[Mapping[str, Any], list[str], list[str]]] = {}
    for i, site in sites.values():
        routers = site["routers"] if isinstance(site.get("routers"), list) else []
        if isinstance(site.get("hotspot_tls"), Mapping) and INVALID not in \
                site["hotspot_tls"].values():  # checked even when every router has its own
            uses[f"captiva_sites[{i}].hotspot_tls"] = (site["hotspot_tls"], [], [])
        for j, router in enumerate(routers):
            if not isinstance(router, dict):
                continue
            where = f"captiva_sites[{i}].routers[{j}]"
            hotspot = router.get("hotspot") if isinstance(router.get("hotspot"), dict) else {}
            dns_name = hotspot.get("dns_name")
            if INVALID in (router.get("hotspot_tls"), site.get("hotspot_tls"), dns_name):
                continue  # already reported by the record checks
            own = isinstance(router.get("hotspot_tls"), Mapping)
            tls = router["hotspot_tls"] if own else site.get("hotspot_tls")
            router["hotspot_tls"] = None
            if dns_name is not None and (_IPV4.match(dns_name) or "." not in dns_name):
                fail(errors, f"{where}.hotspot.dns_name",
                     f"{dns_name!r} is not a fully qualified domain name, which RouterOS "
                     "requires of the hotspot's DNS name (it answers it as a static DNS "
                     "entry, and the login page's certificate carries it): use a name such as "
                     "wifi.campus.example")
            if https and dns_name is None:
                fail(errors, f"{where}.hotspot.dns_name",
                     "https in captiva_hotspot_login_by needs the hotspot's DNS name: the "
                     "router sends browsers to https://<dns_name>/login and the certificate "
                     "must carry that name; set hotspot.dns_name (for example "
                     "wifi.campus.example)")
            if tls is None:
                if https:
                    fail(errors, f"{where}.hotspot_tls",
                         f"https in captiva_hotspot_login_by needs a certificate for "
                         f"router {router.get('name')!r}: set captiva_sites[{i}].hotspot_tls "
                         f"(the site's routers) or {where}.hotspot_tls, a PEM certificate "
                         f"and its vaulted key ({DOCS}); or remove https from "
                         "captiva_hotspot_login_by")
                continue
            if INVALID in tls.values():
                continue
            tls_path = f"{where}.hotspot_tls" if own else f"captiva_sites[{i}].hotspot_tls"
            _, names, routers_named = uses.setdefault(tls_path, (tls, [], []))
            if dns_name and dns_name not in names:
                names.append(dns_name)
            routers_named.append(str(router.get("name")))
            router["hotspot_tls"] = {"certificate": tls["certificate"], "key": tls["key"]}
    # Each certificate checked once, against the names of all the routers that use it.
    for tls_path, (tls, names, _routers) in uses.items():
        for field, reason in check_hotspot_tls(tls, names, check_key=check_keys):
            fail(errors, f"{tls_path}.{field}", f"{reason} ({DOCS})")
