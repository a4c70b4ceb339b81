"""Vouchers through real FreeRADIUS (roles/freeradius) and PostgreSQL (migrations + functions).

Profiles, sites, routers and the voucher batches come from a roster reconciled by
captiva_radius (the batch, its codes and roster revocations, each code's radcheck password
and radusergroup membership in the batch's profile). Usage is sent as accounting through
FreeRADIUS's buffer, as a router sends it.
"""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
import radius_fixtures
from ansible_collections.captiva.campus.plugins.module_utils.captiva_radius_plan import reconcile
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster import validate
from ansible_collections.captiva.campus.plugins.module_utils.captiva_vouchers import format_code
from pyrad import packet
from quota_radius_fixtures import DOUALA, GIB, PARIS_NAS, Nas, roster_variables, wait_replayed
from radius_fixtures import ROUTER_SECRET, message_authenticator_valid
from routeros_fixtures import start_sim, stop_sim

from captiva import authz
from captiva.quota import jobs
from captiva.runtime.jobs_config import parse
from captiva.vouchers import cli

radius_server = radius_fixtures.radius_server

SECRET = "voucher-secret-for-the-tests-0123456789"
TODAY = dt.datetime.now(DOUALA).date()
INVITE = {"name": "invite", "bandwidth": {"download": "5M"}, "session_timeout": "8h"}


def batch(name, **changes):
    item = {"name": name, "count": 3, "profile": "invite", "time_credit": "1h",
            "valid_from": (TODAY - dt.timedelta(days=1)).isoformat(),
            "valid_until": (TODAY + dt.timedelta(days=30)).isoformat()}
    item.update(changes)
    return item


BATCHES = [
    batch("credit", window_after_first_use="24h"),
    batch("window", time_credit=None, window_after_first_use="2h"),
    batch("data", data="10GiB", time_credit="8h"),
    batch("paris-only", sites=["campus-paris"]),
    batch("douala-only", sites=["campus-douala"]),
    batch("later", valid_from=(TODAY + dt.timedelta(days=2)).isoformat()),
    batch("ended", valid_from=(TODAY - dt.timedelta(days=9)).isoformat(),
          valid_until=(TODAY - dt.timedelta(days=2)).isoformat()),
    batch("closing", time_credit="8h",
          valid_until=(dt.datetime.now(DOUALA) + dt.timedelta(minutes=60))
          .replace(microsecond=0, tzinfo=None).isoformat()),
    batch("english", language="en", revoked=[2]),
    batch("live", data="1MiB", time_credit="8h"),
    batch("urgent", count=2),
    batch("enforced", data="1MiB", time_credit="1h"),
    batch("chap", count=2, revoked=[2]),
]


@pytest.fixture(scope="module")
def server(radius_server):
    """The roster's batches reconciled by captiva_radius, as `make apply` writes them."""
    variables = roster_variables([])
    variables["captiva_profiles"] = [*variables["captiva_profiles"], INVITE]
    variables["captiva_voucher_batches"] = BATCHES
    variables["captiva_voucher_secret"] = SECRET
    roster, errors = validate(variables)
    assert errors == [], errors
    with radius_server.db.connect("reconcile") as conn:
        result = reconcile(conn, roster, now=dt.datetime.now(dt.UTC), check_mode=False)
    assert result["vouchers"]["added"] == sum(b["count"] for b in roster.vouchers)
    radius_server.codes = {b["name"]: b["codes"] for b in roster.vouchers}
    return radius_server


def code(server, batch_name, index=1):
    return server.codes[batch_name][index - 1]


def login(server, username, password=None, **attributes):
    reply = server.authenticate(username, password or username, **attributes)
    assert reply is not None, "no reply"
    assert message_authenticator_valid(reply.raw_packet, reply.request_authenticator,
                                       ROUTER_SECRET.encode()), "reply not signed"
    return reply


def rejected(server, username, **attributes):
    reply = login(server, username, **attributes)
    assert reply.code == packet.AccessReject
    assert "Session-Timeout" not in reply and "Mikrotik-Rate-Limit" not in reply
    (message,) = reply["Reply-Message"]
    return message


