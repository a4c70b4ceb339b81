"""``make new-inventory NAME=...``: a skeleton inventory for a new campus.

Commented settings, the vault id, one profile, one promotion, one site with one router, the
host groups and a README of the steps left. Every value only the campus knows is a
placeholder ``CHANGE-ME-...``; validation (make validate) names each one with its file and
line until it is replaced (captiva_roster_io.placeholder_errors).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

NAME = re.compile(r"[a-z][a-z0-9-]{0,39}")

HOSTS = """\
---
# {name}: the hosts Captiva converges (docs/deploy.md). Each group's host names are yours;
# ansible_host is the address the controller reaches them at over SSH.
all:
  hosts:
    # The controller itself: validation, the RADIUS reconcile and the routers' API.
    localhost:
      ansible_connection: local
      ansible_python_interpreter: "{{ ansible_playbook_python }}"
  children:
    postgres:
      hosts:
        db1: {ansible_host: CHANGE-ME-database-host-address}
    freeradius:
      hosts:
        radius1: {ansible_host: CHANGE-ME-radius-host-address}
    portal:
      hosts:
        portal1: {ansible_host: CHANGE-ME-portal-host-address}
    # The group routers comes from captiva_sites[].routers (group_vars/all/sites.yml)
    # through routers.yml: a router is declared there only.
    # Optional: the host that runs drift detection (docs/gitops.md, "Drift").
    # controller:
    #   hosts:
    #     ci1: {ansible_host: ...}
"""

SETTINGS = """\
---
# {name}'s settings. Those not set here come from the collection's
# group_vars/captiva_defaults.yml (each documented there); copy one here to change it.
#
# Secrets are vaulted with the vault id `{name}`, one value at a time:
#   ansible-vault encrypt_string --vault-id {name}@prompt --name reconcile
# then paste the `!vault |` block in place of the placeholder. make validate, plan and apply
# ask for the password of this id (VAULT_ARGS="--vault-id {name}@prompt", or
# ANSIBLE_VAULT_PASSWORD_FILE).

# The portal's and the letters' language: fr or en.
captiva_language: fr
# Passwords stored as sha512-crypt (hashed) or for CHAP logins (cleartext): docs/freeradius.md.
captiva_password_storage: hashed
# How students log in on the hotspot page: https needs each site's hotspot_tls (sites.yml).
captiva_hotspot_login_by: [https, cookie]
# The WiFi network's name, as the letters and the portal show it.
captiva_wifi_name: CHANGE-ME-wifi-name

# The FreeRADIUS servers the routers send their requests to (the freeradius hosts).
captiva_radius_servers: [CHANGE-ME-radius-host-address]
# The status portal: its address and the name students' browsers reach it at.
captiva_portal:
  address: CHANGE-ME-portal-host-address
  dns_name: CHANGE-ME-portal-dns-name
# The RADIUS database (the postgres host).
captiva_database:
  host: CHANGE-ME-database-host-address
  port: 5432
  name: radius
# The database roles' passwords: each its own long random value, vaulted (vault id {name}).
captiva_db_passwords:
  reconcile: CHANGE-ME-vaulted-reconcile-password
  freeradius: CHANGE-ME-vaulted-freeradius-password
  portal: CHANGE-ME-vaulted-portal-password
  jobs: CHANGE-ME-vaulted-jobs-password
# The portal's own RADIUS client secret (student login on the portal), vaulted.
captiva_portal_radius_secret: CHANGE-ME-vaulted-portal-radius-secret
# The key of the portal's session cookies: 32+ random characters, vaulted.
captiva_portal_session_secret: CHANGE-ME-vaulted-portal-session-secret

# Where the controller (your CI runner or admin machine) reaches the database from.
# such as 10.20.0.5/32.
postgres_controller_addresses: [CHANGE-ME-controller-network]
"""

PROFILES = """\
---
# Profiles: what a user gets (bandwidth, quotas, sessions). README.md, "The roster".
captiva_profiles:
  - name: etudiant
    description: Students
    bandwidth: {upload: 2M, download: 10M}
    quota: {daily: 5GiB, monthly: 100GiB}
    session_timeout: 8h
    idle_timeout: 10m
    simultaneous_use: 1
    validity_days: 365
"""

PROMOTIONS = """\
---
# Promotions: a year's class, with its profile; wifi_enabled: false switches it off as a whole.
captiva_promotions:
  - {name: L1-2026, profile: etudiant, wifi_enabled: true}
