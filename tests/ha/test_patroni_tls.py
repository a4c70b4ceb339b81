"""Patroni's REST API serves https only, with the member's certificate from the lab CA
(docs/ha.md, "TLS and passwords"); the role's own health checks and these tests use it."""

from __future__ import annotations

import lab


def test_plain_http_gets_nothing_from_patronis_rest_api(ha_lab):
    for host in lab.group("postgres"):
        status, body = lab.get(f"http://{host.address}:{lab.PATRONI_PORT}/health")
        assert status == 0 or status >= 400, (host.name, status, body)
        assert b"state" not in body, (host.name, body)


def test_https_answers_with_a_certificate_the_lab_ca_verifies(ha_lab):
    for host in lab.group("postgres"):
        status, body = lab.patroni(host, "/health")  # https, verified with the lab CA
        assert status == 200 and body["state"] == "running", (host.name, status, body)
    assert len(lab.primaries()) == 1
