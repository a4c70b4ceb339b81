"""``/file`` over the API, as RouterOS 7.9+ keeps it (help.mikrotik.com, "Files")."""

from __future__ import annotations

from .model import Field, Menu, Trap

# RouterOS 7.9+ creates and edits files over the API (/file/add name= contents=, /file/set
# contents=), up to 60 KB; print shows contents and size (help.mikrotik.com, "Files").
FILE_CONTENTS_LIMIT = 60_000


class FileMenu(Menu):
    """``/file``: name, type, size (computed) and contents; the hotspot's html-directory lives
    here. ``last-modified`` is a counter-like stamp so tests see whether a file was rewritten."""

    def __init__(self) -> None:
        fields = {name: Field(name) for name in ("name", "type", "contents")}
        fields["name"].required = True
        fields["type"].default = "file"
        for name in ("size", "last-modified"):
            fields[name] = Field(name, read_only=True)
        super().__init__("/file", fields, primary_keys=("name",))

    def _stamp(self, row: dict[str, str]) -> None:
        contents = row.get("contents", "")
        size = len(contents.encode("utf-8"))
        if size > FILE_CONTENTS_LIMIT:
            raise Trap("failure: file contents too large (60 KB at most over the API)")
        row["size"] = str(size)
        row["last-modified"] = str(1 + max(
            (int(r.get("last-modified", 0)) for r in self.rows), default=0))

    def add(self, args: dict[str, str], *, internal: bool = False) -> str:
        if args.get("type", "file") not in ("file", "directory"):
            raise Trap(f"value of type is invalid: {args['type']!r}")
        new_id = super().add(args, internal=internal)
        row = self.rows[-1]
        if row["type"] == "directory":
            row.pop("contents", None)
        else:
            row.setdefault("contents", "")
            try:
                self._stamp(row)
            except Trap:
                self.rows.pop()
                raise
        return new_id

    def set(self, args: dict[str, str]) -> None:
        if "name" in args or "type" in args:
            raise Trap("failure: only contents can be set")
        ids = args.get(".id") or args.get("numbers") or ""
        # RouterOS takes a file's name where an .id is expected.
        by_name = {r["name"]: r[".id"] for r in self.rows}
        args = {**args, ".id": ",".join(by_name.get(i, i) for i in ids.split(",") if i)}
        args.pop("numbers", None)
        targets = self._find(args[".id"])
        if any(row.get("type") == "directory" for row in targets):
            raise Trap("failure: a directory has no contents")
        before = [dict(row) for row in targets]
        super().set(args)
        try:
            for row in targets:
                self._stamp(row)
        except Trap:
            for row, saved in zip(targets, before, strict=True):
                row.clear()
                row.update(saved)
            raise