"""

SITES = """\
---
# Sites and their routers (MikroTik RouterOS, managed over its API from the controller:
# docs/routeros.md). Each router's name is its host in the inventory group `routers`, which
# routers.yml makes from this list.
captiva_sites:
  - name: campus-main
    description: Main campus
    # The site's IANA timezone, such as Africa/Douala.
    timezone: CHANGE-ME-timezone
    # The client networks behind the site's routers, such as 10.5.0.0/16.
    networks: [CHANGE-ME-client-network]
    # The hotspot certificate for the HTTPS login, valid for routers[].hotspot.dns_name, and
    # its key (vaulted): docs/routeros.md, "Certificates".
    hotspot_tls:
      certificate: CHANGE-ME-hotspot-certificate-pem
      key: CHANGE-ME-vaulted-hotspot-key-pem
    routers:
      - name: gw1
        address: CHANGE-ME-router-address
        # The RADIUS secret this router and FreeRADIUS share, vaulted.
        radius_secret: CHANGE-ME-vaulted-router-radius-secret
        api:
          port: 8729
          tls: true
          username: captiva
          password: CHANGE-ME-vaulted-router-api-password
        hotspot:
          dns_name: CHANGE-ME-hotspot-dns-name
"""

ROUTERS = """\
---
# The group routers: one host per router of captiva_sites (group_vars/all/sites.yml), where
# a router is declared, once (docs/collection.md, "Routers").
plugin: captiva.campus.captiva_routers
"""

USERS = """\
---
# The users: import a registrar's CSV (make import-users, docs/onboarding.md) or write them.
captiva_users: []
"""

README = """\
# {name}: a Captiva inventory

Written by `make new-inventory NAME={name}`. It is not valid yet: `make validate
INVENTORY={directory}` names every `CHANGE-ME-...` placeholder with its file and line.

Steps left:

1. `hosts.yml`: the addresses of the database, FreeRADIUS and portal hosts; rename them as
   you like. The routers are declared in `sites.yml` only (`routers.yml` makes the group
   `routers` from it).
2. `group_vars/all/settings.yml`: the WiFi name, the portal's address and DNS name, the
   controller's address; the secrets, each vaulted with the vault id `{name}`
   (`ansible-vault encrypt_string --vault-id {name}@prompt --name <key>`).
3. `group_vars/all/sites.yml`: the site's timezone and networks, the router's address, its
   RADIUS secret and API password (vaulted), the hotspot's DNS name and certificate.
4. `group_vars/all/profiles.yml`, `promotions.yml`: your own; `users.yml`: import a CSV
   (`make import-users`, docs/onboarding.md).
5. `make validate INVENTORY={directory} VAULT_ARGS="--vault-id {name}@prompt"` until it passes;
   then `make plan`, and `make apply` (docs/deploy.md prepares the router and the hosts).
"""

FILES = {
    "hosts.yml": HOSTS,
    "routers.yml": ROUTERS,
    "group_vars/all/settings.yml": SETTINGS,
    "group_vars/all/profiles.yml": PROFILES,
    "group_vars/all/promotions.yml": PROMOTIONS,
    "group_vars/all/sites.yml": SITES,
    "group_vars/all/users.yml": USERS,
    "README.md": README,
}


def write(name: str, directory: Path) -> list[Path]:
    """Write the skeleton into ``directory`` (which must not exist); the files written."""
    if not NAME.fullmatch(name):
        raise ValueError(f"NAME={name!r}: lowercase letters, digits and '-', starting with a "
                         "letter (it is the vault id too)")
    if directory.exists():
        raise FileExistsError(f"{directory} exists already: nothing written")
    written = []
    for relative, text in FILES.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("{name}", name).replace("{directory}", str(directory)),
                        encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m captiva.onboarding.skeleton",
                                     description="Write a skeleton inventory for a campus.")
    parser.add_argument("name", help="the campus's name, also its vault id")
    parser.add_argument("--directory", help="where (default: inventories/NAME)")
    args = parser.parse_args(argv)
    directory = Path(args.directory or f"inventories/{args.name}")
    try:
        written = write(args.name, directory)
    except (ValueError, FileExistsError) as exc:
        print(f"new-inventory: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    print(f"next: {directory / 'README.md'} lists the steps left; make validate "
          f"INVENTORY={directory} names every CHANGE-ME placeholder until they are filled in")
    return 0


if __name__ == "__main__":
    sys.exit(main())
