"""Adopting an existing FreeRADIUS database (issue 15): a daloRADIUS-style database made from
FreeRADIUS's own stock schema becomes an equivalent Captiva roster, and everything that cannot
be mapped is reported with the reason; the scan changes nothing."""

from pathlib import Path

import yaml
from passlib.hash import sha512_crypt
from processes import missing

from captiva.onboarding import inventory
from captiva.onboarding.cli import main

STOCK_SCHEMA = Path("/etc/freeradius/3.0/mods-config/sql/main/postgresql/schema.sql")

DALORADIUS_ROWS = """
INSERT INTO radgroupreply (groupname, attribute, op, value) VALUES
  ('Etudiants', 'Mikrotik-Rate-Limit', ':=', '2M/10M'),
  ('Etudiants', 'Session-Timeout', ':=', '28800'),
  ('Etudiants', 'Idle-Timeout', ':=', '600'),
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
    assert profiles["etudiants"]["bandwidth"] == {"upload": "2M", "download": "10M"}
    assert profiles["etudiants"]["session_timeout"] == 28800
    assert profiles["etudiants"]["idle_timeout"] == 600
    assert profiles["etudiants"]["simultaneous_use"] == 1
    assert profiles["etudiants"]["quota"] == {"total": 1073741824 + (1 << 32)}  # exact, > 4 GiB
    users = {u["username"]: u for u in yaml.safe_load((out / "users.yml").read_text())[
        "captiva_users"]}
    assert users["alice"]["profile"] == "etudiants"
    assert users["alice"]["expires"] == "2027-07-31"
    assert sha512_crypt.verify("alice-old-pass", users["alice"]["password_hash"])
    assert users["carol"]["enabled"] is False
    assert "password" not in users["bob"] and "password_hash" not in users["bob"]

    report = (out / "adopt-report.md").read_text()
    for line in ("| radgroupreply | Etudiants | WISPr-Redirection-URL |",
                 "| radgroupcheck | Etudiants | Max-Daily-Session | 14400 | a time counter",
                 "| radcheck | bob | Crypt-Password | ******** | not sha512-crypt",
                 "| radreply | alice | Framed-IP-Address | 10.0.0.9 | per-user reply",
                 "| radusergroup | carol | group | Staff | a Captiva user has one profile"):
        assert line in report, report
    assert "alice-old-pass" not in report

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
