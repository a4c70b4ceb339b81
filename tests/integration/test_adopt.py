"""Adopting an existing FreeRADIUS database (issue 15): a daloRADIUS-style database made from
FreeRADIUS's own stock schema becomes an equivalent Captiva roster, and everything that cannot
be mapped is reported with the reason; the scan changes nothing."""

import threading
import time
from pathlib import Path

import radius_fixtures
import yaml
from ansible_run import ansible_playbook, recap
from passlib.hash import sha512_crypt
from processes import missing
from routeros_fixtures import start_sim, stop_sim
from test_radius_module import write_inventory
from yamllint import config, linter

from captiva.onboarding import inventory
from captiva.onboarding.cli import main

radius_server = radius_fixtures.radius_server
STOCK_SCHEMA = Path("/etc/freeradius/3.0/mods-config/sql/main/postgresql/schema.sql")

DALORADIUS_ROWS = """
INSERT INTO radgroupreply (groupname, attribute, op, value) VALUES
  ('Etudiants', 'Mikrotik-Rate-Limit', ':=', '2M/10M'),
  ('Etudiants', 'Session-Timeout', ':=', '28800'),
  ('Etudiants', 'Idle-Timeout', ':=', '600'),
  ('Etudiants', 'Acct-Interim-Interval', ':=', '600'),
  ('Etudiants', 'Mikrotik-Total-Limit', ':=', '1073741824'),
  ('Etudiants', 'Mikrotik-Total-Limit-Gigawords', ':=', '1'),
  ('Etudiants', 'WISPr-Redirection-URL', ':=', 'http://example.org/');
INSERT INTO radgroupcheck (groupname, attribute, op, value) VALUES
  ('Etudiants', 'Simultaneous-Use', ':=', '1'),
  ('Etudiants', 'Max-Daily-Session', ':=', '14400');
INSERT INTO radcheck (username, attribute, op, value) VALUES
  ('alice', 'Cleartext-Password', ':=', 'alice-old-pass'),
  ('alice', 'Expiration', ':=', '31 Jul 2027'),
  ('bob', 'Crypt-Password', ':=', '$1$abc$md5cryptisnotsupported'),
  ('carol', 'Cleartext-Password', ':=', 'carol-old-pass'),
  ('carol', 'Auth-Type', ':=', 'Reject');
INSERT INTO radreply (username, attribute, op, value) VALUES
  ('alice', 'Framed-IP-Address', '=', '10.0.0.9');
INSERT INTO radusergroup (username, groupname, priority) VALUES
  ('alice', 'Etudiants', 1), ('bob', 'Etudiants', 1), ('carol', 'Etudiants', 1),
  ('carol', 'Staff', 2);
"""