def first_use(server, voucher):
    server.wait_logins_replayed()  # a first use reaches the database through the login buffer
    with server.db.connect() as conn:
        row = conn.execute("SELECT first_used_at FROM captiva_voucher_first_use"
                           " WHERE code = %s", (voucher,)).fetchone()
    return row[0] if row else None


def session(server, voucher, session_id, seconds, *, octets=0, stop=True):
    """A finished (or open) session of ``seconds`` online, ending now."""
    nas = Nas(server)
    end = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = end - dt.timedelta(seconds=seconds)
    nas.send("Start", at=start, username=voucher, session_id=session_id,
             Framed_IP_Address="10.5.50.30")
    if stop:
        nas.send("Stop", at=end, username=voucher, session_id=session_id, bytes_in=0,
                 bytes_out=octets, session_time=seconds, Framed_IP_Address="10.5.50.30",
                 Acct_Terminate_Cause="User-Request")
    wait_replayed(server)


def test_first_use_starts_the_window_and_the_credit_runs_across_sessions(server):
    voucher = code(server, "credit")
    assert first_use(server, voucher) is None
    reply = login(server, voucher)
    assert reply.code == packet.AccessAccept
    # 1 h of credit: less than the window (24 h), the validity and the profile's 8 h.
    assert reply["Session-Timeout"] == [3600]
    assert reply["Mikrotik-Rate-Limit"]  # the batch's profile applies
    started = first_use(server, voucher)
    assert started is not None
    session(server, voucher, "credit-1", 1200)
    reply = login(server, voucher)
    assert reply.code == packet.AccessAccept
    assert reply["Session-Timeout"] == [2400]  # the rest of the credit
    assert first_use(server, voucher) == started  # the second login does not move it
    session(server, voucher, "credit-2", 2400)
    assert rejected(server, voucher) == "Crédit de temps épuisé / Time credit used up"


def test_the_window_runs_in_wall_clock_time_from_the_first_use(server):
    voucher = code(server, "window")
    reply = login(server, voucher)
    assert reply.code == packet.AccessAccept
    assert reply["Session-Timeout"] == [7200]
    # An hour and a half later (the first use moved back, as time would), with the
    # code offline all along: half an hour is left, whatever radacct holds.
    server.wait_logins_replayed()  # the first use, through the login buffer
    with server.db.connect() as conn:
        conn.execute("UPDATE captiva_voucher_first_use SET first_used_at = now() - interval"
                     " '90 minutes' WHERE code = %s", (voucher,))
    (timeout,) = login(server, voucher)["Session-Timeout"]
    assert 1800 - 60 < timeout <= 1800
    with server.db.connect() as conn:
        conn.execute("UPDATE captiva_voucher_first_use SET first_used_at = now() - interval"
                     " '3 hours' WHERE code = %s", (voucher,))
    assert rejected(server, voucher).startswith("Code expiré le ")


def test_a_data_cap_above_4_gib_is_exact_on_the_wire(server):
    voucher = code(server, "data")
    reply = login(server, voucher)
    assert reply.code == packet.AccessAccept
    assert (reply["Mikrotik-Total-Limit-Gigawords"], reply["Mikrotik-Total-Limit"]) == (
        [2], [2 * GIB])
    used = 4294967596  # sent as Acct-Output-Gigawords = 1, Acct-Output-Octets = 300
    session(server, voucher, "data-1", 60, octets=used)
    reply = login(server, voucher)
    remaining = 10 * GIB - used
    assert (reply["Mikrotik-Total-Limit-Gigawords"], reply["Mikrotik-Total-Limit"]) == (
        [remaining >> 32], [remaining & 0xFFFFFFFF])
    assert (reply["Mikrotik-Total-Limit-Gigawords"], reply["Mikrotik-Total-Limit"]) == (
        [1], [2147483348])


