"""The daily path (issue 26): one user added, through `make plan-roster` and `make
apply-roster`, against a campus of --users users and --routers routers.

    .venv/bin/python bench/roster_bench.py                    # 5,000 users, 1 router
    .venv/bin/python bench/roster_bench.py --users 20000 --routers 3

A throw-away PostgreSQL 15 with production durability (bench/radius_load.py), migrated like
roles/postgres does, and one tools/routeros-sim per router (the RouterOS API over its real wire
protocol). The inventory holds the roster in its own files (users as JSON with sha512-crypt
hashes, the large-roster layout of the README), its database, FreeRADIUS and portal hosts on a
closed port: the roster path must never reach them. The campus is converged once (`make
apply-roster`), then one user is added and the same commands an admin or the pipeline runs
are timed: `make plan-roster`, `make apply-roster`, and the no-op `make apply-roster` after
it. Each figure is wall clock and CPU time (make, ansible-playbook and everything they ran;
PostgreSQL and the simulators excluded): the CPU time holds on a machine shared with other
work, the wall clock does not. Floor: the one-user `make apply-roster` in 20 s. Exits 1 when
a floor is missed, 2 when the servers could not be set up.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The repository is the collection captiva.campus (collections/ansible_collections).
sys.path.insert(0, str(ROOT / "collections"))
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests"), str(ROOT / "tests" / "integration")]

import yaml  # noqa: E402
from passlib.hash import sha512_crypt  # noqa: E402
from pg_fixtures import radius_database  # noqa: E402
from processes import free_port  # noqa: E402
from radius_load import bench_main, floors_table, production_postgres  # noqa: E402
from routeros_fixtures import start_sim, stop_sim  # noqa: E402

FLOOR_SECONDS = 20.0  # issue 26: a one-user change through make apply-roster
PROMOTIONS = 40


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="roster_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--routers", type=int, default=1)
    parser.add_argument("--profile", action="store_true",
                        help="print each task's time (ansible.posix.profile_tasks)")
    return parser.parse_args(argv)


def write_inventory(path: Path, db, sims, users: int) -> Path:
    closed = {"ansible_host": "127.0.0.1", "ansible_port": free_port(),
              "ansible_connection": "ssh"}
    routers = [f"gw{n}" for n in range(1, len(sims) + 1)]
    (path / "group_vars" / "all").mkdir(parents=True)
    (path / "hosts.yml").write_text(yaml.safe_dump({"all": {
        "hosts": {"localhost": {"ansible_connection": "local",
                                "ansible_python_interpreter": "{{ ansible_playbook_python }}"}},
        "children": {"postgres": {"hosts": {"db1": closed}},
                     "freeradius": {"hosts": {"radius1": closed}},
                     "portal": {"hosts": {"portal1": closed}},
                     "routers": {"hosts": {name: {"ansible_host": sim.host}
                                           for name, sim in zip(routers, sims, strict=True)}}},
    }}))
    settings = {
        "captiva_hotspot_login_by": ["http-pap", "cookie"],
        "captiva_radius_servers": ["127.0.0.1"],
        "captiva_portal": {"address": "127.0.0.1", "dns_name": "portal.campus.test"},
        "captiva_database": {"host": "127.0.0.1", "port": db.server.port, "name": db.name,
                             "ssl_mode": "disable"},
        "captiva_db_passwords": {"reconcile": "test-reconcile-password"},
        "captiva_sites": [{"name": "campus", "routers": [
            {"name": name, "address": f"127.0.0.{n}", "radius_secret": "s" * 24,
             "api": {"host": sim.host, "port": sim.port, "tls": False, "username": sim.user,
                     "password": sim.password}}
            for n, (name, sim) in enumerate(zip(routers, sims, strict=True), start=1)]}],
    }
    (path / "group_vars" / "all" / "settings.yml").write_text(yaml.safe_dump(settings))
    (path / "group_vars" / "all" / "roster.yml").write_text(yaml.safe_dump({
        "captiva_profiles": [{"name": "etudiant-standard",
                              "bandwidth": {"upload": "2M", "download": "10M"},
                              "quota": {"daily": "5GiB"}, "simultaneous_use": 1}],
        "captiva_promotions": [{"name": f"PROMO-{p}", "profile": "etudiant-standard"}
                               for p in range(PROMOTIONS)],
    }))
    write_users(path, users)
    return path


HASHES = [sha512_crypt.using(rounds=5000).hash(f"password-{n}") for n in range(2)]


def write_users(inventory: Path, count: int) -> None:
    users = [{"username": f"STU{i:06d}", "first_name": "Awa", "last_name": "Ngono",
              "email": f"stu{i}@etu.campus.test", "promotion": f"PROMO-{i % PROMOTIONS}",
              "password_hash": HASHES[i % 2]} for i in range(count)]
    (inventory / "group_vars" / "all" / "users.json").write_text(
        json.dumps({"captiva_users": users}))


def make(target: str, inventory: Path, profile: bool = False) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds of make and all it ran, and the output of one make target."""
    env = {k: v for k, v in os.environ.items() if k != "MAKEFLAGS"}
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    if profile:
        env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    run = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), target,  # noqa: S603, S607
                          f"INVENTORY={inventory}"], env=env, capture_output=True, text=True,
                         timeout=900, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if run.returncode != 0:
        raise RuntimeError(f"make {target} failed:\n{run.stdout[-4000:]}\n{run.stderr[-2000:]}")
    return wall, cpu, run.stdout


