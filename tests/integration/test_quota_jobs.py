"""Quota jobs against the real database, a real UDP RADIUS listener and a real SMTP server."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import socket
import ssl
import struct
import threading

import pytest
import quota_fixtures
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from processes import free_port
from quota_fixtures import NAS_DOUALA, GiB, add_user, ts

from captiva.quota import jobs
from captiva.quota.cli import main
from captiva.quota.config import parse

# The quota campus (quota_fixtures.py).
db = quota_fixtures.db
radius = quota_fixtures.radius
su = quota_fixtures.su

SECRET = "s3cret-coa-secret"


# --------------------------------------------------------------------------------------------
# A NAS: UDP listener that checks RFC 5176 authenticators and answers ACK (or NAK)


class FakeNas:
    def __init__(self, secret: str, answer: int = 41):
        self.secret = secret.encode()
        self.answer = answer
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.requests: list[dict] = []
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            code, ident, length = struct.unpack("!BBH", data[:4])
            attrs, pos, ma_at = {}, 20, None
            while pos < length:
                atype, alen = data[pos], data[pos + 1]
                if atype == 80:
                    ma_at = pos
                attrs.setdefault(atype, []).append(data[pos + 2:pos + alen])
                pos += alen
            zero_auth = data[:4] + bytes(16) + data[20:]
            auth_ok = hmac.compare_digest(
                hashlib.md5(zero_auth + self.secret).digest(), data[4:20])  # noqa: S324
            ma_ok = False
            if ma_at is not None:
                blank = bytearray(zero_auth)
                blank[ma_at + 2:ma_at + 18] = bytes(16)
                ma_ok = hmac.compare_digest(
                    hmac.new(self.secret, bytes(blank), "md5").digest(), attrs[80][0])
            self.requests.append({
                "code": code, "auth_ok": auth_ok, "ma_ok": ma_ok,
                "user": attrs.get(1, [b""])[0].decode(),
                "session": attrs.get(44, [b""])[0].decode(),
                "ip": socket.inet_ntoa(attrs[8][0]) if 8 in attrs else None,
                "nas_ip": 4 in attrs,
            })
            reply_attrs = b"" if self.answer == 41 else struct.pack("!BBI", 101, 6, 503)
            header = struct.pack("!BBH", self.answer, ident, 20 + len(reply_attrs))
            response_auth = hashlib.md5(  # noqa: S324 - RADIUS response authenticator
                header + data[4:20] + reply_attrs + self.secret).digest()
            self.sock.sendto(header + response_auth + reply_attrs, peer)

    def close(self):
        self.stopping = True
        self.thread.join()
        self.sock.close()


@pytest.fixture
def nas():
    server = FakeNas(SECRET)
    yield server
    server.close()


def config(db, **extra):
    data = {"dsn": db.dsns["jobs"], **extra}
    return parse(data)


def test_enforce_disconnects_over_quota_disabled_removed_expired(db, radius, su, nas):
    now = ts("2026-11-21T12:00:00", "Africa/Douala")
    su.execute("UPDATE captiva_router SET coa_port = %s WHERE name = 'hs-douala'", (nas.port,))
    add_user(su, "dora", "student", status="disabled")
    add_user(su, "eve", "student", expires=now - dt.timedelta(minutes=1))
    su.execute("INSERT INTO radcheck (username, attribute, op, value) "
               "VALUES ('manual', 'Cleartext-Password', ':=', 'x')")
    for i, user in enumerate(["alice", "benoit", "dora", "eve", "ghost", "manual", "carol"]):
        radius.start(f"s-{user}", user, NAS_DOUALA, now - dt.timedelta(minutes=30),
                     ip=f"10.5.50.{10 + i}")
    radius.interim("s-alice", "alice", NAS_DOUALA, now - dt.timedelta(minutes=1), 5 * GiB, 1)
    radius.interim("s-benoit", "benoit", NAS_DOUALA, now - dt.timedelta(minutes=1), GiB, 0)
    radius.interim("s-carol", "carol", NAS_DOUALA, now - dt.timedelta(minutes=1), 99 * GiB, 0)
    routers = {"hs-douala": {"secret": SECRET, "address": "127.0.0.1"}}
    cfg = config(db, routers=routers, enforce={"timeout": 2})

    printed = []
    with db.connect("jobs", autocommit=False) as conn:
        dry = jobs.enforce(conn, cfg, now, dry_run=True, out=printed.append)
    assert dry["sessions"] == 4 and nas.requests == []
    assert any("alice" in line and "daily quota used up" in line for line in printed)

    with db.connect("jobs", autocommit=False) as conn:
        summary = jobs.enforce(conn, cfg, now)
    assert summary["ack"] == 4 and summary["failed"] == 0
    got = {r["user"]: r for r in nas.requests}
    assert set(got) == {"alice", "dora", "eve", "ghost"}  # not benoit, carol, manual
    alice = got["alice"]
    assert alice["code"] == 40 and alice["auth_ok"] and alice["ma_ok"]
    assert alice["session"] == "s-alice" and alice["ip"] == "10.5.50.10"
    assert not alice["nas_ip"]
    recorded = dict(su.execute("SELECT username, reason FROM captiva_disconnect").fetchall())
    assert recorded == {"alice": "quota (daily quota used up)", "dora": "disabled",
                        "eve": "expired", "ghost": "removed"}
    assert set(su.execute("SELECT result FROM captiva_disconnect").fetchall()) == {("ack",)}


def test_enforce_records_nak_and_reports_sessions_left_open(db, radius, su, caplog):
    now = dt.datetime.now(dt.UTC)
    server = FakeNas(SECRET, answer=42)
    try:
        su.execute("UPDATE captiva_router SET coa_port = %s", (server.port,))
        add_user(su, "dora", "student", status="disabled")
        radius.start("s-dora", "dora", NAS_DOUALA, now - dt.timedelta(minutes=30))
        routers = {"hs-douala": {"secret": SECRET, "address": "127.0.0.1"}}
        cfg = config(db, routers=routers, enforce={"grace": 60})
        with db.connect("jobs", autocommit=False) as conn:
            summary = jobs.enforce(conn, cfg, now)
        assert summary["nak"] == 1 and summary["failed"] == 1
        assert su.execute("SELECT result, error_cause FROM captiva_disconnect").fetchone() == \
            ("nak", 503)
        # An ACKed session still open after the grace period is reported.
        su.execute("UPDATE captiva_disconnect SET result = 'ack', "
                   "requested_at = now() - interval '10 minutes'")
        with db.connect("jobs", autocommit=False) as conn:
            summary = jobs.enforce(conn, cfg, now)
        assert summary["still_open"] == 1
        assert "still open after a Disconnect-ACK" in caplog.text
    finally:
        server.close()


def test_enforce_without_secret_is_an_error_not_a_crash(db, radius, su):
    now = dt.datetime.now(dt.UTC)
    radius.start("s-x", "ghost", NAS_DOUALA, now)
    with db.connect("jobs", autocommit=False) as conn:
        summary = jobs.enforce(conn, config(db), now)
    assert summary["error"] == 1
    assert "no secret" in su.execute("SELECT detail FROM captiva_disconnect").fetchone()[0]


# --------------------------------------------------------------------------------------------
# close-stale and retention


def test_close_stale_closes_never_deletes(db, radius, su):
    now = dt.datetime.now(dt.UTC)
    radius.start("old", "alice", NAS_DOUALA, now - dt.timedelta(hours=2))
    radius.interim("old", "alice", NAS_DOUALA, now - dt.timedelta(minutes=40), 10, 10)
    radius.start("fresh", "benoit", NAS_DOUALA, now - dt.timedelta(hours=2))
    radius.interim("fresh", "benoit", NAS_DOUALA, now - dt.timedelta(minutes=5), 10, 10)
    cfg = config(db, close_stale={"interim_interval": 300, "multiple": 3})
    with db.connect("jobs", autocommit=False) as conn:
        assert jobs.close_stale(conn, cfg, now, dry_run=True, out=lambda s: None)["stale"] == 1
        assert jobs.close_stale(conn, cfg, now)["closed"] == 1
    rows = su.execute("SELECT acctsessionid, acctstoptime, acctterminatecause, acctsessiontime "
                      "FROM radacct ORDER BY acctsessionid").fetchall()
    assert rows[1][0] == "old" and rows[1][2] == "Stale-Session"
    assert rows[1][1] == (now - dt.timedelta(minutes=40)).replace(microsecond=rows[1][1]
                                                                   .microsecond)
    assert rows[1][3] == 80 * 60
    assert rows[0][0] == "fresh" and rows[0][1] is None
    # Usage is untouched.
    assert su.execute("SELECT sum(bytes_in) FROM captiva_usage_daily").fetchone()[0] == 20


def test_retention_moves_closed_rows_in_batches_without_loss(db, radius, su):
    now = dt.datetime.now(dt.UTC)
    old = now - dt.timedelta(days=400)
    for i in range(23):
        radius.start(f"c{i}", "alice", NAS_DOUALA, old)
        radius.stop(f"c{i}", "alice", NAS_DOUALA, old + dt.timedelta(hours=1), 100 + i, 1)
    radius.start("open-old", "alice", NAS_DOUALA, old)  # never closed: never moved
    radius.start("recent", "alice", NAS_DOUALA, now - dt.timedelta(days=1))
    radius.stop("recent", "alice", NAS_DOUALA, now, 5, 5)
    su.execute("INSERT INTO radpostauth (username, reply, authdate) SELECT 'alice', "
               "'Access-Accept', now() - (g || ' days')::interval FROM generate_series(1, 200) g")
    before = su.execute("SELECT sum(acctinputoctets), count(*) FROM radacct").fetchone()
    usage_before = su.execute("SELECT sum(bytes_in) FROM captiva_usage_daily").fetchone()
    cfg = config(db, retention={"radacct_days": 365, "radpostauth_days": 90, "batch_size": 5})
    with db.connect("jobs", autocommit=False) as conn:
        dry = jobs.retention(conn, cfg, now, dry_run=True, out=lambda s: None)
        assert (dry["would_radacct"], dry["would_radpostauth"]) == (23, 110)
        summary = jobs.retention(conn, cfg, now)
    assert (summary["radacct"], summary["radpostauth"]) == (23, 110)
    left = {r[0] for r in su.execute("SELECT acctsessionid FROM radacct").fetchall()}
    assert left == {"open-old", "recent"}
    after = su.execute(
        "SELECT sum(s), sum(n) FROM (SELECT sum(acctinputoctets) s, count(*) n FROM radacct "
        "UNION ALL SELECT sum(acctinputoctets), count(*) FROM radacct_history) x").fetchone()
    assert after == before
    assert su.execute("SELECT sum(bytes_in) FROM captiva_usage_daily").fetchone() == usage_before
    assert su.execute("SELECT count(*) FROM radpostauth_history").fetchone()[0] == 110
    assert su.execute("SELECT count(*) FROM radpostauth").fetchone()[0] == 90


# --------------------------------------------------------------------------------------------
# alerts through a real SMTP server with STARTTLS and AUTH


@pytest.fixture
def smtp_server(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
            .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)

    class Handler:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
            self.messages.append({"to": envelope.rcpt_tos, "tls": session.ssl is not None,
                                  "auth": session.authenticated,
                                  "data": envelope.content.decode("utf-8")})
            return "250 OK"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"captiva" \
            and auth_data.password == b"mail-pass"
        return AuthResult(success=ok)

    handler = Handler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True, auth_required=True,
                            authenticator=authenticator, server_hostname="localhost")
    controller.start()
    yield {"handler": handler, "port": port, "ca": str(cert_file)}
    controller.stop()


def test_alerts_mail_once_in_the_users_language(db, radius, su, smtp_server, tmp_path):
    now = ts("2026-11-21T12:00:00", "Africa/Douala")  # far from midnight: one daily period
    add_user(su, "fanny", "staff", language="fr", expires=now + dt.timedelta(days=1, hours=1))
    radius.start("a", "alice", NAS_DOUALA, now - dt.timedelta(minutes=30))
    radius.interim("a", "alice", NAS_DOUALA, now - dt.timedelta(minutes=1),
                   5 * GiB * 82 // 100 + 10, 0)
    radius.start("b", "benoit", NAS_DOUALA, now - dt.timedelta(minutes=30))
    radius.interim("b", "benoit", NAS_DOUALA, now - dt.timedelta(minutes=1),
                   5 * GiB * 98 // 100 + 10, 0)
    smtp = {"host": "localhost", "port": smtp_server["port"], "username": "captiva",
            "password": "mail-pass", "from": "wifi@campus.example",
            "ca_file": smtp_server["ca"], "timeout": 10}
    cfg = config(db, smtp=smtp, alerts={"portal_url": "https://wifi.campus.example/"})

    printed = []
    with db.connect("jobs", autocommit=False) as conn:
        assert jobs.alerts(conn, cfg, now, dry_run=True, out=printed.append)["due"] == 3
    assert smtp_server["handler"].messages == []
    assert su.execute("SELECT count(*) FROM captiva_alert_sent").fetchone()[0] == 0

    with db.connect("jobs", autocommit=False) as conn:
        summary = jobs.alerts(conn, cfg, now)
    assert summary == {"due": 3, "sent": 3, "failed": 0}
    messages = {m["to"][0]: m for m in smtp_server["handler"].messages}
    assert set(messages) == {"alice@campus.example", "benoit@campus.example",
                             "fanny@campus.example"}
    assert all(m["tls"] and m["auth"] for m in messages.values())
    alice = messages["alice@campus.example"]["data"]
    assert "Subject: Wi-Fi: 82% of your daily quota used" in alice
    assert "of your daily Wi-Fi quota of 5 GiB" in alice
    assert "https://wifi.campus.example/" in alice
    benoit = messages["benoit@campus.example"]["data"]
    assert "98 % de votre quota journalier" in benoit  # 95 % mailed; 80 % covered
    fanny = messages["fanny@campus.example"]["data"]
    assert "expire dans 2 jour(s)" in fanny
    sent = su.execute("SELECT username, kind, period, threshold, mailed FROM captiva_alert_sent "
                      "ORDER BY username, threshold").fetchall()
    assert sent == [("alice", "quota", "daily", 80, True),
                    ("benoit", "quota", "daily", 80, False),
                    ("benoit", "quota", "daily", 95, True),
                    ("fanny", "expiry", "account", 2, True),
                    ("fanny", "expiry", "account", 7, False)]

    # Second run: nothing new. A higher threshold later: one more mail.
    with db.connect("jobs", autocommit=False) as conn:
        assert jobs.alerts(conn, cfg, now)["sent"] == 0
    radius.interim("a", "alice", NAS_DOUALA, now, 5 * GiB * 96 // 100 + 10, 0)
    with db.connect("jobs", autocommit=False) as conn:
        assert jobs.alerts(conn, cfg, now)["sent"] == 1
    assert len(smtp_server["handler"].messages) == 4

    # An admin's template overrides the built-in one.
    (tmp_path / "quota.en.txt").write_text("Subject: Custom $percent\n\nHi $username\n")
    su.execute("UPDATE captiva_profile SET quota_monthly = 6 * 1024^3 WHERE name = 'student'")
    cfg = config(db, smtp=smtp, alerts={"templates_dir": str(tmp_path)})
    with db.connect("jobs", autocommit=False) as conn:
        assert jobs.alerts(conn, cfg, now)["sent"] == 2  # alice, benoit: monthly 80 %
    custom = [m for m in smtp_server["handler"].messages if "Subject: Custom" in m["data"]]
    assert len(custom) == 1 and "Hi alice" in custom[0]["data"]


def test_alert_mail_failure_is_retried_next_run(db, radius, su):
    now = ts("2026-11-21T12:00:00", "Africa/Douala")
    radius.start("a", "alice", NAS_DOUALA, now - dt.timedelta(minutes=30))
    radius.interim("a", "alice", NAS_DOUALA, now, 5 * GiB * 82 // 100 + 10, 0)
    cfg = config(db, smtp={"host": "127.0.0.1", "port": free_port(), "timeout": 2})
    with db.connect("jobs", autocommit=False) as conn:
        assert jobs.alerts(conn, cfg, now) == {"due": 1, "sent": 0, "failed": 1}
    assert su.execute("SELECT count(*) FROM captiva_alert_sent").fetchone()[0] == 0


# --------------------------------------------------------------------------------------------
# CLI


def test_cli_report_and_dry_run(db, radius, su, tmp_path, capsys):
    now = ts("2026-11-21T20:00:00", "Africa/Douala")
    radius.start("a", "alice", NAS_DOUALA, now - dt.timedelta(hours=1))
    radius.interim("a", "alice", NAS_DOUALA, now, 6 * GiB, 0)
    conf = tmp_path / "quota.toml"
    conf.write_text(f'dsn = "{db.dsns["jobs"]}"\n[routers.hs-douala]\nsecret = "x"\n')
    assert main(["--config", str(conf), "--now", now.isoformat(), "report"]) == 0
    out = capsys.readouterr().out
    assert "daily" in out and "1 users at quota" in out and "alice" in out
    assert main(["enforce", "--dry-run", "--config", str(conf), "--now", now.isoformat()]) == 0
    assert "would disconnect alice" in capsys.readouterr().out
    assert su.execute("SELECT count(*) FROM captiva_disconnect").fetchone()[0] == 0
    bad = tmp_path / "bad.toml"
    bad.write_text('dsn = ""\n')
    assert main(["--config", str(bad), "report"]) == 2
