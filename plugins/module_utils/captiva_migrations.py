"""Ordered, versioned SQL migrations and repeatable SQL functions for Captiva's database.

A migration is a file ``NNNN_<name>.sql`` (four digits, then a lowercase name). Applied
migrations are recorded in ``captiva_schema_migrations(version, name, checksum, applied_at)``.
Migrations hold tables, data and privileges: history, never edited once applied.

SQL functions are code: files ``NN_<name>.sql`` of ``CREATE OR REPLACE`` statements (a
function whose signature or result type changes is dropped first in its file), applied after
the migrations whenever one of them changed. Their checksums are recorded in
``captiva_schema_functions(filename, checksum, applied_at)``. When any file is new, changed or
gone, every file is applied again in name order, in one transaction with the new records, so
functions that call each other are never left half replaced.

Rules:

- Pending migrations are applied in version order, each in its own transaction together with
  its record, so a failing migration leaves neither half a schema nor a record behind.
- A session advisory lock serialises concurrent runners: the second one waits, then finds
  nothing left to do.
- An applied migration whose text changed (checksum), whose file disappeared or was renamed
  is refused before anything runs: applied migrations are immutable, fixes go in a new file.
- A pending migration numbered below the newest applied one is refused unless
  ``allow_out_of_order`` is set.
- :func:`plan` only reads: it never creates the record table (check mode).

Neither kind of file may contain ``BEGIN``/``COMMIT`` or statements that cannot run inside a
transaction block (``CREATE INDEX CONCURRENTLY``, ``VACUUM``).

Pure Python + psycopg 3; no Ansible import, so pytest and the module share this file.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path

from ansible_collections.captiva.campus.plugins.module_utils.captiva_db_errors import database_error

try:  # psycopg is imported lazily by callers that only load files (module argument checks).
    import psycopg
    from psycopg import sql
except ImportError:  # pragma: no cover - reported by the module with missing_required_lib
    psycopg = None
    sql = None

TABLE = "captiva_schema_migrations"
# pg_advisory_lock key: the first 8 bytes of sha256("captiva_schema_migrations"), signed.
LOCK_KEY = int.from_bytes(hashlib.sha256(TABLE.encode()).digest()[:8], "big", signed=True)
FILENAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9][a-z0-9_]*)\.sql$")
FUNCTIONS_TABLE = "captiva_schema_functions"
FUNCTION_FILENAME = re.compile(r"^\d{2}_[a-z0-9][a-z0-9_]*\.sql$")

_CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum char(64) NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


_CREATE_FUNCTIONS_TABLE = f"""
CREATE TABLE IF NOT EXISTS {FUNCTIONS_TABLE} (
    filename text PRIMARY KEY,
    checksum char(64) NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(Exception):
    """A migration set that must not be applied; the message says why and what to do."""


@dataclass(frozen=True)
class Migration:
    """One migration file: ``version`` and ``name`` come from the file name."""

    version: int
    name: str
    sql: str
    checksum: str

    @property
    def filename(self) -> str:
        return f"{self.version:04d}_{self.name}.sql"

    def as_dict(self) -> dict:
        return {"version": self.version, "name": self.name, "checksum": self.checksum}


@dataclass(frozen=True)
class AppliedMigration:
    """One row of ``captiva_schema_migrations``."""

    version: int
    name: str
    checksum: str


def checksum(text: str) -> str:
    """sha256 of the text, insensitive to CRLF line ends and trailing blank space at the end.

    Ansible's ``file`` lookup strips the final newline; the checksum must not depend on it.
    """
    normalised = text.replace("\r\n", "\n").rstrip() + "\n"
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def parse_migrations(files: dict[str, str]) -> list[Migration]:
    """Build the ordered migration list from ``{filename: text}``; refuse bad or duplicate names."""
    migrations: dict[int, Migration] = {}
    for filename, text in files.items():
        match = FILENAME.match(filename)
        if match is None:
            raise MigrationError(
                f"{filename}: a migration file must be named NNNN_<name>.sql "
                "(four digits, lowercase letters, digits and underscores)"
            )
        version = int(match["version"])
        if version in migrations:
            raise MigrationError(
                f"{filename}: version {version:04d} is also used by {migrations[version].filename}"
            )
        if not text.strip():
            raise MigrationError(f"{filename}: the migration is empty")
        migrations[version] = Migration(version, match["name"], text, checksum(text))
    return [migrations[version] for version in sorted(migrations)]


def load_migrations(directory: str | Path) -> list[Migration]:
    """Read every ``*.sql`` file of ``directory`` (other files are ignored)."""
    path = Path(directory)
    if not path.is_dir():
        raise MigrationError(f"{path}: migrations directory not found")
    files = {p.name: p.read_text(encoding="utf-8") for p in path.glob("*.sql") if p.is_file()}
    return parse_migrations(files)


def read_applied(conn) -> list[AppliedMigration]:
    """The recorded migrations, by version; empty if the record table does not exist yet."""
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,)).fetchone()[0]
    if not exists:
        return []
    rows = conn.execute(
        sql.SQL("SELECT version, name, checksum FROM {} ORDER BY version").format(
            sql.Identifier(TABLE)
        )
    ).fetchall()
    return [AppliedMigration(int(v), n, c.strip()) for v, n, c in rows]