def test_a_code_used_on_a_site_it_is_not_valid_for_is_rejected(server):
    assert rejected(server, code(server, "douala-only"), NAS_IP_Address=PARIS_NAS) == (
        "Code non valable sur ce site / Code not valid on this site")
    assert login(server, code(server, "douala-only")).code == packet.AccessAccept
    assert rejected(server, code(server, "paris-only")) == (
        "Code non valable sur ce site / Code not valid on this site")
    assert first_use(server, code(server, "paris-only")) is None  # a reject starts nothing


def test_a_revoked_code_is_rejected_in_the_batch_language(server):
    assert rejected(server, code(server, "english", 2)) == "Code revoked / Code révoqué"
    assert login(server, code(server, "english", 1)).code == packet.AccessAccept


def test_a_code_logs_in_with_chap_as_the_hotspot_page_sends_it(server):
    """login-by http-chap: the page sends the compact code's CHAP digest
    (test_hotspot_page.py); FreeRADIUS checks it against the code's Cleartext-Password, then
    the same rule applies."""
    voucher = code(server, "chap", 1)
    reply = login(server, voucher, chap=True)
    assert reply.code == packet.AccessAccept
    assert reply["Session-Timeout"] == [3600]
    assert first_use(server, voucher) is not None
    assert rejected(server, code(server, "chap", 2), chap=True) == (
        "Code révoqué / Code revoked")
    wrong = login(server, voucher, code(server, "credit", 1), chap=True)
    assert wrong.code == packet.AccessReject


def test_an_urgent_revocation_rejects_at_once(server):
    voucher = code(server, "english", 3)
    assert login(server, voucher).code == packet.AccessAccept
    with server.db.connect("jobs") as conn:
        # append-only: through the function (migration 0141), as captiva-vouchers revoke
        conn.execute("SELECT * FROM captiva_voucher_revoke('os:tester', %s,"
                     " 'photographed and shared')", (voucher,))
    assert rejected(server, voucher) == "Code revoked / Code révoqué"


def test_a_code_is_rejected_before_and_after_its_validity(server):
    later = (TODAY + dt.timedelta(days=2)).isoformat()
    assert rejected(server, code(server, "later")) == (
        f"Code pas encore valable (à partir du {later} 00:00 Africa/Douala) / "
        f"Code not valid yet (from {later} 00:00 Africa/Douala)")
    ended = (TODAY - dt.timedelta(days=1)).isoformat()  # valid_until inclusive: ends at 24:00
    assert rejected(server, code(server, "ended")) == (
        f"Code expiré le {ended} 00:00 Africa/Douala / "
        f"Code expired on {ended} 00:00 Africa/Douala")


def test_the_session_never_outlasts_the_validity(server):
    reply = login(server, code(server, "closing"))
    assert reply.code == packet.AccessAccept
    (timeout,) = reply["Session-Timeout"]
    # The batch ends 60 minutes after this module was imported (the suite may have run for
    # a while since): the remainder of that, not the credit's 8 h nor the profile's.
    with server.db.connect() as conn:
        (ends_at,) = conn.execute("SELECT ends_at FROM captiva_voucher_batch"
                                  " WHERE name = 'closing'").fetchone()
    left = (ends_at - dt.datetime.now(dt.UTC)).total_seconds()
    assert 0 < left <= 3600
    assert left - 60 < timeout <= left + 1


def test_a_code_already_in_use_is_rejected(server):
    voucher = code(server, "credit", 2)
    assert login(server, voucher).code == packet.AccessAccept
    session(server, voucher, "busy-1", 30, stop=False)
    assert rejected(server, voucher) == (
        "Code déjà utilisé sur un autre appareil / Code already in use on another device")


def test_a_code_typed_as_printed_is_accepted(server):
    voucher = code(server, "credit", 3)
    typed = format_code(voucher).lower()
    reply = login(server, typed, typed)
    assert reply.code == packet.AccessAccept
    assert first_use(server, voucher) is not None
    spaced = format_code(voucher).replace("-", " ")
    assert login(server, spaced, spaced).code == packet.AccessAccept


def test_a_wrong_password_learns_nothing_about_the_voucher(server):
    reply = login(server, code(server, "english", 2), "not-the-code")
    assert reply.code == packet.AccessReject
    assert "Reply-Message" not in reply


