"""The workstations' daily report (CSV mailed through a real SMTP server) and retention,
against a real PostgreSQL; figures computed here by hand from the seeded sessions."""

from __future__ import annotations

import csv
import datetime as dt
import email
import io
import json
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from processes import free_port

from captiva.runtime.jobs_config import parse
from captiva.workstations import cli, jobs

DOUALA = ZoneInfo("Africa/Douala")
# More than 30 days before any run: the audit's retention keeps 30 days by the database's
# own clock, whatever day the job says it is (captiva_audit_cutoff).
DAY = dt.date(2025, 11, 21)


def at(hour, minute=0):
    return dt.datetime.combine(DAY, dt.time(hour, minute), tzinfo=DOUALA)


@pytest.fixture
def db(radius_db):
    with radius_db.connect() as conn:
        conn.execute("INSERT INTO captiva_site VALUES ('campus-ndogbong', 'Africa/Douala', 1, 1)")
        conn.execute("INSERT INTO captiva_workstation_rules VALUES ('campus-ndogbong', 3600,"
                     " 7200, 3, NULL, '{300,60}', 30)")
        for n in (1, 2):
            conn.execute("INSERT INTO captiva_workstation VALUES (%s, 'campus-ndogbong', %s,"
                         " %s, 'Bib', false)", (f"PC-{n}", f"02:00:00:00:00:0{n}",
                                                f"10.5.60.{n}"))
        for user, mail, lang, role in (("op", "op@campus.test", "fr", "operator"),
                                       ("chief", "chief@campus.test", "en", "admin"),
                                       ("other", "other@campus.test", "fr", "operator")):
            conn.execute("INSERT INTO captiva_user (username, email, language, profile, enabled,"
                         " status, activated_on) VALUES (%s, %s, %s, 'captiva-default', true,"
                         " 'active', '2025-01-01')", (user, mail, lang))
            conn.execute("INSERT INTO captiva_staff VALUES (%s, %s, %s)", (
                user, role, ["campus-paris"] if user == "other" else []))
        # A session issued at 09:50, online 10:00-10:30 on PC-1; another at 10:15, 10:20-11:20.
        for code, ws, issued, start, stop in (("P00000001", "PC-1", at(9, 50), at(10), at(10, 30)),
                                              ("P00000002", "PC-2", at(10, 15), at(10, 20),
                                               at(11, 20))):
            conn.execute("INSERT INTO captiva_workstation_session (code, workstation, site,"
                         " username, state, granted_seconds, used_seconds, issued_by, issued_at,"
                         " ended_at, end_reason) VALUES (%s, %s, 'campus-ndogbong', 'op',"
                         " 'ended', 3600, 1800, 'op', %s, %s, 'time-up')",
                         (code, ws, issued, stop))
            conn.execute("INSERT INTO radacct (acctsessionid, acctuniqueid, username,"
                         " nasipaddress, acctstarttime, acctstoptime, acctsessiontime)"
                         " VALUES (%s, %s, %s, '10.0.0.1', %s, %s, %s)",
                         (code, code, code, start, stop, int((stop - start).total_seconds())))
        conn.execute("INSERT INTO captiva_audit (at, kind, actor, actor_role, action, site,"
                     " detail) VALUES (%s, 'workstation', 'op', 'operator', 'refused',"
                     " 'campus-ndogbong', '{\"reason\": \"in-use\"}')", (at(11, 5),))
    return radius_db


@pytest.fixture
def smtp():
    class Handler:
        messages: list = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
            self.messages.append((envelope.rcpt_tos, envelope.content))
            return "250 OK"

    handler = Handler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def test_the_daily_report_is_mailed_as_csv_to_the_sites_staff(db, smtp):
    handler, port = smtp
    config = parse({"dsn": db.dsns["jobs"], "smtp": {"host": "127.0.0.1", "port": port,
                                                      "starttls": False,
                                                      "from": "captiva@campus.test"}})
    with db.connect("jobs") as conn:
        summary = jobs.report(conn, config, DAY)
    assert summary == {"sites": 1, "mailed": 2, "failed": 0, "no_recipient": []}
    by_rcpt = {tuple(rcpt): email.message_from_bytes(data) for rcpt, data in handler.messages}
    assert set(by_rcpt) == {("op@campus.test",), ("chief@campus.test",)}  # not "other"
    english = by_rcpt[("chief@campus.test",)]
    assert english["Subject"] == "Public workstations campus-ndogbong: report for 2025-11-21"
    attachment = next(p for p in english.walk() if p.get_filename())
    rows = list(csv.DictReader(io.StringIO(attachment.get_payload(decode=True).decode())))
    hours = {r["hour"]: r for r in rows}
    assert (hours["09:00"]["sessions"], hours["09:00"]["minutes"]) == ("1", "0")
    # 10:00-11:00: 30 min on PC-1 + 40 min on PC-2 = 70 min of 120: 58.3 %
    assert (hours["10:00"]["sessions"], hours["10:00"]["minutes"],
            hours["10:00"]["occupancy_percent"]) == ("1", "70", "58.3")
    assert (hours["11:00"]["minutes"], hours["11:00"]["refusals"]) == ("20", "1")
    assert hours["total"]["sessions"] == "2" and hours["total"]["minutes"] == "90"
    assert len(rows) == 25


def test_a_refused_report_mail_is_logged_and_the_run_exits_1_the_others_are_mailed(
        db, smtp, tmp_path, capsys, caplog):
    handler, port = smtp

    async def refuse_the_operator(server, session, envelope, address, options):
        if address == "op@campus.test":
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    handler.handle_RCPT = refuse_the_operator
    config = tmp_path / "quota.toml"
    config.write_text(f"dsn = '{db.dsns['jobs']}'\n[smtp]\nhost = '127.0.0.1'\nport = {port}\n"
                      "starttls = false\nfrom = 'captiva@campus.test'\n")
    assert cli.main(["--config", str(config), "report", "--day", DAY.isoformat()]) == 1
    assert [rcpt for rcpt, _ in handler.messages] == [["chief@campus.test"]]
    summary = json.loads(capsys.readouterr().out)
    assert (summary["mailed"], summary["failed"]) == (1, 1)
    assert "report mail to op@campus.test failed" in caplog.text


def test_retention_erases_guests_and_deletes_old_sessions_and_audit(db):
    now = at(12)
    with db.connect() as conn:
        conn.execute("INSERT INTO captiva_workstation_guest (site, full_name, id_type,"
                     " id_number, consent_on, registered_by, registered_at, last_used_at)"
                     " VALUES ('campus-ndogbong', 'Jean Mbarga', 'CNI', '123', %s, 'op', %s,"
                     " %s)", (DAY, now - dt.timedelta(days=40), now - dt.timedelta(days=31)))
    config = parse({"dsn": db.dsns["jobs"], "retention": {"audit_days": 30}})
    with db.connect("jobs") as conn:
        assert jobs.retention(conn, config, now) == {"guests_erased": 1, "sessions": 0,
                                                     "audit": 0}
        later = now + dt.timedelta(days=31)
        assert jobs.retention(conn, config, later) == {"guests_erased": 0, "sessions": 2,
                                                       "audit": 1}
    with db.connect() as conn:
        assert conn.execute("SELECT full_name, id_number, erased_at IS NOT NULL FROM"
                            " captiva_workstation_guest").fetchall() == [(None, None, True)]