def summary(output: str) -> str:
    text = " ".join(output.split())
    start = text.rfind("Captiva ")
    return text[start:text.find("PLAY RECAP", start)].rstrip(" '\"")


def run_bench(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="captiva-roster-bench-") as tmp, \
            production_postgres(False) as pg, radius_database(pg) as db:
        base = Path(tmp)
        sims = []
        try:
            for n in range(args.routers):
                (base / f"sim{n}").mkdir()
                sims.append(start_sim(base / f"sim{n}"))
            inventory = write_inventory(base / "campus", db, sims, args.users)
            print(f"campus: {args.users} users, {PROMOTIONS} promotions, {args.routers} "
                  f"router(s); converging it once (make apply-roster) ...", flush=True)
            first = make("apply-roster", inventory)
            print(f"  first apply-roster: {first[0]:.1f} s wall, {first[1]:.1f} s CPU")
            write_users(inventory, args.users + 1)  # the daily change: one student more
            figures = {}
            for label, target in (("plan-roster, one user added", "plan-roster"),
                                  ("apply-roster, one user added", "apply-roster"),
                                  ("apply-roster, nothing to change", "apply-roster")):
                wall, cpu, output = make(target, inventory, args.profile)
                figures[label] = (wall, cpu)
                print(f"  make {target:13s} {wall:6.1f} s wall  {cpu:6.1f} s CPU   "
                      f"{summary(output)}")
                if args.profile:
                    print(output[output.find("TASKS RECAP"):].rstrip())
        finally:
            for sim in sims:
                stop_sim(sim)
    print(f"\nload average {os.getloadavg()[0]:.1f} (2 cores: a wall clock above the CPU "
          "time is waiting for the machine)")
    wall, cpu = figures["apply-roster, one user added"]
    return floors_table(
        ("measure", "figure", "floor"),
        [("make apply-roster, one user added (wall)", f"{wall:.1f} s", f"<= {FLOOR_SECONDS:.0f} s",
          wall <= FLOOR_SECONDS),
         ("make apply-roster, one user added (CPU)", f"{cpu:.1f} s", f"<= {FLOOR_SECONDS:.0f} s",
          cpu <= FLOOR_SECONDS)])


def main(argv: list[str] | None = None) -> int:
    return bench_main("roster_bench", parse, run_bench, argv)


if __name__ == "__main__":
    sys.exit(main())