def to_disconnect(server):
    with server.db.connect("jobs") as conn:
        return {row[0]: row[1:] for row in conn.execute(
            "SELECT username, reason, detail FROM captiva_voucher_sessions_to_disconnect()")}


def test_live_sessions_of_a_revoked_or_used_up_code_are_listed_for_a_disconnect(server):
    revoked, heavy, fine = (code(server, "live", i) for i in (1, 2, 3))
    for voucher in (revoked, heavy, fine):
        assert login(server, voucher).code == packet.AccessAccept
        session(server, voucher, f"live-{voucher}", 60, stop=False)
    assert not set(to_disconnect(server)) & {revoked, heavy, fine}
    with server.db.connect("jobs") as conn:
        conn.execute("SELECT * FROM captiva_voucher_revoke('os:tester', %s, '')", (revoked,))
    Nas(server).send("Interim-Update", at=dt.datetime.now(dt.UTC), username=heavy,
                     session_id=f"live-{heavy}", bytes_in=0, bytes_out=2**20,
                     session_time=90, Framed_IP_Address="10.5.50.30")
    wait_replayed(server)
    listed = to_disconnect(server)
    assert listed[revoked] == ("voucher-revoked", "Code révoqué / Code revoked")
    assert listed[heavy] == ("voucher-data-used", "Données épuisées / Data allowance used up")
    assert fine not in listed
    # The roster's own enforce selection leaves voucher sessions to this one.
    with server.db.connect("jobs") as conn:
        users = {row[0] for row in conn.execute(
            "SELECT username FROM captiva_sessions_to_disconnect()")}
    assert not users & {revoked, heavy, fine}


@pytest.mark.parametrize("role", ["portal", "jobs", "freeradius"])
def test_only_the_reconcile_reads_the_codes(server, role):
    with server.db.connect(role) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT code FROM captiva_voucher LIMIT 1")
    with server.db.connect("reconcile") as conn:
        assert conn.execute("SELECT count(code) FROM captiva_voucher").fetchone()[0] > 0


COA_SECRET = "voucher-coa-secret-0123"


@pytest.fixture
def router(server, tmp_path):
    """The Douala router as tools/routeros-sim, accepting Disconnects from this host."""
    sim = start_sim(tmp_path)
    sim.accept_disconnects(("127.0.0.1", COA_SECRET))
    with server.db.connect() as conn:
        conn.execute("UPDATE captiva_router SET coa_port = %s WHERE name = 'gw-douala'",
                     (sim.coa_port,))
    yield sim
    stop_sim(sim)


