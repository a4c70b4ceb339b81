"""roles/freeradius as Ansible runs it: idempotence, check mode, preflight, the config gate.

Each test renders the role into its own copy of Debian's /etc/freeradius/3.0 (no server is
started; the role's handler runs ``freeradius -CX`` on the copy).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from radius_fixtures import (
    PACKAGE_CONFIG,
    REPLAY_NAME,
    ROLE_VARS,
    ROUTER_SECRET,
    copy_package_config,
    require_freeradius,
    run_role,
)

DB_PASSWORD = "test-db-password-0123456789"
VARS = dict(ROLE_VARS, freeradius_db_password=DB_PASSWORD, freeradius_auth_port=41812,
            freeradius_acct_port=41813)


@pytest.fixture
def tree(tmp_path) -> tuple[Path, Path]:
    require_freeradius()
    return tmp_path, copy_package_config(tmp_path)


def role_vars(base: Path, **overrides) -> dict:
    return dict(VARS, freeradius_buffer_dir=str(base / "buffer"),
                freeradius_login_buffer_dir=str(base / "login-buffer"), **overrides)


def recap(result) -> dict[str, int]:
    match = re.search(r"localhost\s+:\s+(.*)", result.stdout)
    assert match, result.stdout[-3000:]
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group(1))}


def assert_no_secret(result) -> None:
    output = result.stdout + result.stderr
    for secret in (DB_PASSWORD, ROUTER_SECRET, VARS["freeradius_portal_client"]["secret"]):
        assert secret not in output


def test_second_run_changes_nothing(tree):
    base, config_dir = tree
    first = run_role(base, config_dir, role_vars(base))
    assert first.returncode == 0, first.stdout[-3000:]
    assert recap(first)["changed"] > 0
    assert "Check the FreeRADIUS configuration" in first.stdout  # the handler ran
    second = run_role(base, config_dir, role_vars(base))
    assert second.returncode == 0, second.stdout[-3000:]
    assert recap(second)["changed"] == 0
    assert "Check the FreeRADIUS configuration" not in second.stdout  # nothing to check
    assert_no_secret(first)
    assert_no_secret(second)


def test_clients_are_exactly_the_configured_ones(tree):
    base, config_dir = tree
    result = run_role(base, config_dir, role_vars(base))
    assert result.returncode == 0, result.stdout[-3000:]
    clients = (config_dir / "clients.conf").read_text()
    assert re.findall(r"^client (\S+) \{", clients, re.M) == ["test-router", "captiva-portal"]
    assert "testing123" not in clients  # Debian's default localhost client is gone
    assert clients.count("require_message_authenticator = yes") == 2
    assert clients.startswith("#")  # ansible_managed header
    assert (config_dir / "clients.conf").stat().st_mode & 0o007 == 0
    assert not (config_dir / "sites-enabled" / "inner-tunnel").exists()
    # The buffers' readers run in the replay's process only, never beside the writers.
    for site in ("buffered-sql", "buffered-login"):
        assert not (config_dir / "sites-enabled" / site).exists()
    replay = (config_dir / f"{REPLAY_NAME}.conf").read_text()
    assert re.findall(r"^\$INCLUDE (\S+)$", replay, re.M) == [
        "sites-available/buffered-sql", "sites-available/buffered-login"]
    assert not re.search(r"^\s*(listen|client)\b", replay, re.M)  # no port of its own


def test_check_mode_writes_nothing(tree):
    base, config_dir = tree
    result = run_role(base, config_dir, role_vars(base), "--check")
    assert result.returncode == 0, result.stdout[-3000:]
    assert recap(result)["changed"] > 0
    for name in ("clients.conf", "sites-available/default", "mods-available/sql"):
        assert (config_dir / name).read_bytes() == (PACKAGE_CONFIG / name).read_bytes()
    assert not (config_dir / "mods-enabled" / "sql").exists()


@pytest.mark.parametrize("client,problem", [
    ({"name": "gw-short", "address": "192.0.2.1", "secret": "short-secret"}, "gw-short"),
    ({"name": "gw-quote", "address": "192.0.2.2", "secret": 'with"quote-0123456789'},
     "gw-quote"),
    ({"name": "gw-addr", "address": "not-an-address", "secret": ROUTER_SECRET}, "gw-addr"),
])
def test_preflight_names_a_bad_client_without_printing_its_secret(tree, client, problem):
    base, config_dir = tree
    result = run_role(base, config_dir, role_vars(base, freeradius_clients=[client]))
    assert result.returncode != 0
    assert "Check the RADIUS clients" in result.stdout
    assert f"bad: {problem}" in result.stdout
    assert client["secret"] not in result.stdout + result.stderr
    assert not (config_dir / "mods-enabled" / "sql").exists()  # stopped before writing


def test_missing_database_password_is_refused(tree):
    base, config_dir = tree
    result = run_role(base, config_dir, role_vars(base, freeradius_db_password=""))
    assert result.returncode != 0
    assert "Check the database settings" in result.stdout


def test_an_invalid_configuration_fails_the_check_handler(tree):
    # Leaving Debian's eap module enabled breaks the tree (it needs an Auth-Type EAP that
    # Captiva's default site does not have): the handler's freeradius -CX must catch it.
    base, config_dir = tree
    result = run_role(base, config_dir, role_vars(base, freeradius_mods_disabled=[]))
    assert result.returncode != 0
    assert "Check the FreeRADIUS configuration" in result.stdout
    assert "Instantiation failed for module \"eap\"" in result.stdout
    assert_no_secret(result)
