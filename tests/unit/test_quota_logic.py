"""Pure parts of the quota jobs: alert planning, config parsing, mail rendering, sizes."""

import datetime as dt

import pytest
from period_oracle import Calendar, periods

from captiva.quota.alert_mail import TemplateError, render
from captiva.quota.alerts import plan_alerts
from captiva.quota.usage import PeriodUsage, UserUsage, format_bytes
from captiva.runtime.jobs_config import ConfigError, parse

GiB = 1024**3
CAL = Calendar("Africa/Douala")
NOW = dt.datetime(2026, 11, 21, 11, 0, tzinfo=dt.UTC)
CFG = parse({"dsn": "dbname=x"})
# What captiva.quota.usage.period_names reads from SQL (captiva_period_name).
NAMES = {"fr": {"daily": "journalier", "weekly": "hebdomadaire", "monthly": "mensuel",
                "total": "total"},
         "en": {"daily": "daily", "weekly": "weekly", "monthly": "monthly", "total": "total"}}


def user(used_daily, limit_daily=5 * GiB, expires=None, email="a@x.example", status="active",
         percents=(80, 95)):
    bounds = periods(NOW, CAL)
    usage = {"daily": PeriodUsage(bounds["daily"], used_daily, limit_daily, CAL),
             "weekly": PeriodUsage(bounds["weekly"], used_daily, None, CAL)}
    return UserUsage("alice", email, "en", "Alice", "T", "student", status, expires,
                     percents, (7, 2), usage)


def test_no_alert_below_the_lowest_threshold():
    assert plan_alerts([user(int(3.9 * GiB))], NOW, CFG, set(), NAMES) == []


def test_highest_crossed_threshold_is_mailed_lower_ones_recorded():
    [alert] = plan_alerts([user(5 * GiB * 96 // 100 + 10)], NOW, CFG, set(), NAMES)
    assert (alert["mailed"], alert["thresholds"], alert["period_key"]) == \
        (95, [80, 95], "2026-11-21")
    assert alert["values"]["percent"] == 96 and alert["values"]["remaining"] == "204.8 MiB"


def test_already_sent_thresholds_are_skipped():
    already = {("alice", "quota", "daily", 80, "2026-11-21")}
    [alert] = plan_alerts([user(5 * GiB * 96 // 100 + 10)], NOW, CFG, already, NAMES)
    assert alert["thresholds"] == [95]
    already.add(("alice", "quota", "daily", 95, "2026-11-21"))
    assert plan_alerts([user(5 * GiB * 96 // 100 + 10)], NOW, CFG, already, NAMES) == []


def test_no_mail_without_email_or_when_inactive():
    assert plan_alerts([user(5 * GiB, email=None)], NOW, CFG, set(), NAMES) == []
    assert plan_alerts([user(5 * GiB, status="disabled")], NOW, CFG, set(), NAMES) == []


def test_expiry_alert_mails_the_fewest_days():
    expires = NOW + dt.timedelta(days=1, hours=3)
    [alert] = plan_alerts([user(0, expires=expires)], NOW, CFG, set(), NAMES)
    assert (alert["kind"], alert["mailed"], alert["thresholds"]) == ("expiry", 2, [2, 7])
    assert alert["values"]["days"] == 2
    assert plan_alerts([user(0, expires=NOW - dt.timedelta(days=1))], NOW, CFG, set(), NAMES) == []


def test_profile_without_thresholds_uses_the_configured_defaults():
    [alert] = plan_alerts([user(5 * GiB * 81 // 100, percents=())], NOW, CFG, set(), NAMES)
    assert alert["thresholds"] == [80]


@pytest.mark.parametrize("data, message", [
    ({}, "dsn: required"),
    ({"dsn": "x", "bogus": 1}, "unknown keys: bogus"),
    ({"dsn": "x", "routers": {"r1": {}}}, "routers.r1.secret: required"),
    ({"dsn": "x", "retention": {"mode": "shred"}}, "retention.mode"),
    ({"dsn": "x", "close_stale": {"multiple": 0}}, "close_stale.multiple: must be positive"),
    ({"dsn": "x", "smtp": {"port": "25"}}, "smtp.port: expected int"),
    ({"dsn": "x", "enforce": {"per_router": 300}}, "enforce.per_router: at most 256"),
    ({"dsn": "x", "enforce": {"per_router": 4}}, "enforce.unreachable_after: at most"),
    ({"dsn": "x", "enforce": {"budget": 9}}, r"enforce.budget: must be longer than one"),
    ({"dsn": "x", "enforce": {"source_address": "radius1"}},
     "enforce.source_address: not an IP address"),
    ({"dsn": "x", "routers": {"r1": {"secret": "s", "source_address": "x"}}},
     "routers.r1.source_address: not an IP address"),
    ({"dsn": "x", "alerts": {"budget": 0}}, "alerts.budget: must be positive"),
])
def test_config_errors_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        parse(data)


def test_router_secret_by_name_then_address():
    cfg = parse({"dsn": "x", "routers": {"hs-1": {"secret": "a"}, "10.0.0.9": {"secret": "b"}}})
    assert cfg.router("hs-1", "10.0.0.1").secret == "a"
    assert cfg.router(None, "10.0.0.9").secret == "b"
    assert cfg.router("hs-2", "10.0.0.2") is None


def test_render_builtin_french_and_unknown_placeholder(tmp_path):
    values = {"username": "b", "first_name": "Benoît", "last_name": "", "timezone": "Africa/Douala",
              "threshold": 2, "days": 2, "expires_at": "2026-11-23 00:00"}
    mail = render("expiry", "fr", "b@x.example", values)
    assert mail.subject == "Wi-Fi : votre compte expire dans 2 jour(s)"
    assert "Bonjour Benoît" in mail.body
    (tmp_path / "expiry.fr.txt").write_text("Subject: x\n\n$nope\n")
    with pytest.raises(TemplateError, match="nope"):
        render("expiry", "fr", "b@x.example", values, str(tmp_path))


@pytest.mark.parametrize("override", [
    "Bonjour $first_name,\n\nVotre compte expire.\n",         # no subject line
    "Subject: Wi-Fi\nReply-To: x@y.example\n\nVotre compte\n",  # a second header line
])
def test_an_override_without_a_subject_line_alone_is_refused_by_name(tmp_path, override):
    values = {"username": "b", "first_name": "B", "last_name": "", "timezone": "UTC",
              "threshold": 2, "days": 2, "expires_at": "2026-11-23 00:00"}
    (tmp_path / "expiry.en.txt").write_text(override)
    with pytest.raises(TemplateError, match=r"template expiry\.en: first line must be 'Subject"):
        render("expiry", "en", "b@x.example", values, str(tmp_path))


@pytest.mark.parametrize("n, text", [(0, "0 B"), (1023, "1023 B"), (1024, "1 KiB"),
                                     (1536, "1.5 KiB"), (5 * GiB, "5 GiB"),
                                     (GiB + GiB // 10, "1.1 GiB"), (GiB + GiB // 20, "1.0 GiB")])
def test_format_bytes(n, text):
    assert format_bytes(n) == text
