"""Registrar CSV files into an inventory's users file (pure logic; the CLI is ``cli.py``).

What registrars export is not clean CSV: a UTF-8 byte order mark, ``;`` separators (French
spreadsheets), Windows line endings, Latin-1 or Windows-1252 accents, quoted fields. This
module reads all of them, maps columns to roster fields, and merges the rows into the users
list of a round-trip YAML document, so comments and ordering survive.

The rules a user must satisfy are the roster's own (``captiva_roster.validate``); this module
only reports them against the CSV line and column they came from.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# The roster fields a CSV column can fill, and the header names registrars commonly use for
# them (compared case- and accent-insensitively); --map or a mapping file overrides them.
FIELDS = ("username", "first_name", "last_name", "email", "language", "promotion", "profile",
          "expires", "enabled")
COMMON_HEADERS = {
    "username": ("username", "matricule", "login", "student_id", "id"),
    "first_name": ("first_name", "firstname", "prenom", "prenoms", "given_name"),
    "last_name": ("last_name", "lastname", "nom", "surname", "family_name"),
    "email": ("email", "e-mail", "mail", "courriel", "adresse_email"),
    "language": ("language", "langue", "lang"),
    "promotion": ("promotion", "cohorte", "classe"),
    "profile": ("profile", "profil"),
    "expires": ("expires", "expiration", "date_fin"),
    "enabled": ("enabled", "actif"),
}
REQUIRED = ("username",)
# No 0/O/o, 1/I/l/L, 5/S, 2/Z, 8/B: letters read aloud or copied from paper stay unambiguous.
PASSWORD_ALPHABET = "34679ACDEFGHJKMNPQRTUVWXYabcdefghijkmnpqrstuvwxyz"  # noqa: S105
PASSWORD_LENGTH = 12  # 12 x log2(49) = 67 bits


class CsvImportError(Exception):
    """Rows or columns that cannot be imported; nothing is merged."""

    def __init__(self, problems: Sequence[str]):
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclasses.dataclass(frozen=True)
class CsvRow:
    line: int                   # the physical line in the file where the row starts
    values: dict[str, str]      # header -> value, stripped


@dataclasses.dataclass
class ImportedUser:
    line: int
    user: dict[str, Any]        # roster fields from the CSV (no password)
    columns: dict[str, str]     # roster field -> the CSV header it came from


@dataclasses.dataclass
class MergeResult:
    added: list[str]
    updated: list[str]
    unchanged: list[str]
    removed: list[str]
    changes: dict[str, dict[str, tuple[Any, Any]]]  # username -> field -> (before, after)

    def summary(self) -> str:
        return (f"users: +{len(self.added)} ~{len(self.updated)} -{len(self.removed)} "
                f"({len(self.unchanged)} unchanged)")


def decode(data: bytes, encoding: str | None = None) -> str:
    """The text of a CSV file: UTF-8 (with or without BOM), else Windows-1252 (a superset of
    Latin-1's printable characters, what French spreadsheets write); or ``encoding``."""
    if encoding:
        return data.decode(encoding)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="strict")


def read_csv(data: bytes, *, encoding: str | None = None,
             delimiter: str | None = None) -> tuple[list[str], list[CsvRow]]:
    """Headers and rows; the delimiter (``;``, ``,`` or tab) is detected from the header line."""
    text = decode(data, encoding)
    if delimiter is None:
        first = text.splitlines()[0] if text else ""
        counts = {d: first.count(d) for d in (";", ",", "\t")}
        delimiter = max(counts, key=counts.get) if any(counts.values()) else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[CsvRow] = []
    headers: list[str] | None = None
    problems = []
    line = 1
    for record in reader:
        start, line = line, reader.line_num + 1
        if headers is None:
            headers = [h.strip() for h in record]
            continue
        if not any(cell.strip() for cell in record):
            continue
        if len(record) > len(headers):
            problems.append(f"line {start}: {len(record)} fields, the header has {len(headers)}")
            continue
        record = record + [""] * (len(headers) - len(record))
        rows.append(CsvRow(start, {h: v.strip() for h, v in zip(headers, record, strict=True)}))
    if headers is None:
        raise CsvImportError(["the file is empty: expected a header line"])
    if problems:
        raise CsvImportError(problems)
    return headers, rows


