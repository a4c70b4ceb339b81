"""playbooks/roster.yml (make plan-roster / make apply-roster, issue 26): the roster only,
validated, reconciled into a real PostgreSQL and onto a RouterOS API server
(tools/routeros-sim); the hosts of the other groups are never contacted. And the summary that
ends it counts every kind of change."""

import json

import yaml
from ansible_run import ansible_playbook, recap
from processes import free_port
from routeros_fixtures import start_sim, stop_sim


def roster_inventory(tmp_path, radius_db, sim, users, routers_in_hosts=False):
    """An inventory whose database and router are real (loopback), and whose database,
    FreeRADIUS and portal hosts answer on no port: any play that went to them would fail.
    Its router is declared once, in captiva_sites; routers.yml makes the group routers.
    ``routers_in_hosts``: the group written in hosts.yml instead, as inventories were before
    the inventory plugin (a release without it reads only that)."""
    closed = free_port()
    unreachable = {"ansible_host": "127.0.0.1", "ansible_port": closed,
                   "ansible_connection": "ssh"}
    inventory = tmp_path / "campus"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {
        "hosts": {"localhost": {"ansible_connection": "local",
                                "ansible_python_interpreter": "{{ ansible_playbook_python }}"}},
        "children": {
            "postgres": {"hosts": {"db1": unreachable}},
            "freeradius": {"hosts": {"radius1": unreachable}},
            "portal": {"hosts": {"portal1": unreachable}},
            **({"routers": {"hosts": {"gw1": None}}} if routers_in_hosts else {}),
        }}}))
    if not routers_in_hosts:
        (inventory / "routers.yml").write_text("plugin: captiva.campus.captiva_routers\n")
    settings = {
        # CHAP login: no hotspot certificate to make for this router.
        "captiva_password_storage": "cleartext",
        "captiva_hotspot_login_by": ["http-chap", "cookie"],
        "captiva_radius_servers": ["127.0.0.1"],
        "captiva_portal": {"address": "127.0.0.1", "dns_name": "portal.campus.test"},
        "captiva_database": {"host": "127.0.0.1", "port": radius_db.server.port,
                             "name": radius_db.name, "ssl_mode": "disable"},
        "captiva_db_passwords": {"reconcile": "test-reconcile-password"},
        "captiva_sites": [{"name": "campus-a", "networks": ["10.5.60.0/24"], "routers": [{
            "name": "gw1", "address": "127.0.0.1", "radius_secret": "a-long-enough-radius-secret",
            "api": {"username": sim.user, "password": sim.password, "port": sim.port,
                    "tls": False}}]}],
    }
    (inventory / "group_vars" / "all" / "settings.yml").write_text(yaml.safe_dump(settings))
    write_roster(inventory, users)
    return inventory


def write_roster(inventory, users, **lists):
    roster = {
        "captiva_profiles": [{"name": "etudiant-standard",
                              "bandwidth": {"upload": "2M", "download": "10M"},
                              "simultaneous_use": 1}],
        "captiva_promotions": [{"name": "L3", "profile": "etudiant-standard"}],
        "captiva_users": [{"username": u, "password": f"{u}-secret-pw", "promotion": "L3"}
                          for u in users],
        **lists,
    }
    (inventory / "group_vars" / "all" / "roster.yml").write_text(yaml.safe_dump(roster))


def flat(output: str) -> str:
    """The output with every run of whitespace as one space (the callback wraps long lines)."""
    return " ".join(output.split())


