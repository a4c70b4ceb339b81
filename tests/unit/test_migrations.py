"""captiva_migrations without a database: file names, checksums, the pending plan."""

import re
from pathlib import Path

import pytest
from ansible_collections.captiva.campus.plugins.module_utils.captiva_migrations import (
    AppliedMigration,
    MigrationError,
    changed_functions,
    checksum,
    load_functions,
    load_migrations,
    parse_functions,
    parse_migrations,
    pending_migrations,
)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "roles" / "postgres" / "files" / "migrations"
FUNCTIONS_DIR = MIGRATIONS_DIR.parent / "functions"
# Databases made before the SQL functions had their own files hold 0001-0053 as they were:
# those files stay frozen (their checksums are verified on every run) and create the old
# functions, which the function files then replace.
FUNCTIONS_LEFT_MIGRATIONS_AFTER = 53


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


# ---------------------------------------------------------------------------------------------
# Function files


def test_function_files_are_ordered_by_name_and_badly_named_ones_refused():
    files = parse_functions({"20_b.sql": "SELECT 2;", "10_a.sql": "SELECT 1;"})
    assert [f.filename for f in files] == ["10_a.sql", "20_b.sql"]
    for bad in ("1_a.sql", "0001_a.sql", "10_A.sql", "10-a.sql", "10_a.txt"):
        with pytest.raises(MigrationError, match=f"{bad}: a function file must be named"):
            parse_functions({bad: "SELECT 1;"})
    with pytest.raises(MigrationError, match="10_a.sql: the function file is empty"):
        parse_functions({"10_a.sql": "  \n"})


def test_changed_functions_are_the_new_changed_and_gone_files():
    files = parse_functions({"10_a.sql": "SELECT 1;", "20_b.sql": "SELECT 2;",
                             "30_c.sql": "SELECT 3;"})
    recorded = {"10_a.sql": files[0].checksum, "20_b.sql": "0" * 64, "40_d.sql": "1" * 64}
    assert changed_functions(files, recorded) == ["20_b.sql", "30_c.sql", "40_d.sql"]
    assert changed_functions(files, {f.filename: f.checksum for f in files}) == []
    # The final newline the file lookup strips is no change.
    assert changed_functions(parse_functions({"10_a.sql": "SELECT 1;\n\n"}),
                             {"10_a.sql": files[0].checksum}) == []


def test_the_role_function_files_replace_functions_and_manage_no_transaction():
    statement = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|START TRANSACTION)\s*;", re.I | re.M)
    files = load_functions(FUNCTIONS_DIR)
    assert files
    for f in files:
        assert not statement.search(f.sql), f.filename
        assert not re.search(r"CREATE\s+FUNCTION", f.sql, re.I), \
            f"{f.filename}: use CREATE OR REPLACE FUNCTION (the file runs again on change)"
        # SECURITY DEFINER: pg_temp last, never searched first (issue 11).
        for config in re.findall(r"SECURITY DEFINER\s+SET search_path = ([^\n]*?) AS", f.sql):
            assert config == "pg_catalog, public, pg_temp", f.filename


def test_functions_live_in_function_files_not_in_new_migrations():
    for migration in load_migrations(MIGRATIONS_DIR):
        if migration.version > FUNCTIONS_LEFT_MIGRATIONS_AFTER:
            assert not re.search(r"CREATE\s+(OR\s+REPLACE\s+)?FUNCTION", migration.sql,
                                 re.I), f"{migration.filename}: put functions in {FUNCTIONS_DIR}"
