#!/usr/bin/env python3
"""A lab router, as the roster defines it: run its RouterOS API simulator, read it back.

The router's API address, port, user and password, and its RADIUS secret, come from the
roster (``captiva_sites`` in the inventory, vault-decrypted in this process): nothing secret
is passed on a command line or printed, except by ``radius-secret`` on purpose.

usage: lab-router.py [-i INVENTORY]... [--vault-id ID] ROUTER serve --state FILE [--ready-file FILE]
       lab-router.py [-i INVENTORY]... [--vault-id ID] ROUTER print [--all] [MENU]
       lab-router.py [-i INVENTORY]... [--vault-id ID] ROUTER radius-secret
       lab-router.py [-i INVENTORY]... [--vault-id ID] ROUTER hotspot-server

  serve          tools/routeros-sim as ROUTER: listens on the router's API address and port,
                 and serves its hotspot login on ports 80 (HTTP) and 443 (HTTPS, with the
                 certificate the hotspot profile names) of the router's address
                 (run it in the router container's network namespace: lab/router-sim does)
  hotspot-server the step an admin does by hand on a real router (docs/deploy.md): a hotspot
                 server using Captiva's hotspot profile, added when the router has none
  print          read MENU (default /ip/hotspot/user/profile) over the API; only the entries
                 Captiva owns (its ledger, or comment=captiva) unless --all
  radius-secret  the router's RADIUS secret, for `radclient -S <(...)` (lab/radtest)

Defaults: -i inventories/lab, --vault-id from ANSIBLE_VAULT_IDENTITY_LIST, else the lab's
lab@inventories/lab/vault-password-lab-only.txt. ROUTER is the roster's router name (the
inventory host name of the router, e.g. lab-gw1).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
LAB_VAULT_ID = f"lab@{PROJECT_DIR}/inventories/lab/vault-password-lab-only.txt"
MARKER = "captiva"
SECRET_FIELDS = ("secret", "password")  # /radius, /ip/hotspot/user: never printed


def roster_router(inventories: list[str], vault_ids: list[str], name: str) -> dict:
    """The router NAME of the roster's captiva_sites, with its values decrypted."""
    from ansible.cli import CLI
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import init_plugin_loader
    from ansible.vars.manager import VariableManager

    # What ansible's CLI does first: the collection finder over ansible.cfg's
    # collections_path, so the vars plugin captiva.campus.captiva_defaults (the site
    # defaults in group_vars/captiva_defaults.yml) loads as it does for a playbook.
    init_plugin_loader()
    loader = DataLoader()
    loader.set_vault_secrets(CLI.setup_vault_secrets(loader, vault_ids=vault_ids))
    inventory = InventoryManager(loader=loader, sources=inventories)
    host = inventory.get_host(name) or inventory.get_host("localhost")
    host_vars = VariableManager(loader=loader, inventory=inventory).get_vars(host=host)
    for site in host_vars.get("captiva_sites") or []:
        for router in site.get("routers") or []:
            if router.get("name") == name:
                return router
    sys.exit(f"lab-router: no router named {name!r} in captiva_sites of {', '.join(inventories)}")


def api_settings(router: dict) -> dict:
    api = router.get("api") or {}
    if api.get("tls"):
        sys.exit(f"lab-router: {router['name']}: the lab simulates the plain API; "
                 "set api.tls: false for lab routers")
    return {"host": str(api.get("host") or router["address"]), "port": int(api.get("port") or 8728),
            "username": str(api["username"]), "password": str(api["password"])}


def serve(router: dict, args: argparse.Namespace) -> int:
    sys.path.insert(0, str(PROJECT_DIR / "tools"))
    from routeros_sim import server

    api = api_settings(router)
    signal.signal(signal.SIGTERM, server._terminate)
    argv = ["--listen", f"{api['host']}:{api['port']}", "--user", api["username"],
            "--password", api["password"], "--state", str(args.state),
            "--identity", router["name"],
            "--hotspot-listen", f"{api['host']}:80",
            "--hotspot-tls-listen", f"{api['host']}:443"]
    if args.ready_file:
        argv += ["--ready-file", str(args.ready_file)]
    return server.main(argv)


