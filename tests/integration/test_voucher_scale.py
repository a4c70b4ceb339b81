"""A voucher login's cost with 100,000 vouchers, against a student's quota login.

Real PostgreSQL, migrated. 100,000 codes (validated and compiled by captiva_vouchers) in 10
batches, 20,000 of them with a finished session in radacct, next to a roster of students.
The two login functions FreeRADIUS calls at post-auth are timed in the same process on the
same database, so the comparison does not depend on the machine's load.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time

import pytest
from ansible_collections.captiva.campus.plugins.module_utils.captiva_radius_plan import reconcile
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster import validate
from ansible_collections.captiva.campus.plugins.module_utils.captiva_vouchers import (
    compile_vouchers,
    validate_batches,
)
from quota_radius_fixtures import DOUALA_NAS, roster_variables

pytestmark = pytest.mark.slow

SECRET = "voucher-secret-for-the-scale-test-0123456789"
BATCHES = 10
PER_BATCH = 10_000
USED = 20_000
CALLS = 400


def timed(conn, query, args_list) -> list[float]:
    out = []
    for args in args_list:
        start = time.perf_counter()
        conn.execute(query, args).fetchone()
        out.append(time.perf_counter() - start)
    return out


def test_a_voucher_login_costs_about_what_a_student_login_costs(radius_db):
    users = [{"username": f"etu{i:05d}", "password": f"etu{i:05d}-Pass-0123",
              "promotion": "monthly-10g"} for i in range(2000)]
    roster, errors = validate(roster_variables(users))
    assert errors == []
    with radius_db.connect("reconcile") as conn:
        reconcile(conn, roster, now=dt.datetime.now(dt.UTC), check_mode=False)
    today = dt.date.today()
    batches, errors = validate_batches(
        {"captiva_voucher_secret": SECRET, "captiva_voucher_batches": [
            {"name": f"batch-{n}", "count": PER_BATCH, "profile": "unlimited",
             "time_credit": "2h", "data": "1GiB", "valid_from": str(today),
             "valid_until": str(today + dt.timedelta(days=30))} for n in range(BATCHES)]},
        profiles=roster.profiles, sites={}, usernames=[u["username"] for u in users],
        default_timezone="Africa/Douala", default_language="fr")
    assert errors == []
    compiled = compile_vouchers(batches)
    codes = [row["code"] for row in compiled["tables"]["captiva_voucher"]]
    assert len(codes) == BATCHES * PER_BATCH
    with radius_db.connect() as conn, conn.transaction():
        with conn.cursor().copy("COPY captiva_voucher_batch (name, profile, time_credit,"
                                " data_cap, starts_at, ends_at, simultaneous_use, sites,"
                                " language, count) FROM STDIN") as copy:
            for b in compiled["tables"]["captiva_voucher_batch"]:
                copy.write_row((b["name"], b["profile"], b["time_credit"], b["data_cap"],
                                b["starts_at"], b["ends_at"], b["simultaneous_use"],
                                b["sites"], b["language"], b["count"]))
        with conn.cursor().copy("COPY captiva_voucher (code, batch, index) FROM STDIN") as copy:
            for row in compiled["tables"]["captiva_voucher"]:
                copy.write_row((row["code"], row["batch"], row["index"]))
        start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
        with conn.cursor().copy("COPY radacct (acctsessionid, acctuniqueid, username,"
                                " nasipaddress, acctstarttime, acctstoptime, acctsessiontime,"
                                " acctinputoctets, acctoutputoctets) FROM STDIN") as copy:
            for i, code in enumerate(codes[:USED]):
                copy.write_row((f"s{i}", f"u{i}", code, DOUALA_NAS, start,
                                start + dt.timedelta(minutes=30), 1800, 1000, 50_000))
        conn.execute("ANALYZE")

    with radius_db.connect("freeradius") as conn:
        voucher_args = [(codes[i * 97 % USED], DOUALA_NAS) for i in range(CALLS)]
        student_args = [(f"etu{i * 7 % 2000:05d}", DOUALA_NAS) for i in range(CALLS)]
        # Warm both paths, then interleave the measurements.
        timed(conn, "SELECT captiva_voucher_login_xlat(%s, %s)", voucher_args[:20])
        timed(conn, "SELECT captiva_quota_login_xlat(%s, %s)", student_args[:20])
        voucher, student = [], []
        for i in range(0, CALLS, 50):
            voucher += timed(conn, "SELECT captiva_voucher_login_xlat(%s, %s)",
                             voucher_args[i:i + 50])
            student += timed(conn, "SELECT captiva_quota_login_xlat(%s, %s)",
                             student_args[i:i + 50])
        reply = conn.execute("SELECT captiva_voucher_login_xlat(%s, %s)",
                             voucher_args[0]).fetchone()[0]
    assert reply == f"accept|0|{2**30 - 51_000}|5400"
    # A login's first use reaches the database after the reply, through the login buffer's
    # replay (captiva_login_replay calls captiva_voucher_first_use_record): replayed here.
    with radius_db.connect() as conn, conn.transaction():
        for code, nas in dict(voucher_args).items():
            conn.execute("SELECT captiva_voucher_first_use_record(%s, now(), %s)", (code, nas))
    voucher_ms = statistics.median(voucher) * 1000
    student_ms = statistics.median(student) * 1000
    print(f"\nmedian login function, {BATCHES * PER_BATCH} vouchers: voucher {voucher_ms:.2f} ms,"
          f" student quota {student_ms:.2f} ms")
    assert voucher_ms <= 2 * student_ms + 0.5

    # The admins' batch page (captiva/portal/vouchers/data.py): every code's state, as the
    # portal's role reads it, in one pass (captiva_voucher_judgements). Against the same
    # rule asked code by code for the used codes only, as the page did before: at least five
    # times faster, whatever the machine's load.
    at = dt.datetime.now(dt.UTC)
    with radius_db.connect("portal") as conn:
        started = time.perf_counter()
        counts = dict(conn.execute(
            "SELECT state, count(*) FROM captiva_voucher_states(%s) GROUP BY state", (at,)
        ).fetchall())
        states_s = time.perf_counter() - started
    with radius_db.connect() as conn:
        started = time.perf_counter()
        judged = conn.execute(
            "SELECT count(j.*) FROM unnest(%s::text[]) AS c(code)"
            " CROSS JOIN LATERAL captiva_voucher_judge(c.code, NULL, %s, false) AS j",
            (codes[:USED], at)).fetchone()[0]
        per_code_s = time.perf_counter() - started
    assert judged == USED
    started_codes = len({args[0] for args in voucher_args})  # the logins above: first uses
    assert counts == {"in-use": started_codes, "unused": BATCHES * PER_BATCH - started_codes}
    print(f"captiva_voucher_states, {BATCHES * PER_BATCH} codes ({USED} with a session):"
          f" {states_s:.2f} s (one run); the used codes judged one by one: {per_code_s:.2f} s")
    assert states_s * 5 <= per_code_s
