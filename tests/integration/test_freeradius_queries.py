"""The accounting double (rlm_sql.py) is the deployed queries, and behaves as FreeRADIUS does.

- Without FreeRADIUS: the double reads every accounting query from the role's templates and
  leaves no expansion unbound.
- With the role rendered by Ansible: the queries the double runs are, text for text, those of
  the files the role writes (so a template change cannot leave the double behind).
- With a real FreeRADIUS: the same packets, sent to FreeRADIUS and given to the double, leave
  the same radacct rows.
"""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
import radius_fixtures
import rlm_sql
from quota_radius_fixtures import wait_replayed
from radius_fixtures import (
    ROLE_VARS,
    ROUTER_ADDRESS,
    copy_package_config,
    require_freeradius,
    run_role,
)

radius_server = radius_fixtures.radius_server

STATUS_TYPES = ("start", "interim-update", "stop", "accounting-on", "accounting-off")


def test_every_accounting_query_comes_from_the_template_with_every_expansion_bound():
    queries = rlm_sql.accounting_queries(rlm_sql.deployed())
    assert set(STATUS_TYPES) <= set(queries)
    template = rlm_sql.QUERIES_TEMPLATE.read_text()
    for name in STATUS_TYPES:
        assert queries[name], name
        for text in queries[name]:
            query = rlm_sql.Query.translate(text)
            assert "${" not in text and "%{" not in query.sql and "%l" not in query.sql
            # The statement is the template's, references resolved: its table is radacct.
            assert "radacct" in text or "nasreload" in text
    assert "Stale-Session" in template  # what the late-Stop tests rely on


def test_xlat_expansions_evaluate_as_freeradius_prints_them():
    attributes = {"Acct-Session-Time": 60, "NAS-IP-Address": "10.0.0.1", "%l": 99,
                  "Acct-Status-Type": "Interim-Update"}
    assert rlm_sql.expand("%{%{Acct-Session-Time}:-NULL}", attributes) == "60"
    assert rlm_sql.expand("%{%{Acct-Input-Octets}:-0}", attributes) == "0"
    assert rlm_sql.expand("%{%{NAS-IPv6-Address}:-%{NAS-IP-Address}}", attributes) == "10.0.0.1"
    assert rlm_sql.expand("%{%{integer:Event-Timestamp}:-%l}", attributes) == "99"
    assert rlm_sql.expand("%{%{Acct-Terminate-Cause}:-NAS-Reboot}", attributes) == "NAS-Reboot"
    assert rlm_sql.expand("%{tolower:type.%{Acct-Status-Type}.query}",
                          attributes) == "type.interim-update.query"


def test_the_double_runs_the_files_the_role_writes(tmp_path):
    require_freeradius()
    config_dir = copy_package_config(tmp_path)
    result = run_role(tmp_path, config_dir, dict(
        ROLE_VARS, freeradius_db_password="test-db-password-0123456789",
        freeradius_auth_port=41812, freeradius_acct_port=41813,
        freeradius_buffer_dir=str(tmp_path / "buffer"),
        freeradius_login_buffer_dir=str(tmp_path / "login-buffer")))
    assert result.returncode == 0, result.stdout[-3000:]
    written = rlm_sql.parse_sql_module(
        (config_dir / "mods-available" / "sql").read_text(),
        (config_dir / "mods-config" / "sql" / "main" / "postgresql"
         / "captiva-queries.conf").read_text())
    assert rlm_sql.accounting_queries(written) == rlm_sql.accounting_queries(rlm_sql.deployed())
    for key in ("sql_user_name", "event_timestamp", "event_timestamp_epoch"):
        assert written.pair(key) == rlm_sql.deployed().pair(key)
    assert (written.path("accounting").pair("reference")
            == rlm_sql.deployed().path("accounting").pair("reference"))