def test_an_urgent_revoke_is_one_command_that_rejects_and_disconnects(server, router,
                                                                      tmp_path, capsys):
    voucher, other = code(server, "urgent", 1), code(server, "urgent", 2)
    for n, user in enumerate((voucher, other)):
        assert login(server, user).code == packet.AccessAccept
        session(server, user, f"urgent-{n}", 60, stop=False)
        router.add_sessions([{"user": user, "address": f"10.5.50.{40 + n}",
                              "session-id": f"urgent-{n}"}])
    with server.db.connect() as conn:  # the router's own address for its session
        conn.execute("UPDATE radacct SET framedipaddress = %s WHERE acctsessionid = %s",
                     ("10.5.50.41", "urgent-1"))
        conn.execute("UPDATE radacct SET framedipaddress = %s WHERE acctsessionid = %s",
                     ("10.5.50.40", "urgent-0"))
    config = tmp_path / "quota.toml"
    config.write_text(f'dsn = "{server.db.dsns["jobs"]}"\n'
                      '[enforce]\ntimeout = 2\n'
                      '[routers.gw-douala]\n'
                      f'secret = "{COA_SECRET}"\naddress = "127.0.0.1"\n')

    assert cli.main(["revoke", format_code(voucher), "--reason", "photographed",
                     "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"{format_code(voucher)}: revoked; 1 live session(s)" in out
    assert "disconnect session urgent-0 on gw-douala: ack" in out
    # Gone from the router's hotspot; the other code's session stays.
    assert {row["user"] for row in router.rows("/ip/hotspot/active")} == {other}
    assert router.coa()["ack"] == 1
    assert rejected(server, voucher) == "Code révoqué / Code revoked"
    assert login(server, other).code == packet.AccessReject  # simultaneous_use 1: in use
    with server.db.connect() as conn:
        # One path with the console's: the policy let os:<login> (captiva/authz.py), and
        # the audit names the command's operating-system user and the card, never the code.
        actor = authz.current_os_actor()
        assert conn.execute("SELECT source, reason FROM captiva_voucher_revocation"
                            " WHERE code = %s", (voucher,)).fetchone() == (
            "urgent", f"photographed (by {actor})")
        assert conn.execute("SELECT kind, actor, actor_role, username, reason FROM captiva_audit"
                            " WHERE action = 'voucher-revoke' AND username LIKE 'urgent#%'"
                            ).fetchall() == [
            ("voucher", actor, "os", "urgent#1", "photographed")]
        assert conn.execute("SELECT reason, result FROM captiva_disconnect"
                            " WHERE username = %s", (voucher,)).fetchall() == [
            ("voucher-revoked (urgent)", "ack")]
    # Again: nothing new to revoke, the session is already asked to close.
    assert cli.main(["revoke", voucher, "--config", str(config)]) == 0
    assert capsys.readouterr().out == (
        f"{voucher}: already revoked; 0 live session(s), 1 already disconnected (awaiting the"
        " router's Stop)\n")
    assert router.coa()["received"] == 1  # not asked again


def test_revoking_an_unknown_code_says_so(server, tmp_path):
    config = tmp_path / "quota.toml"
    config.write_text(f'dsn = "{server.db.dsns["jobs"]}"\n')
    with pytest.raises(SystemExit, match="K7HM-3XPW-9H: not a voucher code"):
        cli.main(["revoke", "K7HM-3XPW-9H", "--config", str(config)])


def test_enforce_disconnects_the_live_sessions_of_used_up_codes(server, router):
    """``captiva-quota enforce`` ends a voucher's session once its credit or data is used up,
    as its reconcile-declared limits say, and leaves a code with credit left alone."""
    timed, heavy, fine = (code(server, "enforced", i) for i in (1, 2, 3))
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    nas = Nas(server)
    for n, (voucher, minutes) in enumerate(((timed, 70), (heavy, 5), (fine, 5))):
        assert login(server, voucher).code == packet.AccessAccept
        # Open sessions: the timed one started 70 min ago (1 h of credit), the others 5 min.
        nas.send("Start", at=now - dt.timedelta(minutes=minutes), username=voucher,
                 session_id=f"enforced-{n}", Framed_IP_Address=f"10.5.50.{50 + n}")
        router.add_sessions([{"user": voucher, "address": f"10.5.50.{50 + n}",
                              "session-id": f"enforced-{n}"}])
    nas.send("Interim-Update", at=now, username=heavy, session_id="enforced-1", bytes_in=0,
             bytes_out=2 * 2**20, session_time=300, Framed_IP_Address="10.5.50.51")
    wait_replayed(server)
    config = parse({"dsn": server.db.dsns["jobs"], "enforce": {"timeout": 2},
                    "routers": {"gw-douala": {"secret": COA_SECRET, "address": "127.0.0.1"}}})
    with psycopg.connect(server.db.dsns["jobs"]) as conn:
        summary = jobs.enforce(conn, config, dt.datetime.now(dt.UTC))
    assert summary["ack"] >= 2, summary
    active = {row["user"] for row in router.rows("/ip/hotspot/active")}
    assert timed not in active and heavy not in active
    assert fine in active
    with server.db.connect() as conn:
        recorded = dict(conn.execute(
            "SELECT username, reason || ': ' || result FROM captiva_disconnect"
            " WHERE username = ANY(%s)", ([timed, heavy, fine],)).fetchall())
    assert recorded == {
        timed: "voucher-time-used (Crédit de temps épuisé / Time credit used up): ack",
        heavy: "voucher-data-used (Données épuisées / Data allowance used up): ack"}
