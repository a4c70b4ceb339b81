"""Where the roster comes from and how it travels: inventory files, errors, transport.

Pure Python, no Ansible imports beyond the sibling module_utils; the ``captiva_roster``
module runs it on the controller.

- :func:`load_roster` validates the roster variables and cross-checks the routers against
  the inventory's ``routers`` group; it raises :class:`RosterInvalid` with **every** error
  rendered as ``<file>:<line>: <yaml path>: <reason>`` (a :class:`Locator` finds the line).
- :func:`roster_to_data` / :func:`roster_from_data`: a validated roster as JSON-able data
  with its secrets apart, the ``roster_file`` the reconcile module reads.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster import Roster, validate
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster_schema import (
    RosterError,
)

ROUTERS_GROUP = "routers"
# The inventory plugin that makes the group ROUTERS_GROUP from captiva_sites.
ROUTERS_PLUGIN = "captiva.campus.captiva_routers"


class RosterInvalid(Exception):
    """The roster has errors; ``lines`` holds every one, rendered."""

    def __init__(self, lines: list[str]):
        super().__init__(f"the roster has {len(lines)} error(s); nothing was changed")
        self.lines = lines



_PATH_PART = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


def split_path(path: str) -> list[str | int]:
    """``captiva_users[41].promotion`` -> ``['captiva_users', 41, 'promotion']``."""
    return [int(index) if index else key for key, index in _PATH_PART.findall(path)]


class Locator:
    """Maps YAML paths to ``file:line`` by composing the inventory's YAML files.

    ``files`` are given in Ansible's precedence order (later files override earlier ones),
    so a variable is located in the last file that defines it. Composing only builds the node
    tree (tags such as ``!vault`` stay opaque), and it is done lazily, only when an error
    must be shown.
    """

    def __init__(self, files: Iterable[str], display_root: str | None = None):
        self._files = list(files)
        self._root = display_root
        self._vars: dict[str, tuple[str, Any]] | None = None

    def _load(self) -> dict[str, tuple[str, Any]]:
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        found: dict[str, tuple[str, Any]] = {}
        for name in self._files:
            try:
                with open(name, encoding="utf-8") as handle:
                    node = yaml.compose(handle, Loader=loader)
            except (OSError, yaml.YAMLError, UnicodeDecodeError):
                continue  # a vault-encrypted or unreadable file: errors show no line
            if not isinstance(node, yaml.MappingNode):
                continue
            shown = _shown(name, self._root)
            for key, value in node.value:
                found[str(key.value)] = (shown, (key, value))
        return found

    def locate(self, path: str) -> str | None:
        import yaml

        if self._vars is None:
            self._vars = self._load()
        parts = split_path(path)
        if not parts or parts[0] not in self._vars:
            return None
        shown, (key_node, node) = self._vars[parts[0]]
        line = key_node.start_mark.line + 1
        for part in parts[1:]:
            if isinstance(part, int) and isinstance(node, yaml.SequenceNode):
                if part >= len(node.value):
                    break
                node = node.value[part]
                line = node.start_mark.line + 1
            elif isinstance(part, str) and isinstance(node, yaml.MappingNode):
                match = [(k, v) for k, v in node.value if str(k.value) == part]
                if not match:
                    break
                key_node, node = match[-1]
                line = key_node.start_mark.line + 1
            else:
                break
        return f"{shown}:{line}"



# --------------------------------------------------------------------------------------------
# Inventory files


def roster_files(defaults_file: str, inventory_sources: Iterable[str] | None) -> list[str]:
    """The files the roster may come from, in Ansible's precedence order (for Locator)."""
    files = [defaults_file]
    for source in inventory_sources or []:
        base = source if os.path.isdir(source) else os.path.dirname(source)
        group_vars = os.path.join(base, "group_vars")
        for name in ("all.yml", "all.yaml", "all.json"):
            if os.path.isfile(os.path.join(group_vars, name)):
                files.append(os.path.join(group_vars, name))
        folder = os.path.join(group_vars, "all")
        if os.path.isdir(folder):
            files += sorted(os.path.join(folder, n) for n in os.listdir(folder)
                            if n.endswith((".yml", ".yaml", ".json")))
    return files


def host_files(inventory_sources: Iterable[str] | None) -> list[str]:
    """The inventory's YAML host files (a source file, or the YAML files of a directory)."""
    files = []
    for source in inventory_sources or []:
        if os.path.isdir(source):
            files += sorted(os.path.join(source, n) for n in os.listdir(source)
                            if n.endswith((".yml", ".yaml")))
        elif os.path.isfile(source):
            files.append(source)
    return files


# What `make new-inventory` writes where a campus's own value goes (captiva.onboarding.skeleton).
PLACEHOLDER = re.compile(r"CHANGE-ME[A-Za-z0-9_-]*")


