"""captiva.smoke, the host-side checks of ``make smoke`` (docs/deploy.md, "Smoke test"):
a RADIUS login as the portal sends it, through real FreeRADIUS; a Disconnect-Request for a
session that does not exist, to tools/routeros-sim's listener. Each failure names a cause."""

from __future__ import annotations

import io
import json

import radius_fixtures
from portal_fixtures import portal_config_dict, toml_dump
from quota_radius_fixtures import provision
from routeros_fixtures import start_sim, stop_sim

from captiva import smoke

radius_server = radius_fixtures.radius_server
SECRET = "smoke-router-secret-0123"


def quota_config(tmp_path, secret):
    path = tmp_path / "quota.json"
    path.write_text(json.dumps({"dsn": "dbname=unused", "routers": {
        "gw-smoke": {"secret": secret, "address": "127.0.0.1"}}}))
    return str(path)


def test_the_disconnect_check_wants_a_nak_and_names_what_a_silent_router_means(tmp_path):
    sim = start_sim(tmp_path)
    try:
        sim.accept_disconnects(("127.0.0.1", SECRET))
        router = f"gw-smoke=127.0.0.1:{sim.coa_port}"
        (line,) = smoke.check_disconnect(quota_config(tmp_path, SECRET), [router])
        assert line.startswith("ok Disconnect listener of gw-smoke") and "503" in line, line
        assert sim.rows("/ip/hotspot/active") == []  # nothing existed, nothing changed
        # A secret the router does not have: it drops the request without a word.
        (line,) = smoke.check_disconnect(quota_config(tmp_path, "another-secret-0123"),
                                         [router])
        assert line.startswith("FAILED Disconnect listener of gw-smoke"), line
        assert "badly signed" in line and "accept=yes" in line
        assert smoke.main(["disconnect", "--config", quota_config(tmp_path, SECRET),
                           "--router", router]) == 0
    finally:
        stop_sim(sim)


def test_the_radius_check_logs_the_smoke_user_in_as_the_portal_does(radius_server, tmp_path,
                                                                    capsys, monkeypatch):
    provision(radius_server, [{"username": "captiva-smoke", "password": "smoke-Passw0rd-1",
                               "promotion": "unlimited"}])
    config = tmp_path / "portal.toml"
    config.write_text(toml_dump(portal_config_dict(radius_server.db, radius_server)))
    (line,) = smoke.check_radius(str(config), "captiva-smoke", "smoke-Passw0rd-1")
    assert line.startswith("ok RADIUS login of captiva-smoke") and "Access-Accept" in line
    (line,) = smoke.check_radius(str(config), "captiva-smoke", "wrong-password")
    assert line.startswith("FAILED RADIUS login of captiva-smoke") and "Access-Reject" in line
    assert "captiva_smoke.password" in line
    monkeypatch.setattr("sys.stdin", io.StringIO("smoke-Passw0rd-1\n"))
    assert smoke.main(["radius", "--config", str(config), "--username", "captiva-smoke"]) == 0
    assert capsys.readouterr().out.startswith("ok RADIUS login")
