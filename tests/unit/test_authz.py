"""The one authorization policy (captiva/authz.py): the whole matrix, its SQL rendering and
the roles table of docs/portal.md. tests/integration/test_console_grants.py walks the same
matrix through the database's functions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from captiva import authz

ROOT = Path(__file__).resolve().parents[2]

# The matrix as a person reads it, one line per action: viewer operator admin os
# (- refused, A every site / no site, S the staff member's sites). Changing the policy means
# changing this table too, on purpose.
EXPECTED = """
view                 A A A -
grant                - - A -
reset                - - A -
disconnect           - - A -
device-block         - - A -
device-unblock       - - A -
device-rename        - - A -
device-disconnect    - - A -
voucher-revoke       - - A A
registration-approve - A A -
registration-reject  - A A -
registration-import  - - - A
workstation-view     S S A -
workstation-report   - S A -
issue                - S A -
add-time             - S A -
suspend              - S A -
resume               - S A -
terminate            - S A -
maintenance-on       - S A -
maintenance-off      - S A -
register-guest       - S A -
revoke-consent       - S A -
"""
# Audited, but by nobody of the matrix (the student, the applicant, the roster, the system,
# anyone refused): no role may take them.
NOBODY = ("password-change", "password-reset-request", "password-reset",
          "password-roster-reset", "registration-request", "refused", "time-up", "closing",
          "router-time")


def expected() -> dict[tuple[str, str], str]:
    cells = {}
    for line in EXPECTED.strip().splitlines():
        name, *marks = line.split()
        for role, mark in zip(authz.ROLES, marks, strict=True):
            cells[role, name] = mark
    return cells


def test_the_policy_has_exactly_the_expected_actions():
    assert {name for _, name in expected()} | set(NOBODY) == set(authz.BY_NAME)
    assert len(authz.BY_NAME) == len(authz.ACTIONS)  # no action named twice


@pytest.mark.parametrize("sites", [(), ("north",), ("north", "east")])
@pytest.mark.parametrize("site", ["north", "south", None])
def test_the_whole_matrix(sites, site):
    """Every role x action x scope: a staff member with no sites, one site, two sites, acting
    at one of their sites, at another, and where no site applies."""
    for (role, name), mark in expected().items():
        allowed = authz.allows(role, name, sites=sites, site=site)
        if mark == "A":
            assert allowed, (role, name, sites, site)
        elif mark == "S":
            assert allowed == (not sites or site in sites), (role, name, sites, site)
        else:
            assert not allowed, (role, name, sites, site)
    for name in NOBODY:
        assert not any(authz.allows(role, name, sites=sites, site=site) for role in authz.ROLES)


def test_no_role_and_unknown_names_are_refused():
    assert not authz.allows(None, "view")
    assert not authz.allows("student", "grant")
    assert not authz.allows("Admin", "grant")  # roles are exact
    with pytest.raises(authz.UnknownAction):
        authz.allows("admin", "drop-database")
    with pytest.raises(authz.UnknownAction):
        authz.kind("drop-database")


def test_each_audited_action_has_one_kind_and_reading_is_not_audited():
    assert authz.kind("view") is None
    kinds = {a.name: a.kind for a in authz.ACTIONS if a.kind}
    assert set(kinds.values()) == set(authz.KINDS)
    assert kinds["voucher-revoke"] == "voucher" and kinds["add-time"] == "workstation"
    assert {kinds[n] for n in ("grant", "reset", "disconnect", "device-block",
                               "password-change")} == {"account"}


def test_the_console_account_actions_share_one_row():
    """Staff.can_act (the user page's forms) stands for every account action: they must all
    have the same row, and so must the workstations' actions (Staff.can_act_at)."""
    account = {a.name: dict(a.scopes) for a in authz.ACTIONS
               if a.kind == "account" and a.scopes}
    assert len({tuple(sorted(s.items())) for s in account.values()}) == 1
    desk = {a.name: dict(a.scopes) for a in authz.ACTIONS
            if a.kind == "workstation" and a.scopes}
    assert len({tuple(sorted(s.items())) for s in desk.values()}) == 1


def test_os_actors():
    assert authz.os_actor("alice") == "os:alice"
    for bad in ("", "al ice", "bob\n"):
        with pytest.raises(ValueError, match="not an operating-system login"):
            authz.os_actor(bad)
    assert authz.current_os_actor().startswith("os:")


def test_a_command_run_under_sudo_names_who_ran_sudo(monkeypatch):
    """The audit row of `sudo captiva-vouchers revoke` names the account that ran sudo; a
    SUDO_USER in the environment of anyone but root changes nothing."""
    import os
    import pwd
    monkeypatch.setenv("SUDO_USER", "alice")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert authz.current_os_actor() == "os:alice"
    monkeypatch.setattr(os, "geteuid", lambda: 4242)
    monkeypatch.setattr(pwd, "getpwuid", lambda uid: type("P", (), {"pw_name": f"u{uid}"}))
    assert authz.current_os_actor() == "os:u4242"


def test_the_sql_function_file_is_rendered_from_the_policy():
    shipped = (ROOT / authz.SQL_FILE).read_text()
    assert shipped == authz.render_sql(), (
        f"{authz.SQL_FILE} differs from captiva/authz.py: run "
        f".venv/bin/python -m captiva.authz sql > {authz.SQL_FILE}")


def test_the_sql_tables_hold_every_cell_and_kind():
    sql = authz.render_sql()
    cells = set(re.findall(r"\('(\w+)', '([\w-]+)', '(all|site)'\)", sql))
    assert cells == {(role, a.name, s) for a in authz.ACTIONS for role, s in a.scopes.items()}
    kinds = set(re.findall(r"\('([\w-]+)', '(account|voucher|registration|workstation)'\)",
                           sql))
    assert kinds == {(a.name, a.kind) for a in authz.ACTIONS if a.kind}


def test_a_name_that_would_break_the_sql_is_refused():
    with pytest.raises(ValueError, match="unexpected character"):
        authz._literal("x'; DROP TABLE captiva_audit; --")


def test_docs_portal_roles_table_is_the_policy():
    portal = (ROOT / "docs" / "portal.md").read_text()
    assert authz.roles_table() in portal, (
        "docs/portal.md's roles table differs from the policy: paste "
        "`.venv/bin/python -m captiva.authz roles-table`")


def test_every_action_the_sql_functions_audit_is_in_the_policy():
    """The actions the function files write (captiva_audit_record's second argument, the
    workstations' log and refusal calls) all have a kind: captiva_audit_record refuses an
    action the policy does not know."""
    functions = ROOT / "roles" / "postgres" / "files" / "functions"
    text = "\n".join(p.read_text() for p in sorted(functions.glob("*.sql")))
    argument = r"(?:\w+\([^)]*\)|[^,()]+)"  # p_actor, or COALESCE(p_actor, 'roster')
    written = set(re.findall(rf"captiva_audit_record\(\s*{argument},\s*'([\w-]+)'", text))
    written |= set(re.findall(r"captiva_workstation_log\(\s*[^,]+,\s*[^,]+,\s*'([\w-]+)'",
                              text))
    assert written, "no audited action found: the pattern is stale"
    assert written <= {a.name for a in authz.ACTIONS if a.kind}, written


def test_each_writer_is_a_function_the_files_create():
    """captiva_audit_record refuses a row of these actions unless its writer is on the call
    stack: a writer's name that matches no function would refuse every row."""
    functions = ROOT / "roles" / "postgres" / "files" / "functions"
    text = "\n".join(p.read_text() for p in sorted(functions.glob("*.sql")))
    created = set(re.findall(r"CREATE OR REPLACE FUNCTION (\w+)\(", text))
    for a in authz.ACTIONS:
        if a.writer:
            assert any(re.fullmatch(a.writer, name) for name in created), (a.name, a.writer)
    # Only the console's own account rows are written by the portal directly.
    assert {a.name for a in authz.ACTIONS if a.kind and not a.writer} == {
        "grant", "reset", "disconnect"}


def test_the_roster_accepts_exactly_the_policys_staff_roles():
    """A role the roster accepts but the policy does not know could sign in and do nothing;
    one the policy knows but the roster refuses could never be given."""
    from ansible_collections.captiva.campus.plugins.module_utils import captiva_roster
    assert set(captiva_roster.STAFF_ROLES) == set(authz.STAFF_ROLES)


def test_the_command_line():
    assert authz.main(["sql"]) == 0
    assert authz.main(["nothing"]) == 2
