"""The roster -> RADIUS SQL reconcile against a real PostgreSQL, as the reconcile role."""

import datetime as dt
import threading
import time
from zoneinfo import ZoneInfo

import psycopg
import pytest
from ansible_collections.captiva.campus.plugins.module_utils.captiva_prune import PruneRefused
from ansible_collections.captiva.campus.plugins.module_utils.captiva_radius_plan import (
    ADVISORY_LOCK_KEY,
    reconcile,
)
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster import validate
from roster_base import base_variables, with_hotspot

NOW = dt.datetime(2026, 11, 21, 10, 0, tzinfo=ZoneInfo("Africa/Douala"))
POLICY = ("radcheck", "radreply", "radgroupcheck", "radgroupreply", "radusergroup")
ROSTER_TABLES = ("captiva_site", "captiva_router", "captiva_profile", "captiva_promotion",
                 "captiva_user")


def make_roster(n_users=10, **changes):
    variables = base_variables()
    variables["captiva_promotions"].append(
        {"name": "M1-OFF", "profile": "etudiant-standard", "wifi_enabled": False})
    variables["captiva_users"] = [
        {"username": f"STU{i:04d}", "password": f"password-{i:04d}", "promotion": "L3-INFO-2025",
         "email": f"stu{i}@campus.test"}
        for i in range(n_users)
    ]
    variables["captiva_sites"] = [{"name": "campus-a", "routers": [{
        "name": "gw1", "address": "10.20.1.1", "radius_secret": "s" * 24,
        "api": {"username": "captiva", "password": "api-password-1"}}]}]
    variables.update(changes)
    roster, errors = validate(with_hotspot(variables))
    assert errors == [], errors
    return roster


def dump(db):
    """Every row of every table the reconcile may touch, for before/after comparisons."""
    with db.connect() as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()  # noqa: S608
                for t in (*POLICY, *ROSTER_TABLES)}


def run(db, roster, check_mode=False, **kwargs):
    with db.connect("reconcile", autocommit=True) as conn:
        return reconcile(conn, roster, now=NOW, check_mode=check_mode, **kwargs)


def test_first_apply_then_second_run_changes_nothing(radius_db):
    roster = make_roster(10)
    first = run(radius_db, roster)
    assert first["changed"]
    assert first["users"] == {"added": 10, "changed": 0, "removed": 0}
    assert first["summary"].startswith("users: +10 ~0 -0")
    with radius_db.connect() as conn:
        groups = dict(conn.execute(
            "SELECT username, groupname FROM radusergroup WHERE managed_by = 'captiva'"))
        assert groups["STU0001"] == "etudiant-standard"
        rate = conn.execute("SELECT op, value FROM radgroupreply WHERE groupname = "
                            "'etudiant-standard' AND attribute = 'Mikrotik-Rate-Limit'").fetchone()
        assert rate == ("=", "2M/10M")
        hashed = conn.execute("SELECT value FROM radcheck WHERE username = 'STU0001' AND "
                              "attribute = 'Crypt-Password'").fetchone()[0]
        assert hashed.startswith("$6$") and "password-0001" not in hashed
        # the campus calendar the quota engine uses for users without a NAS
        calendar = conn.execute("SELECT timezone, week_start, month_start_day "
                                "FROM captiva_quota_settings").fetchall()
        assert calendar == [("Africa/Douala", 1, 1)]
    second = run(radius_db, roster)
    assert second["changed"] is False
    assert second["summary"] == "users: +0 ~0 -0 | groups: +0 ~0 -0"
    assert run(radius_db, roster, check_mode=True)["changed"] is False


def test_check_mode_writes_nothing_but_reports_the_plan(radius_db):
    run(radius_db, make_roster(10))
    before = dump(radius_db)
    changed = make_roster(11, captiva_profiles=[{
        "name": "etudiant-standard", "bandwidth": {"upload": "4M", "download": "10M"}}])
    result = run(radius_db, changed, check_mode=True)
    assert result["changed"]
    assert result["users"]["added"] == 1
    assert result["groups"]["changed"] == 1
    assert "~ reply Mikrotik-Rate-Limit: 2M/10M -> 4M/10M" in result["diff"]
    assert dump(radius_db) == before