def pending_migrations(
    migrations: list[Migration],
    applied: list[AppliedMigration],
    allow_out_of_order: bool = False,
) -> list[Migration]:
    """Pure check + plan: the migrations still to apply, or MigrationError listing every problem."""
    by_version = {m.version: m for m in migrations}
    problems = []
    for record in applied:
        migration = by_version.get(record.version)
        recorded = f"{record.version:04d}_{record.name}.sql"
        if migration is None:
            problems.append(f"{recorded} was applied but its file is missing")
        elif migration.name != record.name:
            problems.append(f"{recorded} was applied but the file is now {migration.filename}")
        elif migration.checksum != record.checksum:
            problems.append(
                f"{recorded} was applied but its file changed (checksum {record.checksum[:12]} "
                f"recorded, {migration.checksum[:12]} now); never edit an applied migration, "
                "add a new one"
            )
    done = {record.version for record in applied}
    pending = [m for m in migrations if m.version not in done]
    newest = max(done, default=0)
    if not allow_out_of_order:
        for migration in pending:
            if migration.version < newest:
                problems.append(
                    f"{migration.filename} is pending but {newest:04d} is already applied "
                    "(out of order; renumber it or allow out-of-order migrations)"
                )
    if problems:
        raise MigrationError("refusing to migrate: " + "; ".join(problems))
    return pending


def _require_autocommit(conn) -> None:
    if not conn.autocommit:
        raise MigrationError(
            "the connection must be in autocommit mode: each migration runs in its own transaction"
        )


def plan(conn, migrations: list[Migration], allow_out_of_order: bool = False) -> list[Migration]:
    """The pending migrations, after checking the applied ones. Reads only (check mode)."""
    return pending_migrations(migrations, read_applied(conn), allow_out_of_order)


def _lock(conn, lock_timeout: float) -> None:
    deadline = time.monotonic() + lock_timeout
    while not conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]:
        if time.monotonic() >= deadline:
            raise MigrationError(
                f"another migration runner holds the lock (waited {lock_timeout:g} s)"
            )
        time.sleep(0.1)


def migrate(
    conn,
    migrations: list[Migration],
    allow_out_of_order: bool = False,
    lock_timeout: float = 300.0,
) -> list[Migration]:
    """Apply the pending migrations in order and return those applied (empty: up to date).

    ``conn`` must be an autocommit psycopg connection as a role allowed to run the migrations
    (the database owner or a superuser).
    """
    _require_autocommit(conn)
    _lock(conn, lock_timeout)
    try:
        conn.execute(_CREATE_TABLE)
        # Read under the lock: a runner that waited sees what the first one applied.
        pending = plan(conn, migrations, allow_out_of_order)
        applied = []
        insert = sql.SQL("INSERT INTO {} (version, name, checksum) VALUES (%s, %s, %s)").format(
            sql.Identifier(TABLE)
        )
        for migration in pending:
            try:
                with conn.transaction():
                    conn.execute(migration.sql)
                    conn.execute(insert, (migration.version, migration.name, migration.checksum))
            except psycopg.Error as exc:
                raise MigrationError(
                    f"{migration.filename} failed and was rolled back: {database_error(exc)}"
                ) from exc
            applied.append(migration)
        return applied
    finally:
        if not conn.closed:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))


