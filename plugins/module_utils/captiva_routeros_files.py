"""Put files on a MikroTik router over its API (the hotspot's login page): read, plan, apply.

RouterOS 7.9 and later create and edit a file over the API, ``/file/add name=... contents=...``
and ``/file/set <name> contents=...``, and print a file's ``contents`` and ``size``, for files
up to 60 KB (help.mikrotik.com, "Files"). That is enough for a hotspot page and needs nothing
reachable from the router: no ``/tool/fetch`` from a web server, no FTP.

The API carries ASCII (librouteros's default, and RouterOS's own text is 8-bit): an HTML
page is sent with character references (``&#233;``) for anything else, which browsers read
back as the same text; any other file must be ASCII. A page's scripts must therefore be
ASCII themselves (``\u00e9`` in JavaScript strings).

The plan compares the SHA-256 of what the router prints with the desired contents, so an
unchanged file is never rewritten; check mode reads and plans, and writes nothing.
Pure Python, no Ansible imports; ``client`` is a ``captiva_routeros.RouterOSClient`` (or any
object with its ``print``/``add``/``set``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ansible_collections.captiva.campus.plugins.module_utils.captiva_routeros import RouterOSError

FILE_MENU = "/file"
CONTENTS_LIMIT = 60_000  # bytes RouterOS reads and writes as a file's contents over the API


@dataclass(frozen=True)
class FileAction:
    name: str
    op: str  # create | update | none
    contents: str
    before: str | None  # the contents on the router; None when the file is not there
    entry_id: str | None = None

    @property
    def sha256(self) -> str:
        return digest(self.contents)

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "action": self.op, "size": len(self.contents.encode()),
                "sha256": self.sha256,
                "before_sha256": None if self.before is None else digest(self.before)}


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def wire_contents(name: str, contents: str) -> str:
    """The contents as they travel and as the router keeps them (see the module's docstring)."""
    if name.lower().endswith((".html", ".htm")):
        return contents.encode("ascii", "xmlcharrefreplace").decode("ascii")
    return contents


def validate_files(files: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every problem at once: names unique and relative, contents text within the limit."""
    errors, seen = [], set()
    for number, item in enumerate(files):
        where = f"files[{number}]"
        name, contents = item.get("name"), item.get("contents")
        if not isinstance(name, str) or not name or name.startswith("/") or ".." in name.split(
                "/"):
            errors.append(f"{where}.name: a relative path such as flash/hotspot/login.html, "
                          f"got {name!r}")
        elif name in seen:
            errors.append(f"{where}.name: {name} is given twice")
        seen.add(name)
        if not isinstance(contents, str):
            errors.append(f"{where}.contents: text expected")
            continue
        wire = wire_contents(str(name), contents)
        if not wire.isascii():
            errors.append(f"{where}.contents: only an HTML page may hold non-ASCII text (sent "
                          "as character references); the RouterOS API carries ASCII")
        elif len(wire) > CONTENTS_LIMIT:
            errors.append(f"{where}.contents: {len(wire)} bytes; RouterOS takes at most "
                          f"{CONTENTS_LIMIT} bytes of contents over the API")
    return errors


def plan(files: Iterable[Mapping[str, str]],
         current: Iterable[Mapping[str, Any]]) -> list[FileAction]:
    """One action per desired file, from the rows ``/file/print`` returned."""
    on_router = {row.get("name"): row for row in current}
    actions = []
    for item in files:
        row = on_router.get(item["name"])
        if row is None:
            actions.append(FileAction(item["name"], "create", item["contents"], None))
            continue
        if row.get("type") == "directory":
            raise RouterOSError(f"{FILE_MENU} {item['name']}: a directory is in the way")
        before = str(row.get("contents", ""))
        op = "none" if digest(before) == digest(item["contents"]) else "update"
        actions.append(FileAction(item["name"], op, item["contents"], before, row.get(".id")))
    return actions


def read(client, files: Iterable[Mapping[str, str]]) -> list[dict[str, Any]]:
    """The desired files' rows on the router, one print for all of them."""
    names = [item["name"] for item in files]
    if not names:
        return []
    queries = [f"?name={name}" for name in names]
    if len(names) > 1:
        queries.append("?#" + "|" * (len(names) - 1))
    return client.print(FILE_MENU, "=.proplist=.id,name,type,size,contents", *queries)


def apply(client, actions: Iterable[FileAction]) -> None:
    for action in actions:
        try:
            if action.op == "create":
                client.add(FILE_MENU, {"name": action.name, "contents": action.contents})
            elif action.op == "update":
                client.set(FILE_MENU, action.entry_id or action.name,
                           {"contents": action.contents})
        except RouterOSError as exc:
            raise RouterOSError(f"{FILE_MENU} {action.op} {action.name}: {exc}") from exc


def reconcile(client, files: list[Mapping[str, str]], *,
              check_mode: bool = False) -> dict[str, Any]:
    """Read, plan, apply (unless check mode). Returns the module's result fields."""
    errors = validate_files(files)
    if errors:
        raise RouterOSError("invalid files: " + "; ".join(errors))
    files = [{"name": f["name"], "contents": wire_contents(f["name"], f["contents"])}
             for f in files]
    actions = plan(files, read(client, files))
    changes = [a for a in actions if a.op != "none"]
    if not check_mode:
        apply(client, changes)
    return {
        "changed": bool(changes),
        "files": [a.summary() for a in actions],
        # The pages hold no secret: the diff shows their text.
        "diff": [{"before_header": a.name, "after_header": a.name,
                  "before": a.before or "", "after": a.contents} for a in changes],
    }