def test_a_daloradius_database_becomes_a_roster_and_a_report(empty_db, tmp_path, capsys):
    if not STOCK_SCHEMA.exists():
        missing(f"FreeRADIUS's schema.sql is not installed ({STOCK_SCHEMA})")
    with empty_db.connect() as conn:
        conn.execute(STOCK_SCHEMA.read_text())
        conn.execute(DALORADIUS_ROWS)
        before = conn.execute("SELECT count(*) FROM radcheck").fetchone()[0]

    out = tmp_path / "adopted"
    assert main(["adopt-db", "--dsn", empty_db.dsn, "--out", str(out)]) == 0
    assert "adopt: 2 profiles, 3 users" in capsys.readouterr().out

    profiles = {p["name"]: p for p in yaml.safe_load((out / "profiles.yml").read_text())[
        "captiva_profiles"]}
    assert profiles["Etudiants"]["bandwidth"] == {"upload": "2M", "download": "10M"}
    assert profiles["Etudiants"]["session_timeout"] == 28800
    assert profiles["Etudiants"]["idle_timeout"] == 600
    assert profiles["Etudiants"]["simultaneous_use"] == 1
    assert profiles["Etudiants"]["quota"] == {"total": 1073741824 + (1 << 32)}  # exact, > 4 GiB
    users = {u["username"]: u for u in yaml.safe_load((out / "users.yml").read_text())[
        "captiva_users"]}
    assert users["alice"]["profile"] == "Etudiants"
    assert users["alice"]["expires"] == "2027-07-31"
    assert sha512_crypt.verify("alice-old-pass", users["alice"]["password_hash"])
    assert users["carol"]["enabled"] is False
    assert "password" not in users["bob"] and "password_hash" not in users["bob"]

    report = (out / "adopt-report.md").read_text()
    for line in ("| radgroupreply | Etudiants | WISPr-Redirection-URL |",
                 "| radgroupcheck | Etudiants | Max-Daily-Session | 14400 | a time counter",
                 "| radcheck | bob | Crypt-Password | ******** | not sha512-crypt",
                 "| radreply | alice | Framed-IP-Address | 10.0.0.9 | per-user reply",
                 "| radusergroup | carol | group | Staff | a Captiva user has one profile",
                 # Issue 26: no longer dropped without a word.
                 "| radgroupreply | Etudiants | Acct-Interim-Interval | 600 | Captiva sends one "
                 "interval for every profile, captiva_interim_interval (default 5m = 300 s): "
                 "the adopting apply replaces this one; set captiva_interim_interval: 600 to "
                 "keep it |"):
        assert line in report, report
    assert "alice-old-pass" not in report
    # The written files pass the linters a campus runs (the project's yamllint, strict).
    conf = config.YamlLintConfig(file=str(inventory.ROOT / ".yamllint"))
    for name in ("profiles.yml", "users.yml"):
        path = out / name
        assert [str(p) for p in linter.run(path.read_text(), conf, str(path))] == []

    # The adopted files validate as a roster, in a campus's settings and sites.
    variables = inventory.plain(inventory.load(inventory.DEFAULTS))
    example = inventory.ROOT / "inventories" / "example" / "group_vars" / "all"
    for name in ("settings.yml", "sites.yml"):
        variables.update(inventory.plain(inventory.load(example / name)))
    for name in ("profiles.yml", "users.yml"):
        variables.update(inventory.plain(inventory.load(out / name)))
    users_ok = [u for u in variables["captiva_users"] if u["username"] != "bob"]
    variables["captiva_users"] = users_ok
    roster, errors = inventory.validate(variables)
    assert errors == [], [e.render() for e in errors]
    assert {u["username"] for u in roster.users} == {"alice", "carol"}

    # A scan, not a migration: the database is as it was.
    with empty_db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM radcheck").fetchone()[0] == before


def seed_router(sim):
    api = sim.connect()
    try:
        for words in (
            ("/ip/hotspot/user/profile/add", "=name=etudiants", "=rate-limit=2M/10M",
             "=session-timeout=8h", "=idle-timeout=10m", "=shared-users=1"),
            ("/ip/hotspot/user/add", "=name=dave", "=password=dave-router-pw",
             "=profile=etudiants", "=email=dave@etu.cm"),
            ("/ip/hotspot/user/add", "=name=erin", "=password=erin-router-pw",
             "=profile=etudiants", "=disabled=yes", "=limit-bytes-total=1000000"),
        ):
            list(api.rawCmd(*words))
    finally:
        api.close()


def test_a_routers_local_hotspot_users_become_a_roster(tmp_path, capsys):
    sim = start_sim(tmp_path)
    try:
        seed_router(sim)
        (tmp_path / "api-pw").write_text(sim.password)
        out = tmp_path / "adopted"
        assert main(["adopt-routeros", "--host", sim.host, "--port", str(sim.port), "--plain",
                     "--username", sim.user, "--password-file", str(tmp_path / "api-pw"),
                     "--out", str(out)]) == 0
    finally:
        stop_sim(sim)
    assert "adopt: 1 profiles, 2 users" in capsys.readouterr().out
    profile = yaml.safe_load((out / "profiles.yml").read_text())["captiva_profiles"][0]
    assert profile["name"] == "etudiants"
    assert profile["bandwidth"] == {"upload": "2M", "download": "10M"}
    assert (profile["session_timeout"], profile["idle_timeout"]) == (28800, 600)
    assert profile["simultaneous_use"] == 1
    users = {u["username"]: u for u in yaml.safe_load((out / "users.yml").read_text())[
        "captiva_users"]}
    assert users["dave"]["profile"] == "etudiants"
    assert users["dave"]["email"] == "dave@etu.cm"
    assert sha512_crypt.verify("dave-router-pw", users["dave"]["password_hash"])
    assert users["erin"]["enabled"] is False
    report = (out / "adopt-report.md").read_text()
    assert "| /ip/hotspot/user | erin | limit-bytes-total | 1000000 | per-user router limit" \
        in report
    assert "local hotspot users shadow RADIUS" in report


