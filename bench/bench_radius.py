"""Reconcile benchmark at 50,000 users (issue: RADIUS core).

Prints, in one run: roster validation, first apply, no-op and 1%-churn times of the set-based
reconcile, and the same work done the naive way (one upsert round trip per row, as a
hand-written loop would) on a subset, with the per-user cost ratio. Run with ``make bench``.
"""

import datetime as dt
import os
import time
from zoneinfo import ZoneInfo

from ansible_collections.captiva.campus.plugins.module_utils.captiva_radius_plan import (
    desired_rows,
    read_state,
    reconcile,
)
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster import validate
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster_compile import (
    compile_roster,
)
from roster_base import base_variables

USERS = int(os.environ.get("CAPTIVA_BENCH_USERS", "50000"))
NAIVE_USERS = int(os.environ.get("CAPTIVA_BENCH_NAIVE_USERS", "2000"))
NOW = dt.datetime(2026, 11, 21, 10, 0, tzinfo=ZoneInfo("Africa/Douala"))
# Large rosters carry sha512-crypt hashes (hashing 50k cleartext passwords costs ~1.6 ms each).
HASHES = [
    "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/",
    "$6$pepper00$Cz4xQ6Eufq9sL2ZRPyjJk2xTf8u3W2C3i1jzZQd5pQ7D5yGQWq0ZpEIA3XTjFr6l0YV4R1wKk8xGmQbUgVxw0.",
]


def variables(n_users, start=0):
    v = base_variables()
    v["captiva_promotions"] = [{"name": f"PROMO-{p}", "profile": "etudiant-standard"}
                               for p in range(40)]
    v["captiva_users"] = [{
        "username": f"STU{i:06d}", "first_name": "Awa", "last_name": "Ngono",
        "email": f"stu{i}@etu.campus.test", "promotion": f"PROMO-{i % 40}",
        "password_hash": HASHES[i % 2], **({"expires": "2027-07-31"} if i % 3 == 0 else {}),
    } for i in range(start, start + n_users)]
    return v


def timed(label, fn, results):
    started, cpu = time.perf_counter(), time.process_time()
    value = fn()
    results[label] = time.perf_counter() - started
    results[f"{label} cpu"] = time.process_time() - cpu  # this process: Python, not PostgreSQL
    return value


def naive_apply(conn, compiled):
    """What a hand-written loop does: one statement round trip per desired row."""
    with conn.transaction(), conn.cursor() as cur:
        state = read_state(cur)
        rows = desired_rows(compiled, state)
        for (username, attribute), (op, value) in rows["radcheck"].items():
            cur.execute("UPDATE radcheck SET op = %s, value = %s WHERE username = %s AND "
                        "attribute = %s AND managed_by = 'captiva'",
                        (op, value, username, attribute))
            if cur.rowcount == 0:
                cur.execute("INSERT INTO radcheck (username, attribute, op, value, managed_by) "
                            "VALUES (%s, %s, %s, %s, 'captiva')", (username, attribute, op, value))
        for (username,), (group, priority) in rows["radusergroup"].items():
            cur.execute("INSERT INTO radusergroup (username, groupname, priority, managed_by) "
                        "VALUES (%s, %s, %s, 'captiva') ON CONFLICT (username) WHERE "
                        "managed_by = 'captiva' DO UPDATE SET groupname = EXCLUDED.groupname",
                        (username, group, priority))
        for row in compiled["tables"]["captiva_user"]:
            cur.execute("INSERT INTO captiva_user (username, first_name, last_name, email, "
                        "language, promotion, own_profile, profile, enabled, status, expires_at, "
                        "activated_on) VALUES (%(username)s, %(first_name)s, %(last_name)s, "
                        "%(email)s, %(language)s, %(promotion)s, %(own_profile)s, %(profile)s, "
                        "%(enabled)s, %(status)s, %(expires_at)s, %(activated_on)s) "
                        "ON CONFLICT (username) DO UPDATE SET status = EXCLUDED.status", row)


def test_reconcile_benchmark(radius_db):
    results = {}
    roster, errors = timed("validate", lambda: validate(variables(USERS)), results)
    assert not errors
    with radius_db.connect("reconcile", autocommit=True) as conn:
        first = timed("first apply", lambda: reconcile(conn, roster, now=NOW, check_mode=False),
                      results)
        assert first["users"]["added"] == USERS
        noop = timed("no-op", lambda: reconcile(conn, roster, now=NOW, check_mode=False),
                     results)
        assert not noop["changed"]
        check = timed("no-op, check mode",
                      lambda: reconcile(conn, roster, now=NOW, check_mode=True), results)
        assert not check["changed"]
        churn_n = USERS // 100
        churned, _ = validate(variables(USERS - churn_n * 2 // 5, start=churn_n * 2 // 5))
        churned.users += validate(variables(churn_n * 2 // 5, start=USERS))[0].users
        for user in churned.users[: churn_n // 5]:
            user["enabled"] = False
        churn = timed("1% churn", lambda: reconcile(conn, churned, now=NOW, check_mode=False),
                      results)
    with radius_db.connect() as conn:
        conn.execute("TRUNCATE captiva_user")
        conn.execute("DELETE FROM radcheck WHERE managed_by = 'captiva'")
        conn.execute("DELETE FROM radusergroup WHERE managed_by = 'captiva'")
        small, _ = validate(variables(NAIVE_USERS))
        compiled = compile_roster(small, NOW)
    with radius_db.connect("reconcile") as conn:
        timed("naive first apply", lambda: naive_apply(conn, compiled), results)

    set_based = results["first apply"] / USERS
    naive = results["naive first apply"] / NAIVE_USERS
    print()
    print(f"captiva_radius reconcile, {USERS} users (PostgreSQL on loopback, 2 cores; CPU: "
          f"this process only; load average {os.getloadavg()[0]:.1f})")
    def line(name, key, extra=""):
        print(f"  {name:<24} {results[key]:7.2f} s wall {results[key + ' cpu']:5.2f} s CPU"
              f"   {extra}")

    line("validate roster", "validate")
    line("first apply", "first apply", first["timings"])
    line("no-op", "no-op", noop["timings"])
    line("no-op, check mode", "no-op, check mode")
    line("1% churn", "1% churn", churn["summary"])
    line("naive first apply", "naive first apply",
         f"({NAIVE_USERS} users, one round trip per row)")
    print(f"  per user: set-based {set_based * 1e6:.0f} us, naive {naive * 1e6:.0f} us, "
          f"ratio {naive / set_based:.1f}x")
