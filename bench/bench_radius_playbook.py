"""The whole `ansible-playbook playbooks/reconcile.yml` at 50,000 users: first run and no-op.

Large rosters carry sha512-crypt hashes in one users file, in JSON: Ansible's own YAML loader
needs about 15 s for 50,000 users before any task runs, its JSON loader about 2 s (see
README "Large rosters"). The YAML figure is measured too, for comparison. Each run is timed in
wall clock and in CPU time (ansible-playbook and the processes it ran, PostgreSQL excluded):
the CPU time holds on a machine shared with other work.
"""

import json
import os
import resource
import time

import yaml
from ansible_run import ansible_playbook, recap
from bench_radius import HASHES

USERS = int(os.environ.get("CAPTIVA_BENCH_USERS", "50000"))


def test_playbook_no_op_at_scale(tmp_path, radius_db):
    inventory = tmp_path / "inventory"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        "      ansible_python_interpreter: '{{ ansible_playbook_python }}'\n")
    roster = {
        "captiva_radius_servers": ["127.0.0.1"],
        "captiva_portal": {"address": "127.0.0.1", "dns_name": "portal.campus.test"},
        "captiva_database": {"host": "127.0.0.1", "port": radius_db.server.port,
                             "name": radius_db.name, "ssl_mode": "disable"},
        "captiva_db_passwords": {"reconcile": "test-reconcile-password"},
        "captiva_profiles": [{"name": "etudiant-standard",
                              "bandwidth": {"upload": "2M", "download": "10M"},
                              "quota": {"daily": "5GiB"}, "simultaneous_use": 1}],
        "captiva_promotions": [{"name": f"PROMO-{p}", "profile": "etudiant-standard"}
                               for p in range(40)],
    }
    (inventory / "group_vars" / "all" / "roster.yml").write_text(yaml.safe_dump(roster))
    users = [{"username": f"STU{i:06d}", "first_name": "Awa", "last_name": "Ngono",
              "email": f"stu{i}@etu.campus.test", "promotion": f"PROMO-{i % 40}",
              "password_hash": HASHES[i % 2]} for i in range(USERS)]
    users_json = inventory / "group_vars" / "all" / "users.json"
    users_json.write_text(json.dumps({"captiva_users": users}))
    times, cpu = {}, {}
    for label in ("first run", "no-op", "no-op, check mode", "no-op, users in YAML"):
        args = ("--check",) if "check" in label else ()
        if "YAML" in label:
            users_json.unlink()
            (inventory / "group_vars" / "all" / "users.yml").write_text(yaml.dump(
                {"captiva_users": users}, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper)))
        started = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = ansible_playbook(inventory, "reconcile.yml", *args)
        times[label] = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        # ansible-playbook, its workers and the modules they ran (all waited for)
        cpu[label] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        assert result.returncode == 0, result.stdout[-3000:]
        if label != "first run":
            assert recap(result.stdout)["changed"] == 0
    print()
    print(f"ansible-playbook playbooks/reconcile.yml, {USERS} users (wall clock, and CPU time "
          f"of ansible-playbook and every process it ran; load average "
          f"{os.getloadavg()[0]:.1f})")
    for label, seconds in times.items():
        print(f"  {label:20s} {seconds:7.2f} s wall  {cpu[label]:7.2f} s CPU")