def test_apply_roster_reconciles_radius_and_the_routers_and_contacts_no_host(
        tmp_path, radius_db):
    sim = start_sim(tmp_path)
    try:
        inventory = roster_inventory(tmp_path, radius_db, sim, ["alice01", "bob0002"])
        plan = ansible_playbook(inventory, "roster.yml", "--check", "--diff")
        assert plan.returncode == 0, plan.stdout
        assert "Captiva plan: users: +2 ~0 -0" in flat(plan.stdout)
        with radius_db.connect() as conn:
            assert conn.execute("SELECT count(*) FROM captiva_user").fetchone()[0] == 0

        applied = ansible_playbook(inventory, "roster.yml")
        assert applied.returncode == 0, applied.stdout
        assert "router menus: 1 of 1 routers changed" in flat(applied.stdout)
        hosts = {line.split()[0] for line in applied.stdout.split("PLAY RECAP", 1)[1]
                 .splitlines() if ":" in line and "ok=" in line}
        assert hosts == {"localhost", "gw1"}  # no SSH to db1, radius1, portal1
        with radius_db.connect() as conn:
            assert conn.execute("SELECT count(*) FROM captiva_user").fetchone()[0] == 2
        assert "etudiant-standard" in {p["name"] for p in sim.rows("/ip/hotspot/user/profile")}
        assert "alice01-secret-pw" not in applied.stdout

        # The daily change: one user more; then nothing left to do.
        write_roster(inventory, ["alice01", "bob0002", "carol003"])
        one = ansible_playbook(inventory, "roster.yml")
        assert one.returncode == 0, one.stdout
        assert ("Captiva applied: users: +1 ~0 -0 | groups: +0 ~0 -0 | router menus: 0 of 1 "
                "routers changed") in flat(one.stdout)
        again = ansible_playbook(inventory, "roster.yml")
        assert again.returncode == 0, again.stdout
        assert recap(again.stdout)["changed"] == 0
        assert " changed=0 " in again.stdout.split("PLAY RECAP", 1)[1].split("gw1", 1)[1]
    finally:
        stop_sim(sim)


def test_the_summary_and_the_report_count_staff_and_workstations(tmp_path, radius_db):
    """Issue 26: a change of staff roles and workstations showed as `localhost changed=1`
    with `users +0 ~0 -0` and nothing else; every kind now has its count."""
    sim = start_sim(tmp_path)
    try:
        inventory = roster_inventory(tmp_path, radius_db, sim, ["alice01", "bob0002"])
        assert ansible_playbook(inventory, "roster.yml").returncode == 0
        write_roster(inventory, ["alice01", "bob0002"],
                     captiva_staff=[{"username": "alice01", "role": "admin"}],
                     captiva_workstations=[{"name": "BIB-PC-01", "site": "campus-a",
                                            "mac": "02:00:5e:10:00:01", "ip": "10.5.60.11",
                                            "room": "Bibliotheque"}])
        report = tmp_path / "plan"
        plan = ansible_playbook(inventory, "roster.yml", "--check", "--diff",
                                env={"ANSIBLE_CALLBACKS_ENABLED": "captiva.campus.captiva_report",
                                     "CAPTIVA_REPORT": str(report)})
        assert plan.returncode == 0, plan.stdout
        summary = flat(plan.stdout)
        assert ("Captiva plan: users: +0 ~0 -0 | groups: +0 ~0 -0 | staff: +1 ~0 -0 | "
                "workstations: +1 ~0 -0 | router menus: 1 of 1 routers changed") in summary
        kinds = json.loads(report.with_suffix(".json").read_text())["kinds"]
        assert kinds["staff"] == {"added": 1, "changed": 0, "removed": 0}
        assert kinds["workstations"] == {"added": 1, "changed": 0, "removed": 0}
        # The workstations' hotspot user profile, on the one router (its entries are censored
        # by mikrotik_no_log, the role's default).
        assert kinds["router_menus"] == {"added": 0, "changed": 1, "removed": 0}
        markdown = report.with_suffix(".md").read_text()
        assert "| staff | 1 | 0 | 0 |" in markdown and "| workstations | 1 | 0 | 0 |" in markdown

        applied = ansible_playbook(inventory, "roster.yml")
        assert applied.returncode == 0, applied.stdout
        assert "staff: +1 ~0 -0 | workstations: +1 ~0 -0" in flat(applied.stdout)
        # A role changes: counted as a change of staff, and nothing else.
        write_roster(inventory, ["alice01", "bob0002"],
                     captiva_staff=[{"username": "alice01", "role": "viewer"}],
                     captiva_workstations=[{"name": "BIB-PC-01", "site": "campus-a",
                                            "mac": "02:00:5e:10:00:01", "ip": "10.5.60.11",
                                            "room": "Bibliotheque"}])
        changed = ansible_playbook(inventory, "roster.yml")
        assert ("Captiva applied: users: +0 ~0 -0 | groups: +0 ~0 -0 | staff: +0 ~1 -0 | "
                "router menus: 0 of 1 routers changed") in flat(changed.stdout)
    finally:
        stop_sim(sim)
