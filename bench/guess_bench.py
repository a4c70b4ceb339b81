"""Guessing codes through the deployed RADIUS path (issue 23): how many guesses reach a lookup.

    make bench-guess                        # or: .venv/bin/python bench/guess_bench.py --help

Real FreeRADIUS rendered by roles/freeradius with its default throttle settings
(freeradius_guess_*: policy.d/captiva_guess) and PostgreSQL with production durability
(bench/radius_load.production_postgres), a 300-card voucher batch and students provisioned by
the reconcile. An attacker at full speed (tools/radload, closed loop: a new guess as soon as
an answer comes back) sends codes nobody issued, each with a right check character (the
check character is public, so the attacker's space is the 23^9 data characters):

  1. from one NAS, one device (one MAC);
  2. from one NAS (another one), a new MAC for every guess (the per-NAS limit);
  3. normal logins, throttle on and off: CPU per Access-Request of a voucher login (the one
     login that pays the throttle's read) and of a student's password login (one regex).

A guess "reaches a code lookup" when the server judged it instead of rejecting it at once:
those, and only those, leave a radpostauth row. The expected time to find a code is
23^9 / (live codes x guesses reaching a lookup per second), for the 300-card batch and for
the 200,000 live codes a campus may hold. The floor: more than 10 years for a 300-card batch
from one NAS, at the rate measured during the run (the run is shorter than the window, so
the burst the window admits is all counted: a conservative rate). Exits 1 when missed, 2 when
the servers could not be set up.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import secrets
import socket
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# The repository is the collection captiva.campus (collections/ansible_collections).
sys.path.insert(0, str(ROOT / "collections"))
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "integration"), str(ROOT / "tools"),
                str(ROOT / "bench"), str(ROOT)]

import radload  # noqa: E402
from ansible_collections.captiva.campus.plugins.module_utils.captiva_radius_plan import reconcile  # noqa: E402
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster import validate  # noqa: E402
from ansible_collections.captiva.campus.plugins.module_utils.captiva_vouchers import (  # noqa: E402
    ALPHABET,
    DATA_LENGTH,
    MAX_TOTAL_COUNT,
    check_character,
)
from pg_fixtures import radius_database  # noqa: E402
from quota_radius_fixtures import roster_variables  # noqa: E402
from radius_fixtures import ROUTER_SECRET, freeradius_for  # noqa: E402
from radius_load import bench_main, floors_table, postmaster_pid, production_postgres  # noqa: E402

SPACE = len(ALPHABET) ** DATA_LENGTH  # codes an attacker must try, the check character known
YEAR = 365.25 * 86400
FLOOR_YEARS = 10.0
BATCH = 300
ATTACK_NAS = ["127.0.0.3", "127.0.0.4"]
DEFAULTS = yaml.safe_load((ROOT / "roles/freeradius/defaults/main.yml").read_text())
STUDENT_PASSWORD = "bench-student-password-1"


def guesses(count: int) -> list[tuple[str, str]]:
    """Codes nobody issued (the odds of drawing a live one are 1 in 6 x 10^9 per guess)."""
    out = []
    for _ in range(count):
        data = "".join(secrets.choice(ALPHABET) for _ in range(DATA_LENGTH))
        code = data + check_character(data)
        out.append((code, code))
    return out


def provision(db, students: int) -> list[str]:
    variables = roster_variables([
        {"username": f"stu{i:05d}", "password": STUDENT_PASSWORD, "promotion": "unlimited",
         "email": f"stu{i}@campus.test"} for i in range(students)])
    today = dt.date.today()
    variables["captiva_voucher_batches"] = [{
        "name": "open-day", "count": BATCH, "profile": "unlimited", "time_credit": "8h",
        "simultaneous_use": "unlimited",
        "valid_from": (today - dt.timedelta(days=1)).isoformat(),
        "valid_until": (today + dt.timedelta(days=30)).isoformat()}]
    variables["captiva_voucher_secret"] = "guess-bench-secret-0123456789abcdef"
    variables["captiva_hotspot_login_by"] = ["http-pap"]
    # Cleartext-Password, as vouchers have: the logins' CPU is then the path's, not
    # sha512-crypt's, and the throttle's share shows (bench/radius_load.py measures crypt).
    variables["captiva_password_storage"] = "cleartext"
    roster, errors = validate(variables)
    if errors:
        raise RuntimeError(f"bench roster invalid: {errors[:3]}")
    with db.connect("reconcile") as conn:
        reconcile(conn, roster, now=dt.datetime.now(dt.UTC), check_mode=False)
    return roster.vouchers[0]["codes"]


def judged_since(db, marker: int) -> int:
    with db.connect() as conn:
        return conn.execute("SELECT count(*) FROM radpostauth WHERE id > %s"
                            " AND reply = 'Access-Reject'", (marker,)).fetchone()[0]


def last_id(db) -> int:
    with db.connect() as conn:
        return conn.execute("SELECT COALESCE(max(id), 0) FROM radpostauth").fetchone()[0]


def check_cost(db, calls: int = 2000) -> float:
    """Database time, in ms, of the throttle's check (the read a code login pays before its
    lookup), one statement each as FreeRADIUS's role sends them, less the round trip of a
    ``SELECT 1``."""
    window, station, nas = (DEFAULTS[f"freeradius_guess_{k}"]
                            for k in ("window", "station_limit", "nas_limit"))
    with db.connect("freeradius") as conn:
        started = time.perf_counter()
        for _ in range(calls):
            conn.execute("SELECT 1").fetchone()
        base = time.perf_counter() - started
        started = time.perf_counter()
        for n in range(calls):
            conn.execute("SELECT captiva_guess_check('127.0.0.9', %s, %s, %s, %s)",
                         (f"02:00:5E:00:{n:05d}", window, station, nas)).fetchone()
        return (time.perf_counter() - started - base) / calls * 1e3


def years(live: int, rate: float) -> float:
    return float("inf") if rate <= 0 else SPACE / live / rate / YEAR


def attack(radius, db, sources, nas: str, count: int, window: int, one_mac: bool):
    marker = last_id(db)
    work = radload.Workload(kind="auth", server=("127.0.0.1", radius.auth_port),
                            secret=ROUTER_SECRET.encode(), users=guesses(count), count=count,
                            window=window, timeout=5.0, source=nas, nas_ip=nas,
                            calling_station="02:00:5E:AB:CD:EF" if one_mac else None)
    before = radload.snapshot(sources)
    report = radload.run(work, 2)
    cpu = radload.spent(before, radload.snapshot(sources))
    return report, judged_since(db, marker), sum(cpu.values()) / max(1, report.answered) * 1e3


def login_batch(radius, pg, users, count: int, offset: int) -> tuple[int, float]:
    """``count`` logins of ``users`` (closed loop, 32 in flight) against ``radius``: how many
    were answered and the CPU-seconds FreeRADIUS and PostgreSQL spent on them."""
    sources = [radload.CpuSource("freeradius", pid=radius.process.pid),
               radload.CpuSource("postgresql", pid=postmaster_pid(pg))]
    work = radload.Workload(kind="auth", server=("127.0.0.1", radius.auth_port),
                            secret=ROUTER_SECRET.encode(), users=users, count=count,
                            window=32, offset=offset)
    before = radload.snapshot(sources)
    report = radload.run(work, 2)
    if report.codes.get("reject", 0):
        raise RuntimeError(f"normal logins refused: {report.summary()}")
    return report.answered, sum(radload.spent(before, radload.snapshot(sources)).values())


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guesses", type=int, default=20000, help="guesses per attack phase")
    parser.add_argument("--in-flight", type=int, default=1500,
                        help="the attacker's requests in flight (Debian's reject_delay holds "
                             "each Access-Reject 1 s: this many per second at most)")
    parser.add_argument("--logins", type=int, default=6000,
                        help="normal logins of each kind through each server")
    parser.add_argument("--rounds", type=int, default=6,
                        help="alternate batches the normal logins are split into")
    parser.add_argument("--students", type=int, default=2000)
    return parser.parse_args(argv)


def run_bench(args: argparse.Namespace) -> int:
    window = DEFAULTS["freeradius_guess_window"]
    clients = {"freeradius_clients": [
        {"name": f"router-{n}", "address": f"{address}/32", "secret": ROUTER_SECRET}
        for n, address in enumerate(["127.0.0.1", *ATTACK_NAS])]}
    rows = []
    with production_postgres(False) as pg, radius_database(pg) as db:
        codes = provision(db, args.students)
        print(f"provisioned a {BATCH}-card batch and {args.students} students; throttle "
              f"defaults: window {window} s, {DEFAULTS['freeradius_guess_station_limit']} "
              f"per station, {DEFAULTS['freeradius_guess_nas_limit']} per NAS")
        print(f"the throttle's check (what a code login pays before its lookup): "
              f"{check_cost(db):.3f} ms of database time")
        voucher_users = [(code, code) for code in codes]
        student_users = [(f"stu{i:05d}", STUDENT_PASSWORD) for i in range(args.students)]
        with tempfile.TemporaryDirectory(prefix="captiva-bench-guess-") as tmp:
            servers = {}
            with contextlib.ExitStack() as stack:
                for state, enabled in (("on", True), ("off", False)):
                    servers[state] = stack.enter_context(freeradius_for(
                        Path(tmp) / state, db,
                        dict(clients, freeradius_guess_throttle_enabled=enabled)))
                # The throttle's cost on normal logins: the same logins through a server with
                # it and one without, in alternate batches (the machine's load changes over
                # minutes; each batch has one server busy, so PostgreSQL's CPU is its own).
                spent = {(name, state): [0, 0.0] for name in ("voucher", "student")
                         for state in servers}
                batch = max(1, args.logins // args.rounds)
                for round_ in range(args.rounds + 1):  # round 0 warms both up
                    order = ("on", "off") if round_ % 2 else ("off", "on")
                    for state in order:
                        for name, users in (("voucher", voucher_users),
                                            ("student", student_users)):
                            answered, cpu = login_batch(servers[state], pg, users, batch,
                                                        round_ * batch)
                            if round_:
                                spent[name, state][0] += answered
                                spent[name, state][1] += cpu
                cost = {key: cpu / answered * 1e3 for key, (answered, cpu) in spent.items()}
                for name in ("voucher", "student"):
                    print(f"{name} logins, {spent[name, 'on'][0]} through each server in "
                          f"{args.rounds} alternate batches: server CPU per login "
                          f"{cost[name, 'on']:.3f} ms with the throttle, "
                          f"{cost[name, 'off']:.3f} ms without: "
                          f"{cost[name, 'on'] - cost[name, 'off']:+.3f} ms")
                radius = servers["on"]
                sources = [radload.CpuSource("freeradius", pid=radius.process.pid),
                           radload.CpuSource("postgresql", pid=postmaster_pid(pg))]
                for label, nas, one_mac in (("one NAS, one MAC", ATTACK_NAS[0], True),
                                            ("one NAS, a new MAC each guess", ATTACK_NAS[1],
                                             False)):
                    report, judged, ms = attack(radius, db, sources, nas, args.guesses,
                                                args.in_flight, one_mac)
                    rate = judged / report.elapsed
                    print(f"attack, {label}: {report.summary()}")
                    print(f"  {judged} of {report.answered} answered guesses reached a code "
                          f"lookup in {report.elapsed:.1f} s: {rate:.2f}/s during the run "
                          f"({judged / window:.3f}/s spread over the {window} s window); "
                          f"server CPU per guess {ms:.3f} ms")
                    for live in (BATCH, MAX_TOTAL_COUNT):
                        print(f"  expected time to find one of {live:,} live codes: "
                              f"{years(live, rate):,.2f} years at the run's rate, "
                              f"{years(live, judged / window):,.2f} years per window")
                    rows.append((label, rate, judged, report))
    floors = []
    for label, rate, _judged, report in rows:
        found = years(BATCH, rate)
        floors.append((f"expected time to find a code of a {BATCH}-card batch ({label})",
                       f"> {FLOOR_YEARS:.0f} years", f"{found:,.0f} years ({rate:.2f} "
                       f"guesses/s reach a lookup, {report.rate:,.0f}/s answered)",
                       found > FLOOR_YEARS))
    return floors_table(("floor", "required", "measured"), floors)


def main(argv: list[str] | None = None) -> int:
    return bench_main("bench-guess", parse, run_bench, argv)


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    sys.exit(main())