def test_passwords_the_router_does_not_return_are_reported_not_invented(tmp_path, capsys):
    sim = start_sim(tmp_path, "--no-sensitive")
    try:
        seed_router(sim)
        (tmp_path / "api-pw").write_text(sim.password)
        out = tmp_path / "adopted"
        assert main(["adopt-routeros", "--host", sim.host, "--port", str(sim.port), "--plain",
                     "--username", sim.user, "--password-file", str(tmp_path / "api-pw"),
                     "--out", str(out)]) == 0
    finally:
        stop_sim(sim)
    users = {u["username"]: u for u in yaml.safe_load((out / "users.yml").read_text())[
        "captiva_users"]}
    assert "password" not in users["dave"] and "password_hash" not in users["dave"]
    report = (out / "adopt-report.md").read_text()
    assert ("| /ip/hotspot/user | dave | password | ******** | the router did not return it "
            "(the API user lacks the 'sensitive' policy)") in report


def test_an_adopting_apply_takes_the_rows_over_in_place_and_logins_never_fail(
        radius_server, tmp_path, capsys):
    """daloRADIUS rows in the database FreeRADIUS reads; adopt-db writes the roster; one apply
    with captiva_adopt=true takes the rows over while a router keeps logging the user in."""
    db = radius_server.db
    with db.connect() as conn:
        conn.execute("INSERT INTO radcheck (username, attribute, op, value) VALUES "
                     "('alice', 'Cleartext-Password', ':=', 'alice-old-pass')")
        conn.execute("INSERT INTO radusergroup (username, groupname, priority) VALUES "
                     "('alice', 'Etudiants', 1)")
        conn.execute("INSERT INTO radgroupreply (groupname, attribute, op, value) VALUES "
                     "('Etudiants', 'Mikrotik-Rate-Limit', ':=', '2M/10M')")
        ids_before = conn.execute("SELECT 'radcheck', id FROM radcheck UNION ALL "
                                  "SELECT 'radusergroup', id FROM radusergroup UNION ALL "
                                  "SELECT 'radgroupreply', id FROM radgroupreply").fetchall()
    reply = radius_server.authenticate("alice", "alice-old-pass")
    assert reply is not None and reply.code == 2  # Access-Accept before the switch

    out = tmp_path / "adopted"
    assert main(["adopt-db", "--dsn", db.dsn, "--out", str(out)]) == 0
    inventory = write_inventory(tmp_path, db, [])
    roster_file = inventory / "group_vars" / "all" / "roster.yml"
    roster = yaml.safe_load(roster_file.read_text())
    roster.pop("captiva_users")
    roster.pop("captiva_profiles")
    roster.pop("captiva_promotions")
    roster_file.write_text(yaml.safe_dump(roster))
    for name in ("profiles.yml", "users.yml"):
        (inventory / "group_vars" / "all" / name).write_text((out / name).read_text())

    plan = ansible_playbook(inventory, "reconcile.yml", "--check", "--diff",
                            "-e", "captiva_adopt=true")
    assert plan.returncode == 0, plan.stdout

    replies, stop = [], threading.Event()

    def keep_logging_in():
        while not stop.is_set():
            answer = radius_server.authenticate("alice", "alice-old-pass", timeout=2)
            replies.append(None if answer is None else answer.code)
            time.sleep(0.02)

    prober = threading.Thread(target=keep_logging_in)
    prober.start()
    try:
        applied = ansible_playbook(inventory, "reconcile.yml", "-e", "captiva_adopt=true")
        time.sleep(0.5)
    finally:
        stop.set()
        prober.join()
    assert applied.returncode == 0, applied.stdout
    assert len(replies) > 10
    assert set(replies) == {2}, replies  # every login accepted, throughout

    with db.connect() as conn:
        rows = conn.execute("SELECT username, attribute, managed_by FROM radcheck "
                            "WHERE username = 'alice' ORDER BY attribute").fetchall()
        membership = conn.execute("SELECT groupname, managed_by FROM radusergroup "
                                  "WHERE username = 'alice'").fetchall()
        group = conn.execute("SELECT id, value, managed_by FROM radgroupreply "
                             "WHERE groupname = 'Etudiants' AND attribute = "
                             "'Mikrotik-Rate-Limit'").fetchall()
    # In place, no duplicates: one password row (now sha512-crypt), one membership, one rate.
    assert [(r[1], r[2]) for r in rows] == [("Crypt-Password", "captiva")]
    assert membership == [("Etudiants", "captiva")]
    assert len(group) == 1 and group[0][1:] == ("2M/10M", "captiva")
    assert ("radgroupreply", group[0][0]) in ids_before  # the very row, not a copy
    after = radius_server.authenticate("alice", "alice-old-pass")
    assert after is not None and after.code == 2

    # A second run: nothing to adopt, nothing to change, nothing foreign left.
    again = ansible_playbook(inventory, "reconcile.yml", "-e", "captiva_adopt=true")
    assert recap(again.stdout)["changed"] == 0, again.stdout