def placeholder_errors(files: Iterable[str], display_root: str | None = None) -> list[str]:
    """``<file>:<line>: <placeholder>: ...`` for each placeholder left in the inventory's files
    (comments aside): a skeleton inventory is invalid until every one is filled in."""
    lines = []
    for name in dict.fromkeys(files):
        try:
            with open(name, encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            for found in PLACEHOLDER.findall(line):
                lines.append(f"{_shown(name, display_root)}:{number}: {found}: a placeholder "
                             "of make new-inventory; replace it with the campus's value")
    return lines


def _shown(name: str, root: str | None) -> str:
    if root and os.path.abspath(name).startswith(root.rstrip("/") + "/"):
        return os.path.relpath(name, root)
    return name


def locate_group_host(files: Iterable[str], group: str, host: str,
                      display_root: str | None = None) -> str | None:
    """``file:line`` of ``host`` under the inventory group ``group`` in a YAML host file."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for name in files:
        try:
            with open(name, encoding="utf-8") as handle:
                root = yaml.compose(handle, Loader=loader)
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            continue
        stack = [root]
        while stack:
            node = stack.pop()
            if not isinstance(node, yaml.MappingNode):
                continue
            for key, value in node.value:
                if (key.value == group and isinstance(value, yaml.MappingNode)):
                    for sub_key, hosts in value.value:
                        if sub_key.value == "hosts" and isinstance(hosts, yaml.MappingNode):
                            for host_key, _ in hosts.value:
                                if str(host_key.value) == host:
                                    return f"{_shown(name, display_root)}:" \
                                           f"{host_key.start_mark.line + 1}"
                stack.append(value)
    return None


def inventory_router_errors(variables: Mapping[str, Any], inventory_routers: Iterable[str],
                            inventory_files: list[str], locator: Locator,
                            display_root: str | None = None) -> list[str]:
    """A router is declared once, in ``captiva_sites[].routers`` (what Captiva configures);
    the inventory plugin ``captiva.campus.captiva_routers`` (an inventory's ``routers.yml``)
    makes the inventory group ``routers`` (the hosts the router play runs for) from it. Both
    must name the same routers, or a router would be configured in RADIUS but never
    reconciled (an inventory without ``routers.yml``), or a host added to the group by hand
    reconciled without a desired state."""
    in_group = set(inventory_routers)
    sites = variables.get("captiva_sites")
    declared: dict[str, str] = {}
    for i, site in enumerate(sites if isinstance(sites, list) else []):
        routers = site.get("routers") if isinstance(site, dict) else None
        for j, router in enumerate(routers if isinstance(routers, list) else []):
            if isinstance(router, dict) and isinstance(router.get("name"), str):
                declared.setdefault(router["name"], f"captiva_sites[{i}].routers[{j}].name")
    hosts_where = ", ".join(_shown(f, display_root) for f in inventory_files) or "the inventory"
    lines = []
    for router, path in declared.items():
        if router not in in_group:
            lines.append(RosterError(path, (
                f"router {router!r} is not a host of the inventory group {ROUTERS_GROUP!r} "
                f"({hosts_where}): add the inventory source routers.yml, which makes that "
                f"group from captiva_sites ('plugin: {ROUTERS_PLUGIN}'), or remove the router "
                "from captiva_sites"
            )).render(locator))
    for host in sorted(in_group - set(declared)):
        # Located only when there is an error: composing the YAML files costs seconds at
        # 50,000 users.
        sites_where = locator.locate("captiva_sites") or "captiva_sites"
        where = locate_group_host(inventory_files, ROUTERS_GROUP, host, display_root)
        lines.append(f"{where or hosts_where}: {ROUTERS_GROUP}.hosts.{host}: host {host!r} of "
                     f"the inventory group {ROUTERS_GROUP!r} is not declared in "
                     f"captiva_sites[].routers ({sites_where.rsplit(':', 1)[0]}): declare it "
                     "under its site only (routers.yml makes the group from captiva_sites), "
                     "and remove it from the group")
    return lines


def load_roster(variables: Mapping[str, Any], *, files: Iterable[str] = (),
                display_root: str | None = None,
                inventory_routers: Iterable[str] | None = None,
                inventory_files: Iterable[str] = ()) -> Roster:
    """Validate the roster variables; raise :class:`RosterInvalid` with every error.

    ``files`` are the YAML files the variables come from (errors name file and line);
    ``inventory_routers``, when given, are the hosts of the inventory group ``routers``,
    which must be exactly the routers of ``captiva_sites``.
    """
    roster, errors = validate(variables)
    files = list(files)
    inventory_files = list(inventory_files)
    locator = Locator(files, display_root=display_root)
    lines = placeholder_errors(files[1:] + inventory_files, display_root)
    lines += [error.render(locator) for error in errors]
    if inventory_routers is not None:
        lines += inventory_router_errors(variables, inventory_routers, list(inventory_files),
                                         locator, display_root)
    if lines:
        raise RosterInvalid(lines)
    return roster


# --------------------------------------------------------------------------------------------
# Transport: a validated roster as JSON-able data (the roster_file) and back


def roster_to_data(roster: Roster) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(data, credentials)``: the roster as JSON-able data, with every secret moved out.

    Modules take the two apart so that only ``credentials`` is ``no_log``; a module that
    reads them from a file registers :func:`secret_values` in ``module.no_log_values``
    (Ansible then masks each of them wherever it appears in the output).
    """

    def plain(value):
        if isinstance(value, (dt.date, dt.datetime)):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    # Not dataclasses.asdict: it deep-copies every value, seconds at 50,000 users.
    data = plain({f.name: getattr(roster, f.name) for f in dataclasses.fields(roster)})
    credentials: dict[str, Any] = {"users": {}, "routers": {}, "sites": {}}
    for user in data["users"]:
        credentials["users"][user["username"]] = {
            "password": user.pop("password"), "password_hash": user.pop("password_hash")}
    for site in data["sites"].values():
        credentials["sites"][site["name"]] = {
            "hotspot_tls_key": (site.get("hotspot_tls") or {}).pop("key", None)}
        for router in site["routers"]:
            credentials["routers"][router["name"]] = {
                "radius_secret": router.pop("radius_secret"),
                "api_password": router["api"].pop("password"),
                "hotspot_tls_key": (router.get("hotspot_tls") or {}).pop("key", None)}
    # A voucher's code is its password.
    credentials["vouchers"] = {batch["name"]: {"codes": batch.pop("codes")}
                               for batch in data.get("vouchers", [])}
    return data, credentials


def roster_from_data(data: Mapping[str, Any], credentials: Mapping[str, Any]) -> Roster:
    """The inverse of :func:`roster_to_data`."""
    users = []
    for user in data["users"]:
        user = dict(user, **credentials["users"][user["username"]])
        for key in ("activated", "expires"):
            if isinstance(user.get(key), str):
                value = user[key]
                user[key] = (dt.datetime.fromisoformat(value) if "T" in value
                             else dt.date.fromisoformat(value))
        users.append(user)
    sites = {}
    for site_name, site in data["sites"].items():
        routers = []
        for router in site["routers"]:
            secrets = credentials["routers"][router["name"]]
            routers.append(dict(router, radius_secret=secrets["radius_secret"],
                                api=dict(router["api"], password=secrets["api_password"]),
                                hotspot_tls=_with_key(router.get("hotspot_tls"),
                                                      secrets.get("hotspot_tls_key"))))
        key = credentials.get("sites", {}).get(site_name, {}).get("hotspot_tls_key")
        sites[site_name] = dict(site, routers=routers,
                                hotspot_tls=_with_key(site.get("hotspot_tls"), key))
    return Roster(settings=dict(data["settings"]), profiles=dict(data["profiles"]),
                  promotions=dict(data["promotions"]), users=users, sites=sites,
                  staff=[dict(m) for m in data.get("staff", [])],
                  vouchers=[_voucher_batch(b, credentials["vouchers"][b["name"]]["codes"])
                            for b in data.get("vouchers", [])],
                  workstations=[dict(w) for w in data.get("workstations", [])],
                  workstation_rules=dict(data.get("workstation_rules", {})))


def _with_key(tls: Mapping[str, Any] | None, key: str | None) -> dict[str, Any] | None:
    return None if tls is None else dict(tls, key=key)


def _voucher_batch(batch: Mapping[str, Any], codes: list[str]) -> dict[str, Any]:
    batch = dict(batch, codes=list(codes))
    for key in ("starts_at", "ends_at"):
        batch[key] = dt.datetime.fromisoformat(batch[key])
    return batch


def raw_secret_values(variables: Mapping[str, Any]) -> set[str]:
    """The passwords and router secrets of roster variables not validated yet (so that a
    module can mask them even in an error). Values under 6 characters are left out: no valid
    one is that short, validation never prints them, and masking every "a" of a message
    would make it unreadable."""
    values = set()
    for user in variables.get("captiva_users") or []:
        if isinstance(user, dict):
            values.update(user.get(k) for k in ("password", "password_hash"))
    for site in variables.get("captiva_sites") or []:
        values.add(_tls_key(site))
        for router in (site.get("routers") if isinstance(site, dict) else None) or []:
            if isinstance(router, dict):
                api = router.get("api")
                values.update((router.get("radius_secret"), _tls_key(router),
                               api.get("password") if isinstance(api, dict) else None))
    return {v for v in values if isinstance(v, str) and len(v) >= 6}


def _tls_key(item: Any) -> Any:
    tls = item.get("hotspot_tls") if isinstance(item, dict) else None
    return tls.get("key") if isinstance(tls, dict) else None


def secret_values(credentials: Mapping[str, Any]) -> set[str]:
    """Every password, password hash and router secret of ``credentials``."""
    values = set()
    for group in credentials.values():
        for secrets in group.values():
            for value in secrets.values():
                if isinstance(value, str) and value:
                    values.add(value)
                elif isinstance(value, list):  # a batch's voucher codes
                    values.update(v for v in value if isinstance(v, str) and v)
    return values
