"""An inventory's roster files, read and written as round-trip YAML (comments, order and
``!vault`` values survive), and the roster's own validation run over them.

The controller tools (CSV import) use this; Ansible itself reads the same files as group_vars.
"""

from __future__ import annotations

import dataclasses
import difflib
import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml as pyyaml
from ansible_collections.captiva.campus.plugins.module_utils import captiva_roster
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.scalarstring import LiteralScalarString

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = ROOT / "group_vars" / "captiva_defaults.yml"
USERS_KEY = "captiva_users"
# A stand-in for a vaulted value during validation: the tools never need the cleartext, and
# it satisfies the length rule without matching any username.
VAULTED = "vaulted-value-not-decrypted-here"
# A password_hash as the roster accepts it (captiva_roster._SHA512_CRYPT), and what a diff
# shows instead.
CRYPT_HASH = re.compile(r"\$6\$(rounds=\d+\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{86}")
MASK = "********"


def yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def load(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return yaml().load(f)


def dump(document: Any, explicit_start: bool = False) -> str:
    out = io.StringIO()
    y = yaml()
    y.explicit_start = explicit_start
    y.dump(document, out)
    return out.getvalue()


class _PlainLoader(getattr(pyyaml, "CSafeLoader", pyyaml.SafeLoader)):
    """PyYAML's fast loader, with ``!vault`` values read as :data:`VAULTED`."""


_PlainLoader.add_constructor("!vault", lambda loader, node: VAULTED)


def load_plain(path: Path) -> Any:
    """A file as plain Python, fast (the files the tools only read)."""
    with path.open(encoding="utf-8") as f:
        return pyyaml.load(f, Loader=_PlainLoader)  # noqa: S506  (a SafeLoader subclass)


def plain(value: Any) -> Any:
    """Round-trip YAML to plain Python, vaulted values replaced by :data:`VAULTED`."""
    if isinstance(value, TaggedScalar):
        return VAULTED if value.tag.value == "!vault" else str(value.value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@dataclasses.dataclass
class UsersFile:
    """The file that holds ``captiva_users``: its round-trip document (merged into in place)
    and its text as read ("" when it does not exist yet)."""

    path: Path
    document: Any
    before: str

    @property
    def users(self) -> list:
        return self.document[USERS_KEY]

    def dump(self) -> str:
        # The file's "---" survives (yamllint's document-start rule).
        return dump(self.document, explicit_start=self.before.startswith("---"))

    def diff(self, after: str) -> Iterator[str]:
        """The change from the file as read to ``after``, password hashes masked: a dry run's
        output ends up in terminals and merge-request CI logs, like the reconcile's diff."""
        name = str(self.path)
        return difflib.unified_diff(*(CRYPT_HASH.sub(MASK, text).splitlines(True)
                                      for text in (self.before, after)), name, name)

    def show(self, after: str, dry_run: bool, diff: bool) -> bool:
        """Print the change to ``after`` when asked (``--diff``, ``--dry-run``); whether this is
        a dry run (then nothing is to be written)."""
        if dry_run or diff:
            sys.stdout.writelines(self.diff(after))
        if dry_run:
            print("dry run: nothing written")
        return dry_run

    def write(self, after: str) -> bool:
        """Write ``after`` when it differs from the file as read; whether it did."""
        if after == self.before:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(after, encoding="utf-8")
        return True


class Inventory:
    """``inventories/<name>``: its group_vars/all/*.yml and which file holds the users."""

    def __init__(self, path: Path):
        self.path = path
        self.vars_dir = path / "group_vars" / "all"
        if not self.vars_dir.is_dir():
            raise FileNotFoundError(f"{self.vars_dir}: not an inventory (no group_vars/all/)")
        self.files = sorted(p for p in self.vars_dir.iterdir() if p.suffix in (".yml", ".yaml"))

    def users_file(self) -> Path:
        key = re.compile(rf"^{USERS_KEY}:", re.MULTILINE)
        for file in self.files:
            if key.search(file.read_text(encoding="utf-8")):
                return file
        return self.vars_dir / "users.yml"

    def open_users(self, given: str | Path | None = None) -> UsersFile:
        """The users file (``given``, else :meth:`users_file`) read once, for the import
        commands to merge into and write back."""
        path = Path(given) if given else self.users_file()
        before = path.read_text(encoding="utf-8") if path.exists() else ""
        document = (yaml().load(before) if before else None) or new_users_document()
        document.setdefault(USERS_KEY, CommentedSeq())
        return UsersFile(path, document, before)

    def variables(self, users_document: Any = None, users_file: Path | None = None) -> dict:
        """Every roster variable: the site-wide defaults, then the inventory's files (the
        users file's document replaced by ``users_document`` when given)."""
        variables = load_plain(DEFAULTS) or {}
        for file in self.files:
            document = users_document if file == users_file and users_document is not None \
                else load_plain(file)
            if isinstance(document, dict):
                variables.update(document)
        return variables


def validate(variables: dict):
    return captiva_roster.validate(variables, decrypted=False)


def new_users_document() -> CommentedMap:
    document = CommentedMap()
    document[USERS_KEY] = CommentedSeq()
    return document


def own_line(value: str) -> LiteralScalarString:
    """A long value without spaces (a sha512-crypt hash: 106 characters) written as a literal
    block, on the line below its key: ``password_hash: $6$...`` in a user's entry is 125
    characters, over yamllint's 120; as a block it is 112, and YAML reads the same string
    (``|-``: no trailing newline)."""
    return LiteralScalarString(value)


def vault_scalar(ciphertext: str) -> TaggedScalar:
    return TaggedScalar(value=ciphertext, style="|", tag="!vault")


def eprint(*args: Any) -> None:
    print(*args, file=sys.stderr)
