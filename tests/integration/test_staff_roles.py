"""Staff roles: the roster's captiva_staff reconciled into captiva_staff (real PostgreSQL, as
the reconcile role), and the portal's old flat admin list refused."""

import pytest
from test_radius_reconcile import make_roster, run

from captiva.portal.config import ConfigError, parse

STAFF = [{"username": "STU0001", "role": "admin"},
         {"username": "STU0002", "role": "viewer", "sites": ["campus-a"]},
         {"username": "STU0003", "role": "operator"}]


def staff_rows(db):
    with db.connect() as conn:
        return conn.execute("SELECT username, role, sites FROM captiva_staff ORDER BY 1").fetchall()


def test_staff_are_reconciled_idempotently_and_shown_in_the_diff(radius_db):
    first = run(radius_db, make_roster(5, captiva_staff=STAFF))
    assert first["changed"]
    assert first["roster"]["staff"] == 3
    assert "staff STU0002\n  + role=viewer, sites=['campus-a']" in first["diff"]
    assert staff_rows(radius_db) == [("STU0001", "admin", []), ("STU0002", "viewer", ["campus-a"]),
                                     ("STU0003", "operator", [])]
    assert run(radius_db, make_roster(5, captiva_staff=STAFF))["changed"] is False

    # a role changes, a member leaves: the table follows the roster
    changed = [dict(STAFF[0], role="viewer"), STAFF[1]]
    second = run(radius_db, make_roster(5, captiva_staff=changed))
    assert second["changed"]
    assert "staff STU0001\n  ~ role: admin -> viewer" in second["diff"]
    assert "staff STU0003\n  - (removed)" in second["diff"]
    assert staff_rows(radius_db) == [("STU0001", "viewer", []),
                                     ("STU0002", "viewer", ["campus-a"])]


def test_check_mode_leaves_the_staff_table_alone(radius_db):
    run(radius_db, make_roster(5))
    result = run(radius_db, make_roster(5, captiva_staff=STAFF), check_mode=True)
    assert result["changed"]
    assert staff_rows(radius_db) == []


def test_the_portal_refuses_the_removed_flat_admin_list():
    with pytest.raises(ConfigError, match="admins: removed; staff and their role .*captiva_staff"):
        parse({"dsn": "host=x", "session_secret": "s" * 40, "admins": ["it.helpdesk"],
               "radius": {"server": "127.0.0.1", "secret": "r" * 20}})