# The same accounting, twice: (status, minutes after the start, attributes). Event-Timestamp,
# User-Name and Acct-Session-Id are added per run.
START = dt.datetime(2026, 11, 16, 9, 0, tzinfo=dt.UTC)
PACKETS = [
    ("Start", 0, "a", {"Framed-IP-Address": "10.5.50.30"}),
    ("Interim-Update", 5, "a", {"Acct-Input-Octets": 100, "Acct-Output-Octets": 2000,
                                "Acct-Input-Gigawords": 1, "Acct-Session-Time": 300,
                                "Framed-IP-Address": "10.5.50.30"}),
    ("Interim-Update", 10, "a", {"Acct-Input-Octets": 300, "Acct-Output-Octets": 5000,
                                 "Acct-Input-Gigawords": 1, "Acct-Session-Time": 600,
                                 "Framed-IP-Address": "10.5.50.30"}),
    ("Interim-Update", 7, "a", {"Acct-Input-Octets": 200, "Acct-Output-Octets": 3000,
                                "Acct-Session-Time": 420}),  # late, smaller: changes nothing
    ("Stop", 20, "a", {"Acct-Input-Octets": 500, "Acct-Output-Octets": 9000,
                       "Acct-Input-Gigawords": 1, "Acct-Session-Time": 1200,
                       "Acct-Terminate-Cause": "User-Request"}),
    ("Stop", 25, "a", {"Acct-Input-Octets": 1, "Acct-Session-Time": 1500,
                       "Acct-Terminate-Cause": "Lost-Carrier"}),  # duplicate: nothing
    ("Interim-Update", 30, "b", {"Acct-Output-Octets": 70, "Acct-Session-Time": 600}),
    ("Stop", 40, "c", {"Acct-Input-Octets": 9, "Acct-Output-Octets": 90,
                       "Acct-Session-Time": 120, "Acct-Terminate-Cause": "Idle-Timeout"}),
]
COLUMNS = ("acctstarttime, acctupdatetime, acctstoptime, acctsessiontime, acctinputoctets,"
           " acctoutputoctets, acctterminatecause, framedipaddress, nasipaddress")


def rows_of(conn, user: str) -> list[tuple]:
    return conn.execute(
        f"SELECT right(acctsessionid, 1), {COLUMNS} FROM radacct"  # noqa: S608 - constant
        " WHERE username = %s ORDER BY acctsessionid", (user,)).fetchall()


def test_the_double_writes_what_freeradius_writes(radius_server):
    for number, (status, minutes, session, attributes) in enumerate(PACKETS):
        at = START + dt.timedelta(minutes=minutes)
        common = {"Acct-Status-Type": status, "NAS-IP-Address": ROUTER_ADDRESS,
                  "Event-Timestamp": int(at.timestamp()), **attributes}
        reply = radius_server.account(
            "twin-radius", status, f"radius-{session}",
            **{name.replace("-", "_"): value for name, value in common.items()
               if name not in ("Acct-Status-Type", "NAS-IP-Address")})
        assert reply.code == 5, number  # Accounting-Response
        with psycopg.connect(radius_server.db.dsns["freeradius"], autocommit=True) as conn:
            rlm_sql.Radius(conn).account({
                **common, "User-Name": "twin-double", "Acct-Session-Id": f"double-{session}",
                "Acct-Unique-Session-Id": f"double-unique-{session}"})
    wait_replayed(radius_server)
    with radius_server.db.connect() as conn:
        through_freeradius = rows_of(conn, "twin-radius")
        through_double = rows_of(conn, "twin-double")
    assert [row[0] for row in through_freeradius] == ["a", "b", "c"]
    assert through_double == through_freeradius


@pytest.mark.parametrize("status", ["Accounting-On", "Accounting-Off"])
def test_one_reload_statement_for_on_and_off(status):
    queries = rlm_sql.accounting_queries(rlm_sql.deployed())
    assert len(queries[status.lower()]) == 1
    assert queries["accounting-off"] == queries["accounting-on"]