def _fold(text: str) -> str:
    import unicodedata

    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return text.strip().lower().replace(" ", "_")


def column_mapping(headers: Sequence[str], explicit: Mapping[str, str]) -> dict[str, str]:
    """Roster field -> CSV header. ``explicit`` (from --map or a mapping file) wins; other
    fields are found by their common header names."""
    problems = []
    mapping: dict[str, str] = {}
    for field, header in explicit.items():
        if field not in FIELDS:
            problems.append(f"mapping: unknown roster field {field!r} (one of: "
                            f"{', '.join(FIELDS)})")
        elif header not in headers:
            problems.append(f"mapping: {field} = {header!r}: no such column (columns: "
                            f"{', '.join(headers)})")
        else:
            mapping[field] = header
    folded = {_fold(h): h for h in headers}
    for field, names in COMMON_HEADERS.items():
        if field in mapping:
            continue
        for name in names:
            if name in folded:
                mapping[field] = folded[name]
                break
    for field in REQUIRED:
        if field not in mapping:
            problems.append(f"no column for {field}: name one with --map {field}=<column>")
    if problems:
        raise CsvImportError(problems)
    return mapping


def to_users(rows: Iterable[CsvRow], mapping: Mapping[str, str], *,
             promotion: str | None = None) -> list[ImportedUser]:
    """One roster user per row: the mapped, non-empty fields (``promotion`` for every row
    unless the file has its own column); checks happen in the roster's validation."""
    users = []
    for row in rows:
        user: dict[str, Any] = {}
        columns = {}
        for field, header in mapping.items():
            value = row.values.get(header, "")
            if value != "":
                user[field] = value
                columns[field] = header
        if promotion is not None and "promotion" not in user:
            user["promotion"] = promotion
        if "enabled" in user:
            user["enabled"] = user["enabled"].lower() in ("1", "true", "yes", "oui", "y", "o")
        if "language" in user:
            user["language"] = user["language"].lower()[:2]
        users.append(ImportedUser(row.line, user, columns))
    return users


def duplicate_rows(imported: Sequence[ImportedUser]) -> list[str]:
    """``line: reason`` for each row whose username an earlier row already has."""
    first: dict[str, int] = {}
    problems = []
    for item in imported:
        key = item.user.get("username", "").lower()
        if not key:
            problems.append(f"{item.line}: column {item.columns.get('username', 'username')}: "
                            "empty username")
        elif key in first:
            problems.append(f"{item.line}: username {item.user['username']!r} is already on "
                            f"line {first[key]} (usernames are case-insensitive)")
        else:
            first[key] = item.line
    return problems


def generate_password(length: int = PASSWORD_LENGTH) -> str:
    """A strong initial password with no ambiguous characters (see PASSWORD_ALPHABET)."""
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))


def merge(existing: list, imported: Sequence[ImportedUser], *,
          prune: bool = False) -> MergeResult:
    """Merge into ``existing`` (the users list of a round-trip YAML document, edited in
    place): an existing username (case-insensitive) is updated field by field, never
    duplicated; new ones are appended; users absent from the file are removed only with
    ``prune`` (the reconcile's prune guard still applies at apply time)."""
    index = {str(u.get("username", "")).lower(): i for i, u in enumerate(existing)}
    result = MergeResult([], [], [], [], {})
    seen = set()
    for item in imported:
        name = item.user["username"]
        key = name.lower()
        seen.add(key)
        if key in index:
            current = existing[index[key]]
            diff = {f: (current.get(f), v) for f, v in item.user.items()
                    if f != "username" and current.get(f) != v}
            for field, (_, value) in diff.items():
                current[field] = value
            (result.updated if diff else result.unchanged).append(name)
            if diff:
                result.changes[name] = diff
        else:
            existing.append(dict(item.user))
            index[key] = len(existing) - 1
            result.added.append(name)
    if prune:
        for i in reversed(range(len(existing))):
            name = str(existing[i].get("username", ""))
            if name.lower() not in seen:
                del existing[i]
                result.removed.append(name)
        result.removed.reverse()
    return result
