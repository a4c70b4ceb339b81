"""Which pipeline a change needs: the roster only (``make apply-roster``), or the hosts too
(``make apply``). docs/gitops.md, "The daily path".

    python -m captiva.gitops scope inventories/campus --base origin/main

prints ``roster`` when every change between ``--base`` and ``HEAD`` is to a roster list of
the inventory's ``group_vars/all`` (users, profiles, promotions, staff, vouchers,
workstations), else ``hosts``; the reasons go to stderr. Anything it cannot tell (a file
outside ``group_vars/all``, a vault-encrypted file, a base it cannot read) means ``hosts``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from captiva.runtime import cli

# The top-level variables only the RADIUS reconcile and the routers' Captiva menus read
# (playbooks/roster.yml): a change to any other variable (settings, sites, database,
# portal, ...) may change a host. tests/unit/test_gitops_scope.py checks that no role and no
# host play reads one of these.
ROSTER_KEYS = frozenset({
    "captiva_users", "captiva_profiles", "captiva_promotions", "captiva_staff",
    "captiva_voucher_batches", "captiva_voucher_secret", "captiva_workstations",
    "captiva_workstation_rules",
})
ROSTER, HOSTS = "roster", "hosts"


class _Loader(yaml.SafeLoader):
    """Vaulted values compare by their ciphertext; ``!unsafe`` as the text it is."""


_Loader.add_constructor("!vault", lambda loader, node: ("!vault", loader.construct_scalar(node)))
_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def _variables(text: str | None, name: str) -> Mapping[str, Any]:
    """A group_vars file's top-level variables ({} when absent); ValueError when unreadable."""
    if text is None:
        return {}
    if text.lstrip().startswith("$ANSIBLE_VAULT"):
        raise ValueError(f"{name}: vault-encrypted as a whole, its variables cannot be compared")
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506  (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        raise ValueError(f"{name}: not readable YAML ({exc.__class__.__name__})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{name}: not a mapping of variables")
    return data


def changed_variables(before: str | None, after: str | None, name: str) -> set[str]:
    """The top-level variables whose value differs between two versions of a file."""
    old, new = _variables(before, name), _variables(after, name)
    return {str(key) for key in old.keys() | new.keys() if old.get(key) != new.get(key)}


def scope(inventory: PurePosixPath, changes: Mapping[str, tuple[str | None, str | None]]
          ) -> tuple[str, list[str]]:
    """``(ROSTER or HOSTS, reasons)`` for ``changes``: repository path -> (text before, text
    after), None where the file does not exist."""
    roster_dirs = (inventory / "group_vars" / "all",)
    roster_files = (inventory / "group_vars" / "all.yml", inventory / "group_vars" / "all.yaml")
    reasons = []
    for name, (before, after) in sorted(changes.items()):
        path = PurePosixPath(name)
        if path.parent not in roster_dirs and path not in roster_files \
                or path.suffix not in (".yml", ".yaml"):
            reasons.append(f"{name}: not a variables file of {inventory}/group_vars/all")
            continue
        try:
            keys = changed_variables(before, after, name)
        except ValueError as exc:
            reasons.append(str(exc))
            continue
        reasons += [f"{name}: {key} changed (not a roster list)"
                    for key in sorted(keys - ROSTER_KEYS)]
    return (HOSTS if reasons else ROSTER), reasons


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True,  # noqa: S603, S607
                          capture_output=True, text=True).stdout


def _show(repo: Path, revision: str, path: str) -> str | None:
    run = subprocess.run(["git", "-C", str(repo), "show", f"{revision}:{path}"],  # noqa: S603, S607
                         capture_output=True, text=True, check=False)
    return run.stdout if run.returncode == 0 else None


def changes_since(inventory: Path, base: str, head: str = "HEAD"
                  ) -> tuple[PurePosixPath, dict[str, tuple[str | None, str | None]]]:
    """The inventory's path in its repository, and every file changed from ``base`` to
    ``head`` (committed changes: what the pipeline runs)."""
    repo = Path(_git(inventory, "rev-parse", "--show-toplevel").strip())
    relative = PurePosixPath(inventory.resolve().relative_to(repo.resolve()).as_posix())
    names = _git(repo, "diff", "--name-only", "--no-renames", "-z", base, head).split("\0")
    return relative, {name: (_show(repo, base, name), _show(repo, head, name))
                      for name in names if name}


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser("python -m captiva.gitops", __doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("scope", help="print roster or hosts: what the changes since BASE need")
    p.add_argument("inventory", type=Path)
    p.add_argument("--base", required=True, help="the commit last applied (e.g. origin/main)")
    p.add_argument("--head", default="HEAD")
    args = parser.parse_args(argv)
    try:
        inventory, changes = changes_since(args.inventory, args.base, args.head)
    except subprocess.CalledProcessError as exc:
        why = ((exc.stderr or "").strip().splitlines() or ["git failed"])[-1]
        print(f"captiva.gitops: cannot compare {args.base}..{args.head} ({why}): the hosts "
              "too", file=sys.stderr)
        print(HOSTS)
        return 0
    result, reasons = scope(inventory, changes)
    for reason in reasons:
        print(f"captiva.gitops: {reason}", file=sys.stderr)
    if result == ROSTER:
        print(f"captiva.gitops: {len(changes)} file(s) changed, roster lists only",
              file=sys.stderr)
    print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