def test_diff_masks_passwords(radius_db):
    roster = make_roster(3)
    result = run(radius_db, roster)
    assert "+ check Crypt-Password := ********" in result["diff"]
    assert "password-0001" not in result["diff"]
    with radius_db.connect() as conn:
        stored = conn.execute("SELECT value FROM radcheck WHERE attribute = 'Crypt-Password'"
                              ).fetchone()[0]
    assert stored not in result["diff"]
    roster.users[1]["password"] = "a-new-password-1"
    changed = run(radius_db, roster)
    assert changed["users"] == {"added": 0, "changed": 1, "removed": 0}
    assert "~ check Crypt-Password: ******** -> ********" in changed["diff"]


def test_rows_captiva_did_not_write_are_never_touched(radius_db):
    run(radius_db, make_roster(10))
    with radius_db.connect() as conn:
        # An admin's own rows: one for a Captiva user, one for a group named like a profile,
        # and a whole user of another tool.
        conn.execute("INSERT INTO radreply (username, attribute, op, value) "
                     "VALUES ('STU0001', 'Framed-IP-Address', '=', '10.5.50.9')")
        conn.execute("INSERT INTO radcheck (username, attribute, op, value) "
                     "VALUES ('STU0002', 'Calling-Station-Id', '==', 'aa:bb:cc:dd:ee:ff')")
        conn.execute("INSERT INTO radgroupreply (groupname, attribute, op, value) "
                     "VALUES ('etudiant-standard', 'Reply-Message', '=', 'Bienvenue')")
        conn.execute("INSERT INTO radcheck (username, attribute, op, value, managed_by) "
                     "VALUES ('printer1', 'Cleartext-Password', ':=', 'x', 'othertool')")
        conn.execute("INSERT INTO radusergroup (username, groupname, priority) "
                     "VALUES ('STU0003', 'vpn-users', 5)")
        foreign = {t: conn.execute(
            f"SELECT * FROM {t} WHERE managed_by IS DISTINCT FROM 'captiva' ORDER BY id"  # noqa: S608
        ).fetchall() for t in POLICY}
    # Change everything Captiva owns: profile values, one user removed, one added.
    roster = make_roster(10, captiva_profiles=[{"name": "etudiant-standard",
                                                "bandwidth": {"upload": "1M", "download": "3M"}}])
    roster.users = [u for u in roster.users if u["username"] != "STU0002"]
    result = run(radius_db, roster)
    assert result["users"]["removed"] == 1
    with radius_db.connect() as conn:
        after = {t: conn.execute(
            f"SELECT * FROM {t} WHERE managed_by IS DISTINCT FROM 'captiva' ORDER BY id"  # noqa: S608
        ).fetchall() for t in POLICY}
    assert after == foreign


def test_prune_guard_refuses_mass_removal_and_changes_nothing(radius_db):
    run(radius_db, make_roster(20))
    before = dump(radius_db)
    with pytest.raises(PruneRefused, match="refusing to remove 10 of the 20 users"):
        run(radius_db, make_roster(10))
    assert dump(radius_db) == before
    result = run(radius_db, make_roster(10), allow_mass_prune=True)
    assert result["users"]["removed"] == 10


def test_an_empty_roster_never_wipes_the_database(radius_db):
    run(radius_db, make_roster(20))
    before = dump(radius_db)
    with pytest.raises(PruneRefused):
        run(radius_db, make_roster(0))
    assert dump(radius_db) == before


def test_small_removals_pass_the_guard(radius_db):
    run(radius_db, make_roster(20))
    assert run(radius_db, make_roster(18))["users"]["removed"] == 2  # 10% of 20


