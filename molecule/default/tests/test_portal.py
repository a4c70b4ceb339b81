"""The portal host: the status portal behind nginx with TLS, and the quota jobs' timers
installed, enabled and running successfully."""

from __future__ import annotations

import pytest

testinfra_hosts = ["podman://captiva-mol-portal"]

JOBS = ["enforce", "close-stale", "retention"]  # alerts needs an SMTP relay (off here)


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


@pytest.mark.parametrize("job", JOBS)
def test_quota_timer_enabled_and_job_succeeds(host, job):
    timer = host.service(f"captiva-quota-{job}.timer")
    assert timer.is_enabled
    assert timer.is_running
    run = host.run(f"systemctl start captiva-quota@{job}.service")
    assert run.rc == 0, run.stderr
    result = host.run(f"systemctl show -p Result --value captiva-quota@{job}.service")
    assert result.stdout.strip() == "success"


def test_no_failed_units(host):
    failed = host.run("systemctl --failed --plain --no-legend")
    assert failed.stdout.strip() == ""
