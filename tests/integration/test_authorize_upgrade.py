"""An upgrade replaces the one-argument radreply read of an earlier release.

captiva_authorize_reply took the user alone until the radcheck read passed it its fold marker
(41_authorize.sql); before migration 0220 it returned a record. Applying today's function
files over either leaves one function, the two-argument one, which FreeRADIUS's role calls
with the marker or, as a configuration from before the marker does, with the user alone.
"""

from __future__ import annotations

import pytest
from ansible_collections.captiva.campus.plugins.module_utils.captiva_migrations import (
    apply_functions,
    load_functions,
)
from pg_fixtures import FUNCTIONS_DIR

BODY = """
    SELECT r.id, r.username::text, r.attribute::text, r.value::text, r.op::text
    FROM radreply AS r WHERE r.username = p_username ORDER BY r.id"""

EARLIER = {
    # Before the marker: the row type, one argument.
    "row type": "RETURNS SETOF captiva_radius_row",
    # Before migration 0220: a record (05_result_types.sql drops it once).
    "record": "RETURNS TABLE (id integer, username text, attribute text, value text, op text)",
}


@pytest.mark.parametrize("result", sorted(EARLIER))
def test_the_function_files_replace_an_earlier_one_argument_reply(radius_db, result):
    with radius_db.connect() as conn:
        conn.autocommit = True
        conn.execute("DROP FUNCTION captiva_authorize_reply(text, text)")
        conn.execute(f"CREATE FUNCTION captiva_authorize_reply(p_username text) {EARLIER[result]}"
                     f" LANGUAGE sql STABLE AS $$ {BODY} $$")
        conn.execute("GRANT EXECUTE ON FUNCTION captiva_authorize_reply(text)"
                     " TO captiva_freeradius")
        conn.execute("INSERT INTO radcheck (username, attribute, op, value)"
                     " VALUES ('alice', 'Cleartext-Password', ':=', 'secret')")
        conn.execute("INSERT INTO radreply (username, attribute, op, value)"
                     " VALUES ('alice', 'Idle-Timeout', ':=', '60')")
        conn.execute("DELETE FROM captiva_schema_functions")  # as after a release's files
        assert apply_functions(conn, load_functions(FUNCTIONS_DIR))
        signatures = conn.execute(
            "SELECT p.oid::regprocedure::text, p.prorettype::regtype::text FROM pg_proc AS p"
            " WHERE p.proname = 'captiva_authorize_reply'").fetchall()
    assert signatures == [("captiva_authorize_reply(text,text)", "captiva_radius_row")]
    with radius_db.connect("freeradius") as conn:
        (mark,) = conn.execute(
            "SELECT value FROM captiva_authorize_check('alice') LIMIT 1").fetchone()
        read = "SELECT attribute, value FROM captiva_authorize_reply"
        expected = [("Idle-Timeout", "60"), ("Fall-Through", "No")]  # in no group: folded
        assert conn.execute(read + "('alice', %s)", (mark,)).fetchall() == expected
        assert conn.execute(read + "('alice')").fetchall() == expected
