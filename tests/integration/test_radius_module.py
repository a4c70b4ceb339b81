"""captiva_radius through ansible-playbook: plan, apply, idempotence, secrets kept out."""

import textwrap

import yaml
from ansible_run import ROOT, ansible_playbook, recap


def write_inventory(tmp_path, radius_db, users, **settings):
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
        "captiva_users": [{"username": u, "password": f"{u}-secret-pw", "promotion": "L3",
                           "first_name": f"First-{u}", "last_name": f"Last-{u}",
                           "email": f"{u}@mail.campus.test"}
                          for u in users],
        **settings,
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


def test_summary_counts_users_by_their_real_activation_day(tmp_path, radius_db):
    # A user without `activated` counts from the day Captiva first provisioned them: the
    # database's activated_on, not the day of this run.
    inventory = write_inventory(tmp_path, radius_db, ["alice01", "bob0002"])
    roster_file = inventory / "group_vars" / "all" / "roster.yml"
    roster = yaml.safe_load(roster_file.read_text())
    roster["captiva_profiles"][0]["validity_days"] = 180
    roster_file.write_text(yaml.safe_dump(roster))
    assert ansible_playbook(inventory, "reconcile.yml").returncode == 0
    with radius_db.connect() as conn:
        conn.execute("UPDATE captiva_user SET activated_on = current_date - 400 "
                     "WHERE username = 'alice01'")
    plan = ansible_playbook(inventory, "reconcile.yml", "--check")
    assert plan.returncode == 0, plan.stdout
    assert "2 users: 1 active, 1 expired, 0 disabled, 0 WiFi off" in " ".join(plan.stdout.split())


def test_database_failure_reports_no_detail_and_no_secret(tmp_path, radius_db):
    # A constraint that fails on the COPY of a cleartext password: PostgreSQL's DETAIL then
    # quotes the whole row, password included.
    with radius_db.connect() as conn:
        conn.execute("ALTER TABLE radcheck ADD CONSTRAINT captiva_test_refuse "
                     "CHECK (value NOT LIKE '%-secret-pw')")
    inventory = write_inventory(tmp_path, radius_db, ["alice01"],
                                captiva_password_storage="cleartext",
                                captiva_hotspot_login_by=["http-chap", "cookie"])
    result = ansible_playbook(inventory, "reconcile.yml", "-v")
    assert result.returncode != 0
    assert "alice01-secret-pw" not in result.stdout
    assert "Failing row contains" not in result.stdout
    assert "database error, nothing was changed: 23514: new row for relation" in result.stdout


def test_plan_diff_masks_personal_data_unless_asked(tmp_path, radius_db):
    inventory = write_inventory(tmp_path, radius_db, ["alice01"])
    plan = ansible_playbook(inventory, "reconcile.yml", "--check", "--diff")
    assert plan.returncode == 0, plan.stdout
    assert "user alice01" in plan.stdout and "first_name=********" in plan.stdout
    for personal in ("First-alice01", "Last-alice01", "alice01@mail.campus.test"):
        assert personal not in plan.stdout
    shown = ansible_playbook(inventory, "reconcile.yml", "--check", "--diff",
                             "-e", "captiva_show_personal_data=true")
    assert shown.returncode == 0, shown.stdout
    assert "first_name=First-alice01" in shown.stdout
    assert "email=alice01@mail.campus.test" in shown.stdout


def test_the_roster_is_validated_and_compiled_once_a_run(tmp_path, radius_db):
    # site.yml imports validate.yml, then reconcile.yml, which imports validate.yml again.
    inventory = write_inventory(tmp_path, radius_db, ["alice01"])
    probe = ROOT / "playbooks" / f"_probe_once_{tmp_path.name}.yml"
    probe.write_text("- ansible.builtin.import_playbook: validate.yml\n"
                     "- ansible.builtin.import_playbook: reconcile.yml\n")
    try:
        result = ansible_playbook(inventory, probe.name, "--check")
    finally:
        probe.unlink()
    assert result.returncode == 0, result.stdout
    runs = [part.split("\n", 2)[1] for part in
            result.stdout.split("TASK [Validate and compile the roster]")[1:]]
    assert [run.split(":")[0] for run in runs] == ["ok", "skipping"]
    assert "RADIUS plan: users: +1 ~0 -0" in result.stdout
    # captiva_radius reconciles that validated roster; it never validates one itself.
    probe.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - captiva.campus.captiva_radius: {login_host: 127.0.0.1, login_password: x}\n")
    try:
        alone = ansible_playbook(inventory, probe.name, "--check")
    finally:
        probe.unlink()
    assert alone.returncode != 0
    assert "captiva_radius needs the validated roster" in alone.stdout
