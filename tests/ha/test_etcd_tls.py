"""etcd speaks TLS only, on the client and the peer port, and wants a client certificate
from the lab CA (docs/ha.md, "TLS and passwords"); Patroni keeps its lock over it."""

from __future__ import annotations

import json
import ssl
import subprocess

import pytest

import lab


def members() -> list[lab.Host]:
    return lab.group("postgres")  # the etcd members run on the database hosts


@pytest.mark.parametrize("port", [lab.ETCD_CLIENT_PORT, lab.ETCD_PEER_PORT])
def test_plain_http_gets_nothing_from_etcd(ha_lab, port):
    for host in members():
        # Without TLS, /version answers 200 on the client port and /members on the peer port.
        for path in ("version", "members"):
            status, body = lab.get(f"http://{host.address}:{port}/{path}")
            assert status != 200 and b"etcd" not in body, (host.name, port, path, status, body)


def test_https_needs_a_client_certificate_from_the_ca(ha_lab):
    host = members()[0]
    without_certificate = ssl.create_default_context(cafile=str(lab.PKI / "ca.crt"))
    status, body = lab.get(f"https://{host.address}:{lab.ETCD_CLIENT_PORT}/version",
                       without_certificate)
    assert status == 0, (status, body)  # the handshake is refused: client-cert-auth

    with_certificate = ssl.create_default_context(cafile=str(lab.PKI / "ca.crt"))
    with_certificate.load_cert_chain(str(lab.PKI / f"{host.name}-etcd.crt"),
                                     str(lab.PKI / f"{host.name}-etcd.key"))
    status, body = lab.get(f"https://{host.address}:{lab.ETCD_CLIENT_PORT}/version",
                       with_certificate)
    assert status == 200 and "etcdserver" in json.loads(body), (status, body)


def test_a_client_certificate_from_another_ca_is_refused(ha_lab, tmp_path):
    """Unauthenticated means any certificate etcd's CA did not sign: one made up by a
    stranger (self-signed, right address, clientAuth) gets no answer either."""
    host = members()[0]
    key, certificate = tmp_path / "stranger.key", tmp_path / "stranger.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=stranger", "-addext", f"subjectAltName=IP:{host.address}",
                    "-addext", "extendedKeyUsage=clientAuth", "-keyout", str(key),
                    "-out", str(certificate)], check=True, capture_output=True)
    stranger = ssl.create_default_context(cafile=str(lab.PKI / "ca.crt"))
    stranger.load_cert_chain(str(certificate), str(key))
    for port in (lab.ETCD_CLIENT_PORT, lab.ETCD_PEER_PORT):
        status, body = lab.get(f"https://{host.address}:{port}/version", stranger)
        assert status == 0, (port, status, body)


def test_etcdctl_with_the_ca_sees_three_healthy_members_and_patroni_a_leader(ha_lab):
    host = members()[0]
    listed = lab.etcd_members(host)
    assert sorted(listed) == sorted(h.name for h in members()), listed
    for member in listed.values():
        assert all(url.startswith("https://") for url in member["peer_urls"]), listed
        assert all(url.startswith("https://") for url in member["client_urls"]), listed
    code, out = lab.etcdctl(host, "endpoint", "health", "--cluster")
    assert code == 0 and out.count("is healthy") == len(members()), out
    # Patroni keeps its leader lock in this etcd, which answers https only.
    lab.wait_until(lab.healthy, 60, 2, "Patroni cluster healthy")