def test_a_failure_mid_apply_leaves_every_table_as_before(radius_db):
    run(radius_db, make_roster(10))
    before = dump(radius_db)
    with radius_db.connect() as conn:
        # A real failure inside the apply: radcheck and captiva tables are already written
        # when the membership insert of the new user fails.
        conn.execute("""
            CREATE FUNCTION fail_for_stu0015() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF NEW.username = 'STU0015' THEN RAISE EXCEPTION 'injected failure'; END IF;
              RETURN NEW;
            END $$;
            CREATE TRIGGER fail_for_stu0015 BEFORE INSERT ON radusergroup
              FOR EACH ROW EXECUTE FUNCTION fail_for_stu0015();""")
    with pytest.raises(psycopg.Error, match="injected failure"):
        run(radius_db, make_roster(16, captiva_profiles=[{"name": "etudiant-standard"}]))
    assert dump(radius_db) == before


def test_concurrent_applies_are_serialised(radius_db):
    run(radius_db, make_roster(5))
    results = {}

    def apply(name, roster):
        results[name] = run(radius_db, roster)

    with radius_db.connect() as holder:
        holder.execute("BEGIN")
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
        first = threading.Thread(target=apply, args=("a", make_roster(6)))
        second = threading.Thread(target=apply, args=("b", make_roster(7)))
        first.start()
        time.sleep(0.3)
        second.start()
        time.sleep(0.5)
        assert not results  # both wait for the lock
        holder.execute("COMMIT")
    first.join(10)
    second.join(10)
    # Whatever the order, the second apply planned against the first one's committed state.
    assert sorted(r["users"]["added"] for r in results.values()) == [1, 1] or \
        sorted(r["users"]["added"] for r in results.values()) == [0, 2]
    final_roster = make_roster(len(dump(radius_db)["captiva_user"]))
    assert run(radius_db, final_roster, check_mode=True)["changed"] is False


def test_inactive_users_are_rejected_by_their_status_group(radius_db):
    roster = make_roster(3)
    roster.users[0]["enabled"] = False
    roster.users[1]["promotion"] = "M1-OFF"
    roster.users[2]["expires"] = dt.date(2026, 1, 31)
    run(radius_db, roster)
    with radius_db.connect() as conn:
        groups = dict(conn.execute("SELECT username, groupname FROM radusergroup"))
        reject = conn.execute("SELECT attribute, op, value FROM radgroupcheck "
                              "WHERE groupname = 'captiva-expired'").fetchall()
        status = dict(conn.execute("SELECT username, status FROM captiva_user"))
    assert groups == {"STU0000": "captiva-disabled", "STU0001": "captiva-wifi-off",
                      "STU0002": "captiva-expired"}
    assert reject == [("Auth-Type", ":=", "Reject")]
    assert status == {"STU0000": "disabled", "STU0001": "wifi-off", "STU0002": "expired"}


def test_activation_date_is_kept_across_runs(radius_db):
    roster = make_roster(2)
    run(radius_db, roster)
    with radius_db.connect() as conn:
        conn.execute("UPDATE captiva_user SET activated_on = '2026-01-01' WHERE username = "
                     "'STU0001'")
    # etudiant-standard: validity 180 days from the first provisioning, not from today
    result = run(radius_db, roster)
    assert result["users"]["changed"] == 1
    with radius_db.connect() as conn:
        status = dict(conn.execute("SELECT username, status FROM captiva_user"))
        activated = conn.execute("SELECT activated_on FROM captiva_user WHERE username = "
                                 "'STU0001'").fetchone()[0]
    assert status == {"STU0000": "active", "STU0001": "expired"}
    assert activated == dt.date(2026, 1, 1)


def test_cleartext_storage_for_chap(radius_db):
    roster = make_roster(2, captiva_password_storage="cleartext",
                         captiva_hotspot_login_by=["http-chap", "cookie"])
    run(radius_db, roster)
    with radius_db.connect() as conn:
        rows = conn.execute("SELECT username, attribute, value FROM radcheck "
                            "WHERE attribute LIKE '%%Password' ORDER BY 1").fetchall()
    assert rows == [("STU0000", "Cleartext-Password", "password-0000"),
                    ("STU0001", "Cleartext-Password", "password-0001")]
    # switching storage replaces the attribute, it does not leave both behind
    run(radius_db, make_roster(2))
    with radius_db.connect() as conn:
        attributes = {r[0] for r in conn.execute("SELECT attribute FROM radcheck "
                                                 "WHERE attribute LIKE '%%Password'")}
    assert attributes == {"Crypt-Password"}
