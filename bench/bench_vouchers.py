"""Voucher reconcile benchmark at 100,000 codes (issue 13): first apply, no-op, growing one
batch by 1%, and the same no-op with no voucher at all as the baseline, in one run.

Through ``captiva_radius_plan.reconcile`` on a throw-away PostgreSQL (the module's own path,
without Ansible's process start), the roster validated the way the playbook does (codes
derived from the secret). Run with ``make bench``.
"""

import datetime as dt
import os
import time
from zoneinfo import ZoneInfo

from ansible_collections.captiva.campus.plugins.module_utils.captiva_radius_plan import reconcile
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster import validate
from roster_base import base_variables

VOUCHERS = int(os.environ.get("CAPTIVA_BENCH_VOUCHERS", "100000"))
BATCH = 5_000  # half the largest batch the roster accepts, so one can grow
NOW = dt.datetime(2026, 11, 21, 10, 0, tzinfo=ZoneInfo("Africa/Douala"))
SECRET = "bench-voucher-secret-0123456789-abcdefghij"


def variables(total, grow=0):
    v = base_variables()
    v["captiva_voucher_secret"] = SECRET
    v["captiva_voucher_batches"] = [{
        "name": f"batch-{b:02d}", "count": min(BATCH, total - b * BATCH) + (grow if b == 0 else 0),
        "profile": "etudiant-standard", "time_credit": "2h",
        "valid_from": "2026-11-01", "valid_until": "2026-12-31",
    } for b in range(-(-total // BATCH))]
    return v


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def test_voucher_reconcile_benchmark(radius_db):
    (roster, errors), validate_s = timed(lambda: validate(variables(VOUCHERS)))
    assert not errors, errors[:3]
    empty, _ = validate(base_variables())
    with radius_db.connect("reconcile", autocommit=True) as conn:
        _, baseline_s = timed(lambda: reconcile(conn, empty, now=NOW, check_mode=False))
        first, first_s = timed(lambda: reconcile(conn, roster, now=NOW, check_mode=False))
        assert first["vouchers"]["added"] == VOUCHERS
        noop, noop_s = timed(lambda: reconcile(conn, roster, now=NOW, check_mode=False))
        assert not noop["changed"]
        grown, errors = validate(variables(VOUCHERS, grow=VOUCHERS // 100))
        assert not errors, errors[:3]
        grow, grow_s = timed(lambda: reconcile(conn, grown, now=NOW, check_mode=False))
        assert grow["vouchers"] == {"added": VOUCHERS // 100, "changed": 0, "removed": 0}
    print()
    print(f"voucher reconcile, {VOUCHERS} codes in {-(-VOUCHERS // BATCH)} batches "
          "(PostgreSQL on loopback)")
    print(f"  validate (derive every code)   {validate_s:7.2f} s")
    print(f"  baseline: no-op, no vouchers   {baseline_s:7.2f} s")
    print(f"  first apply                    {first_s:7.2f} s   {first['timings']}")
    print(f"  no-op                          {noop_s:7.2f} s   {noop['timings']}")
    print(f"  grow one batch by 1%           {grow_s:7.2f} s   {grow['summary']}")
    print(f"  per code: first apply {first_s / VOUCHERS * 1e6:.0f} us, "
          f"no-op {noop_s / VOUCHERS * 1e6:.0f} us")