# ---------------------------------------------------------------------------------------------
# Repeatable SQL functions


@dataclass(frozen=True)
class FunctionFile:
    """One file of ``CREATE OR REPLACE`` statements, applied in file name order."""

    filename: str
    sql: str
    checksum: str

    def as_dict(self) -> dict:
        return {"filename": self.filename, "checksum": self.checksum}


def parse_functions(files: dict[str, str]) -> list[FunctionFile]:
    """The function files from ``{filename: text}``, in name order; refuse bad names."""
    result = []
    for filename in sorted(files):
        text = files[filename]
        if FUNCTION_FILENAME.match(filename) is None:
            raise MigrationError(
                f"{filename}: a function file must be named NN_<name>.sql "
                "(two digits, lowercase letters, digits and underscores)"
            )
        if not text.strip():
            raise MigrationError(f"{filename}: the function file is empty")
        result.append(FunctionFile(filename, text, checksum(text)))
    return result


def load_functions(directory: str | Path) -> list[FunctionFile]:
    """Read every ``*.sql`` file of ``directory`` (other files are ignored)."""
    path = Path(directory)
    if not path.is_dir():
        raise MigrationError(f"{path}: functions directory not found")
    return parse_functions(
        {p.name: p.read_text(encoding="utf-8") for p in path.glob("*.sql") if p.is_file()})


def read_function_records(conn) -> dict[str, str]:
    """``{filename: checksum}`` of the applied function files; empty before the first run."""
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (FUNCTIONS_TABLE,)).fetchone()[0]
    if not exists:
        return {}
    rows = conn.execute(sql.SQL("SELECT filename, checksum FROM {}").format(
        sql.Identifier(FUNCTIONS_TABLE))).fetchall()
    return {filename: recorded.strip() for filename, recorded in rows}


def changed_functions(files: list[FunctionFile], recorded: dict[str, str]) -> list[str]:
    """Pure: the file names that are new, changed or gone since the last run (sorted)."""
    current = {f.filename: f.checksum for f in files}
    return sorted(name for name in current.keys() | recorded.keys()
                  if current.get(name) != recorded.get(name))


def plan_functions(conn, files: list[FunctionFile]) -> list[str]:
    """The changed function files. Reads only (check mode)."""
    return changed_functions(files, read_function_records(conn))


def apply_functions(conn, files: list[FunctionFile], lock_timeout: float = 300.0) -> list[str]:
    """Apply every function file if any changed; return the changed names (empty: none ran).

    Run it after :func:`migrate`: the functions may use every table. All files and their
    records go in one transaction; a failing file rolls everything back, old functions stay.
    """
    _require_autocommit(conn)
    _lock(conn, lock_timeout)
    try:
        conn.execute(_CREATE_FUNCTIONS_TABLE)
        changed = plan_functions(conn, files)
        if not changed:
            return []
        table = sql.Identifier(FUNCTIONS_TABLE)
        current = None
        try:
            with conn.transaction():
                for current in files:
                    conn.execute(current.sql)
                current = None
                conn.execute(sql.SQL("DELETE FROM {}").format(table))
                with conn.cursor() as cur:
                    cur.executemany(
                        sql.SQL("INSERT INTO {} (filename, checksum) VALUES (%s, %s)").format(
                            table),
                        [(f.filename, f.checksum) for f in files])
        except psycopg.Error as exc:
            where = current.filename if current else FUNCTIONS_TABLE
            raise MigrationError(
                f"{where} failed; no function was changed: {database_error(exc)}"
            ) from exc
        return changed
    finally:
        if not conn.closed:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
