"""The portal host: the status portal behind nginx with TLS, and none of the quota jobs (they
run on the RADIUS host, test_quota_jobs.py): the portal's account reads no job secret."""

from __future__ import annotations

testinfra_hosts = ["podman://captiva-mol-portal"]


def test_portal_and_nginx_are_running_and_enabled(host):
    for name in ("captiva-portal", "nginx"):
        service = host.service(name)
        assert service.is_running, name
        assert service.is_enabled, name


def test_the_application_listens_on_loopback_only(host):
    assert host.socket("tcp://127.0.0.1:8080").is_listening
    assert not host.socket("tcp://0.0.0.0:8080").is_listening
    assert host.socket("tcp://0.0.0.0:443").is_listening


def test_https_health_reaches_the_database(host):
    # python3 is on every host; no curl needed
    probe = host.run(
        "python3 -c \"import ssl, urllib.request; "
        "ctx = ssl.create_default_context(); ctx.check_hostname = False; "
        "ctx.verify_mode = ssl.CERT_NONE; "
        "print(urllib.request.urlopen('https://127.0.0.1/healthz', context=ctx).read().decode())\"")
    assert probe.rc == 0, probe.stderr
    assert "ok" in probe.stdout.lower()


def test_plain_http_redirects_to_https(host):
    probe = host.run(
        "python3 -c \"import http.client; c = http.client.HTTPConnection('127.0.0.1', 80); "
        "c.request('GET', '/'); r = c.getresponse(); print(r.status, r.getheader('Location'))\"")
    assert probe.rc == 0, probe.stderr
    status, location = probe.stdout.split()
    assert status in ("301", "308") and location.startswith("https://")


def test_the_portal_host_runs_no_quota_job(host):
    assert not host.file("/etc/captiva/quota.toml").exists
    assert not host.file("/etc/systemd/system/captiva-quota@.service").exists
    timers = host.run("systemctl list-timers --all --plain --no-legend 'captiva-quota-*'")
    assert timers.stdout.strip() == ""


def test_the_portal_account_reads_its_configuration_only(host):
    assert host.user("captiva-portal").groups == ["captiva-portal"]
    assert not host.user("captiva-jobs").exists
    assert host.run("runuser -u captiva-portal -- head -c0 /etc/captiva/portal.toml").rc == 0
    denied = host.run("runuser -u captiva-portal -- cat /etc/captiva/tls/portal.key")
    assert denied.rc != 0


def test_the_database_refuses_a_connection_without_tls(host):
    # pg_hba.conf has only hostssl lines for this host: refused before any password is asked.
    probe = host.run(
        "/opt/captiva/venv/bin/python -c \"import psycopg; psycopg.connect("
        "'host=10.89.1.10 dbname=radius user=captiva_portal password=x sslmode=disable')\"")
    assert probe.rc != 0
    assert "no encryption" in probe.stderr


def test_the_portal_verifies_the_database_certificate(host):
    config = host.file("/etc/captiva/portal.toml").content_string
    assert "sslmode=verify-full" in config
    assert "sslrootcert='/etc/captiva/db-ca.pem'" in config


def test_no_failed_units(host):
    failed = host.run("systemctl --failed --plain --no-legend")
    assert failed.stdout.strip() == ""
