"""Registrar CSV files into an inventory's users file (pure logic; the CLI is ``cli.py``).

What registrars export is not clean CSV: a UTF-8 byte order mark, ``;`` separators (French
spreadsheets), Windows line endings, Latin-1 or Windows-1252 accents, quoted fields. This
module reads all of them, maps columns to roster fields, and merges the rows into the users
list of a round-trip YAML document, so comments and ordering survive.

The rules a user must satisfy are the roster's own (``captiva_roster.validate``); this module
only reports them against the CSV line and column they came from.
"""

from __future__ import annotations

import codecs
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
ENABLED_YES = ("1", "true", "yes", "oui", "y", "o", "vrai")
ENABLED_NO = ("0", "false", "no", "non", "n", "faux")
# No 0/O/o, 1/I/l/L, 5/S, 2/Z, 8/B: letters read aloud or copied from paper stay unambiguous.
PASSWORD_ALPHABET = "34679ACDEFGHJKMNPQRTUVWXYabcdefghijkmnpqrstuvwxyz"  # noqa: S105
PASSWORD_LENGTH = 12  # 12 x log2(49) = 67 bits


class CsvImportError(Exception):
    """Rows or columns that cannot be imported; nothing is merged."""

    def __init__(self, problems: Sequence[str]):
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclasses.dataclass(frozen=True)
class Problem:
    """One bad row: where it is in the CSV (line, column) and why it cannot be imported."""

    line: int
    column: str | None
    reason: str

    def render(self, source: str) -> str:
        column = f" column {self.column}:" if self.column else ""
        return f"{source}:{self.line}:{column} {self.reason}"


@dataclasses.dataclass(frozen=True)
class CsvRow:
    line: int                   # the physical line in the file where the row starts
    values: dict[str, str]      # header -> value, stripped


@dataclasses.dataclass
class CsvFile:
    headers: list[str]
    rows: list[CsvRow]           # the rows that could be read
    problems: list[Problem]      # the rows that could not (reported with the others)
    warnings: list[str]


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


def _undecodable(data: bytes, exc: UnicodeDecodeError, source: str, tried: str) -> str:
    """Where a decode error is: the file, the line, the byte; and what to try instead."""
    line = data.count(b"\n", 0, exc.start) + 1
    column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
    byte = data[exc.start:exc.start + 1].hex()
    hint = ("give the right one with --encoding (utf-8, cp1252, latin-1, ...)"
            if tried.startswith("--encoding") else
            "give the file's encoding with --encoding")
    return f"{source}:{line}: byte 0x{byte} (byte {column} of the line) is not {tried}: {hint}"


def decode(data: bytes, encoding: str | None = None, *, source: str = "the file",
           warnings: list[str] | None = None) -> str:
    """The text of a CSV file: UTF-8 (with or without BOM), else Windows-1252 (a superset of
    Latin-1's printable characters, what French spreadsheets write); or ``encoding``.

    An undecodable byte is reported with its file and line. A file that is valid UTF-8 read
    as a single-byte encoding decodes without error but garbles every accent (``Ã©``): that
    is a warning (appended to ``warnings``)."""
    if encoding:
        try:
            text = data.decode(encoding)
        except LookupError:
            raise CsvImportError([f"--encoding {encoding}: unknown encoding (e.g. utf-8, "
                                  "cp1252, latin-1)"]) from None
        except UnicodeDecodeError as exc:
            raise CsvImportError([_undecodable(data, exc, source,
                                               f"--encoding {encoding}")]) from None
        name = codecs.lookup(encoding).name
        if warnings is not None and not name.startswith("utf") and not data.isascii():
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                warnings.append(f"{source}: the file is valid UTF-8 but read as {encoding}: "
                                "its accents will be garbled ('é' read as 'Ã©'); drop "
                                f"--encoding {encoding}")
        return text.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("cp1252", errors="strict")
        except UnicodeDecodeError as exc:
            raise CsvImportError([_undecodable(data, exc, source,
                                               "UTF-8 nor Windows-1252")]) from None


def read_csv(data: bytes, *, encoding: str | None = None, delimiter: str | None = None,
             source: str = "the file") -> CsvFile:
    """Headers and rows; the delimiter (``;``, ``,`` or tab) is detected from the header line.
    Rows that cannot be read are in ``problems``, to be reported with every other bad row."""
    warnings: list[str] = []
    text = decode(data, encoding, source=source, warnings=warnings)
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
            problems.append(Problem(start, None, f"{len(record)} fields, the header has "
                                                 f"{len(headers)} (a separator inside an "
                                                 "unquoted value?)"))
            continue
        record = record + [""] * (len(headers) - len(record))
        rows.append(CsvRow(start, {h: v.strip() for h, v in zip(headers, record, strict=True)}))
    if headers is None:
        raise CsvImportError([f"{source}: the file is empty: expected a header line"])
    return CsvFile(headers, rows, problems, warnings)


def _fold(text: str) -> str:
    import unicodedata

    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return text.strip().lower().replace(" ", "_")


# Language names registrars write, folded (see _fold); codes (fr, en-GB, fr_FR) are cut to
# their language. Anything else is kept, for the roster's validation to refuse where it is.
LANGUAGE_NAMES = {"francais": "fr", "french": "fr", "anglais": "en", "english": "en"}


def _language(value: str) -> str:
    folded = _fold(value)
    return LANGUAGE_NAMES.get(folded, folded.replace("_", "-").split("-")[0])


def column_mapping(headers: Sequence[str], explicit: Mapping[str, str], *,
                   source: str = "the file") -> dict[str, str]:
    """Roster field -> CSV header. ``explicit`` (from --map or a mapping file) wins; other
    fields are found by their common header names."""
    problems = []
    mapping: dict[str, str] = {}
    for field, header in explicit.items():
        if field not in FIELDS:
            problems.append(f"mapping: unknown roster field {field!r} (one of: "
                            f"{', '.join(FIELDS)})")
        elif header not in headers:
            problems.append(f"mapping: {field} = {header!r}: no such column in {source} "
                            f"(its columns: {', '.join(headers)})")
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
        if field not in mapping and field not in explicit:
            problems.append(f"{source}: no column for {field} (columns: {', '.join(headers)}): "
                            f"name one with --map {field}=<column>")
    if problems:
        raise CsvImportError(problems)
    return mapping


def unmapped_columns(headers: Sequence[str], mapping: Mapping[str, str]) -> list[str]:
    """The CSV's columns no roster field reads (their values are not imported)."""
    used = set(mapping.values())
    return [h for h in headers if h and h not in used]


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
            # Anything else stays as written, for the roster's validation to refuse with its
            # line and column: a guess would disable (or enable) the account silently.
            answer = user["enabled"].lower()
            user["enabled"] = (True if answer in ENABLED_YES else False if answer in ENABLED_NO
                               else user["enabled"])
        if "language" in user:
            user["language"] = _language(user["language"])
        users.append(ImportedUser(row.line, user, columns))
    return users


def duplicate_rows(imported: Sequence[ImportedUser],
                   username_column: str = "username") -> list[Problem]:
    """A problem for each row without a username or whose username an earlier row already
    has (case-insensitive); those rows are left out of the merge."""
    first: dict[str, int] = {}
    problems = []
    for item in imported:
        key = item.user.get("username", "").lower()
        if not key:
            problems.append(Problem(item.line, username_column, "empty username"))
        elif key in first:
            problems.append(Problem(item.line, username_column,
                                    f"username {item.user['username']!r} is already on line "
                                    f"{first[key]} (usernames are case-insensitive)"))
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