def hotspot_server(router: dict) -> int:
    """Add the hotspot server an admin creates by hand (docs/deploy.md), once."""
    import librouteros

    api = api_settings(router)
    connection = librouteros.connect(host=api["host"], port=api["port"],
                                     username=api["username"], password=api["password"],
                                     timeout=10)
    try:
        servers = list(connection.path("ip", "hotspot"))
        if servers:
            print(f"{router['name']}: hotspot server {servers[0].get('name')} "
                  f"(profile {servers[0].get('profile')}) already there")
            return 0
        # The roster's hotspot profile (hotspot.profile, default captiva: captiva_roster.py).
        profile = (router.get("hotspot") or {}).get("profile") or "captiva"
        if not any(row.get("name") == profile
                   for row in connection.path("ip", "hotspot", "profile")):
            print(f"{router['name']}: no hotspot profile {profile} yet: converge first",
                  file=sys.stderr)
            return 1
        connection.path("ip", "hotspot").add(name="hotspot1", interface="ether2",
                                            profile=profile)
        print(f"{router['name']}: hotspot server hotspot1 added (profile {profile})")
        return 0
    finally:
        connection.close()


def print_menu(router: dict, args: argparse.Namespace) -> int:
    import librouteros

    api = api_settings(router)
    connection = librouteros.connect(host=api["host"], port=api["port"],
                                     username=api["username"], password=api["password"],
                                     timeout=10)
    try:
        owned = set()
        for script in connection.path("/system/script"):
            if script.get("comment") == MARKER and script.get("name", "").startswith(
                    f"{MARKER}-ledger-"):
                for line in script.get("source", "").splitlines():
                    menu, _, entry = line.removeprefix("# ").partition(" ")
                    if line.startswith("# /") and menu == args.menu:
                        owned.add(entry)
        rows = list(connection.path(*args.menu.strip("/").split("/")))
    finally:
        connection.close()
    shown = 0
    for row in rows:
        if not (args.all or row.get("name") in owned or row.get("comment") == MARKER):
            continue
        shown += 1
        fields = {"name": row.get("name"), **row}  # the name first, as RouterOS prints it
        fields.update({key: "********" for key in SECRET_FIELDS if key in fields})
        print(" ".join(f"{key}={value}" for key, value in fields.items()
                       if key != ".id" and value is not None))
    print(f"# {shown} of {len(rows)} entries of {args.menu} on {router['name']} "
          f"({api['host']}:{api['port']}){'' if args.all else ' are Captiva' + chr(39) + 's'}",
          file=sys.stderr)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="lab-router.py", description=__doc__.split("\n")[0])
    parser.add_argument("-i", "--inventory", action="append", dest="inventories",
                        help="inventory source (repeatable); default inventories/lab")
    parser.add_argument("--vault-id", action="append", dest="vault_ids",
                        help="vault id (repeatable); default: ANSIBLE_VAULT_IDENTITY_LIST, "
                        "else the lab's")
    parser.add_argument("router", help="the roster's router name, e.g. lab-gw1")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the RouterOS API simulator")
    serve_parser.add_argument("--state", type=Path, required=True)
    serve_parser.add_argument("--ready-file", type=Path)
    print_parser = commands.add_parser("print", help="read a menu back over the API")
    print_parser.add_argument("--all", action="store_true", help="not only Captiva's entries")
    print_parser.add_argument("menu", nargs="?", default="/ip/hotspot/user/profile")
    commands.add_parser("radius-secret", help="the router's RADIUS secret")
    commands.add_parser("hotspot-server", help="add the hotspot server an admin adds by hand")
    args = parser.parse_args()

    sources = args.inventories or [PROJECT_DIR / "inventories" / "lab"]
    inventories = [str(Path(source).resolve()) for source in sources]
    if args.command == "serve":
        args.state = args.state.resolve()
        args.ready_file = args.ready_file and args.ready_file.resolve()
    os.chdir(PROJECT_DIR)  # the project's ansible.cfg: its vars plugins
    environment_ids = [v for v in os.environ.get("ANSIBLE_VAULT_IDENTITY_LIST", "").split(",") if v]
    vault_ids = args.vault_ids or environment_ids or [LAB_VAULT_ID]
    router = roster_router(inventories, vault_ids, args.router)
    if args.command == "serve":
        return serve(router, args)
    if args.command == "print":
        return print_menu(router, args)
    if args.command == "hotspot-server":
        return hotspot_server(router)
    print(router["radius_secret"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
