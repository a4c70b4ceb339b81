"""captiva_radius through ansible-playbook: plan, apply, idempotence, secrets kept out."""

import textwrap

import yaml
from ansible_run import ansible_playbook, recap


def write_inventory(tmp_path, radius_db, users):
    port = radius_db.server.port
    inventory = tmp_path / "inventory"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(textwrap.dedent("""\
        all:
          hosts:
            localhost:
              ansible_connection: local
              ansible_python_interpreter: "{{ ansible_playbook_python }}"
        """))
    roster = {
        "captiva_radius_servers": ["127.0.0.1"],
        "captiva_portal": {"address": "127.0.0.1", "dns_name": "portal.campus.test"},
        "captiva_database": {"host": "127.0.0.1", "port": port, "name": radius_db.name,
                             "ssl_mode": "disable"},
        "captiva_db_passwords": {"reconcile": "test-reconcile-password"},
        "captiva_profiles": [{"name": "etudiant-standard",
                              "bandwidth": {"upload": "2M", "download": "10M"},
                              "simultaneous_use": 1}],
        "captiva_promotions": [{"name": "L3", "profile": "etudiant-standard"}],
        "captiva_users": [{"username": u, "password": f"{u}-secret-pw", "promotion": "L3"}
                          for u in users],
    }
    (inventory / "group_vars" / "all" / "roster.yml").write_text(yaml.safe_dump(roster))
    return inventory


def test_plan_apply_and_second_apply_changes_nothing(tmp_path, radius_db):
    inventory = write_inventory(tmp_path, radius_db, ["alice01", "bob0002"])

    plan = ansible_playbook(inventory, "reconcile.yml", "--check", "--diff")
    assert plan.returncode == 0, plan.stdout
    assert "RADIUS plan: users: +2 ~0 -0" in plan.stdout
    assert "+ check Crypt-Password := ********" in plan.stdout  # the diff, masked
    assert "alice01-secret-pw" not in plan.stdout
    with radius_db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM captiva_user").fetchone()[0] == 0

    apply = ansible_playbook(inventory, "reconcile.yml", "--diff")
    assert apply.returncode == 0, apply.stdout
    assert recap(apply.stdout)["changed"] == 1
    assert "alice01-secret-pw" not in apply.stdout
    with radius_db.connect() as conn:
        stored = conn.execute("SELECT value FROM radcheck WHERE username = 'alice01'").fetchone()
    assert stored[0] not in apply.stdout  # not even the hash

    again = ansible_playbook(inventory, "reconcile.yml")
    assert again.returncode == 0, again.stdout
    assert recap(again.stdout)["changed"] == 0
    assert "RADIUS applied: users: +0 ~0 -0 | groups: +0 ~0 -0" in again.stdout

    check = ansible_playbook(inventory, "reconcile.yml", "--check")
    assert recap(check.stdout)["changed"] == 0


def test_invalid_roster_changes_nothing(tmp_path, radius_db):
    inventory = write_inventory(tmp_path, radius_db, ["alice01"])
    assert ansible_playbook(inventory, "reconcile.yml").returncode == 0
    roster_file = inventory / "group_vars" / "all" / "roster.yml"
    roster = yaml.safe_load(roster_file.read_text())
    roster["captiva_users"].append({"username": "carol003", "password": "carol003-pw",
                                    "promotion": "L3X"})
    roster_file.write_text(yaml.safe_dump(roster))
    result = ansible_playbook(inventory, "reconcile.yml")
    assert result.returncode != 0
    assert ("captiva_users[1].promotion: unknown promotion 'L3X' (did you mean 'L3'?)"
            in result.stdout)
    assert "roster.yml:" in result.stdout
    with radius_db.connect() as conn:
        users = [r[0] for r in conn.execute("SELECT username FROM captiva_user")]
    assert users == ["alice01"]


def test_mass_prune_refused_through_ansible(tmp_path, radius_db):
    users = [f"user{i:04d}" for i in range(20)]
    inventory = write_inventory(tmp_path, radius_db, users)
    assert ansible_playbook(inventory, "reconcile.yml").returncode == 0
    inventory = write_inventory(tmp_path / "emptied", radius_db, [])
    result = ansible_playbook(inventory, "reconcile.yml")
    assert result.returncode != 0
    assert "refusing to remove 20 of the 20 users" in result.stdout
    allowed = ansible_playbook(inventory, "reconcile.yml", "-e", "captiva_allow_mass_prune=true")
    assert allowed.returncode == 0, allowed.stdout
    assert "users: +0 ~0 -20" in allowed.stdout
