"""captiva_migrations without a database: file names, checksums, the pending plan."""

import re
from pathlib import Path

import pytest
from ansible.module_utils.captiva_migrations import (
    AppliedMigration,
    MigrationError,
    checksum,
    load_migrations,
    parse_migrations,
    pending_migrations,
)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "roles" / "postgres" / "files" / "migrations"


def applied(migration, **changes):
    values = {"version": migration.version, "name": migration.name,
              "checksum": migration.checksum} | changes
    return AppliedMigration(**values)


def test_migrations_are_ordered_by_version_not_by_input_order():
    migrations = parse_migrations({"0010_b.sql": "SELECT 2;", "0002_a.sql": "SELECT 1;"})
    assert [(m.version, m.name) for m in migrations] == [(2, "a"), (10, "b")]
    assert migrations[1].filename == "0010_b.sql"


@pytest.mark.parametrize("filename", ["1_short.sql", "0001-dash.sql", "0001_Upper.sql",
                                      "0001_.sql", "00001_five.sql", "0001_name.SQL"])
def test_badly_named_files_are_refused(filename):
    with pytest.raises(MigrationError, match=re.escape(filename)):
        parse_migrations({filename: "SELECT 1;"})


def test_two_files_with_one_version_are_refused():
    with pytest.raises(MigrationError, match="version 0003 is also used by 0003_a.sql"):
        parse_migrations({"0003_a.sql": "SELECT 1;", "0003_b.sql": "SELECT 2;"})


def test_an_empty_migration_is_refused():
    with pytest.raises(MigrationError, match="0001_x.sql: the migration is empty"):
        parse_migrations({"0001_x.sql": " \n"})


def test_checksum_ignores_line_ends_and_the_final_newline_but_not_content():
    assert checksum("SELECT 1;\n") == checksum("SELECT 1;") == checksum("SELECT 1;\r\n\n")
    assert checksum("SELECT 1;") != checksum("SELECT 2;")
    assert checksum("SELECT 1;\nSELECT 2;") == checksum("SELECT 1;\r\nSELECT 2;")


def test_load_migrations_reads_only_sql_files(tmp_path):
    (tmp_path / "0001_first.sql").write_text("SELECT 1;\n")
    (tmp_path / "README.md").write_text("not a migration\n")
    assert [m.filename for m in load_migrations(tmp_path)] == ["0001_first.sql"]


def test_a_missing_directory_is_an_error(tmp_path):
    with pytest.raises(MigrationError, match="migrations directory not found"):
        load_migrations(tmp_path / "nope")


ONE, TWO, THREE = parse_migrations(
    {"0001_one.sql": "SELECT 1;", "0002_two.sql": "SELECT 2;", "0003_three.sql": "SELECT 3;"}
)


def test_pending_are_the_unrecorded_migrations_in_order():
    assert pending_migrations([ONE, TWO, THREE], []) == [ONE, TWO, THREE]
    assert pending_migrations([ONE, TWO, THREE], [applied(ONE)]) == [TWO, THREE]
    assert pending_migrations([ONE, TWO, THREE], [applied(m) for m in (ONE, TWO, THREE)]) == []


def test_a_changed_applied_migration_is_refused():
    with pytest.raises(MigrationError, match="0001_one.sql was applied but its file changed"):
        pending_migrations([ONE, TWO], [applied(ONE, checksum="0" * 64)])


def test_a_missing_applied_migration_is_refused():
    with pytest.raises(MigrationError, match="0002_two.sql was applied but its file is missing"):
        pending_migrations([ONE, THREE], [applied(ONE), applied(TWO)])


def test_a_renamed_applied_migration_is_refused():
    with pytest.raises(MigrationError, match="0001_old.sql was applied but the file is now "
                                             "0001_one.sql"):
        pending_migrations([ONE], [applied(ONE, name="old")])


def test_every_problem_is_reported_at_once():
    with pytest.raises(MigrationError) as error:
        pending_migrations([ONE], [applied(ONE, checksum="0" * 64), applied(TWO)])
    assert "0001_one.sql" in str(error.value) and "0002_two.sql" in str(error.value)


def test_out_of_order_pending_migration_is_refused_unless_allowed():
    with pytest.raises(MigrationError, match="0002_two.sql is pending but 0003 is already"):
        pending_migrations([ONE, TWO, THREE], [applied(ONE), applied(THREE)])
    assert pending_migrations([ONE, TWO, THREE], [applied(ONE), applied(THREE)],
                              allow_out_of_order=True) == [TWO]


def test_the_role_migrations_parse_and_start_with_the_freeradius_schema():
    migrations = load_migrations(MIGRATIONS_DIR)
    assert [m.filename for m in migrations[:4]] == [
        "0001_freeradius_schema.sql", "0002_managed_by.sql", "0003_roster.sql",
        "0004_role_privileges.sql"]


def test_no_migration_manages_its_own_transaction():
    # Each migration runs in the runner's transaction; a COMMIT inside would break atomicity.
    statement = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|START TRANSACTION)\s*;", re.I | re.M)
    for migration in load_migrations(MIGRATIONS_DIR):
        assert not statement.search(migration.sql), migration.filename
        assert "CONCURRENTLY" not in migration.sql.upper(), migration.filename
