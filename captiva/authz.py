"""Who may do what: the one authorization policy (role x action x scope).

Every surface asks here. The portal's pages offer a form only when :func:`allows` says so
(``captiva.portal.console.Staff.may``); the database decides again, from the same table: the
SQL functions in ``roles/postgres/files/functions/15_authz.sql`` are rendered from this module
(``python -m captiva.authz sql``; ``tests/unit/test_authz.py`` fails when the file differs),
and every action's function asks ``captiva_authz_role`` before it acts and
``captiva_audit_record`` writes its row. The command-line tools act as the operating-system
account that runs them (role ``os``, actor ``os:<login>``).

Roles:

- ``viewer``, ``operator``, ``admin``: staff, from the roster's ``captiva_staff`` (table
  ``captiva_staff``, with the ``sites`` an operator works at; none listed = every site);
- ``os``: an operating-system account running a Captiva command: on the quota jobs' host
  with the jobs' configuration (database login ``captiva_jobs``), or on the Ansible
  controller with the reconcile's (``captiva_reconcile``, ``import-registrations``); the
  database checks the login too, and each command's function is granted to its login only.

Scopes: ``all`` (every site, or an action that has no site) or ``site`` (the sites of the
staff member, every site when they list none). No cell: refused.

Actions are named as their audit rows name them (table ``captiva_audit``, column ``action``),
and each audit row's ``kind`` is its action's: ``account`` (a roster user's quota, sessions,
password, devices), ``voucher``, ``registration`` (a sign-up request), ``workstation``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

STAFF_ROLES = ("viewer", "operator", "admin")
ROLES = (*STAFF_ROLES, "os")
ALL, SITE = "all", "site"
SCOPES = (ALL, SITE)
KINDS = ("account", "voucher", "registration", "workstation")
OS_ACTOR_PREFIX = "os:"

_ADMIN = {"admin": ALL}
_REVIEW = {"admin": ALL, "operator": ALL}
_DESK = {"admin": ALL, "operator": SITE}
_WORKSTATION = "captiva_workstation_[a-z_]+"  # functions/70-78_workstation_*.sql


@dataclass(frozen=True)
class Action:
    name: str
    kind: str | None  # the audit row's kind; None: not audited (reading)
    scopes: Mapping[str, str]  # role: scope; a role not listed may not
    what: str  # for the roles table (docs/portal.md)
    others: str = ""  # who else writes this audit row, outside the staff policy
    surfaces: tuple[str, ...] = field(default=("portal",))
    # The SQL function(s), as a regular expression of names, that alone may write this
    # action's audit row (captiva_audit_record reads its call stack); "": any caller the
    # policy lets act (the console's own account rows).
    writer: str = ""


def _desk_action(name: str, what: str) -> Action:
    """A workstation desk action: operators at their sites, admins anywhere; audited by the
    workstation functions alone."""
    return Action(name, "workstation", _DESK, what, writer=_WORKSTATION)


def _system_action(name: str, others: str) -> Action:
    """A workstation audit row no staff role takes (a refusal, the system's own events)."""
    return Action(name, "workstation", {}, "", others=others, writer=_WORKSTATION)


ACTIONS: tuple[Action, ...] = (
    Action("view", None, {"viewer": ALL, "operator": ALL, "admin": ALL},
           "read the console: users, sessions, history, vouchers, sign-up requests, audit"),
    # A roster user's account (/admin/users/<username>).
    Action("grant", "account", _ADMIN, "grant extra quota"),
    Action("reset", "account", _ADMIN, "reset a period's counter"),
    Action("disconnect", "account", _ADMIN, "disconnect a session now"),
    Action("device-block", "account", _ADMIN, "block a student's device",
           others="the student, on their own device", writer="captiva_device_act"),
    Action("device-unblock", "account", _ADMIN, "unblock a student's device",
           others="the student, on their own device", writer="captiva_device_act"),
    Action("device-rename", "account", _ADMIN, "rename a student's device",
           others="the student, on their own device", writer="captiva_device_act"),
    Action("device-disconnect", "account", _ADMIN, "disconnect a student's device",
           others="the student, on their own device", writer="captiva_device_act"),
    Action("password-change", "account", {}, "", others="the student",
           writer="captiva_student_password_set"),
    Action("password-reset-request", "account", {}, "", others="the student",
           writer="captiva_password_reset_issue"),
    Action("password-reset", "account", {}, "", others="the student",
           writer="captiva_password_reset_redeem"),
    Action("password-roster-reset", "account", {}, "", others="the roster's apply",
           writer="captiva_student_credentials_roster"),
    # Vouchers: the console's form, or captiva-vouchers revoke on the jobs' host.
    Action("voucher-revoke", "voucher", {"admin": ALL, "os": ALL}, "revoke a voucher code now",
           surfaces=("portal", "captiva-vouchers revoke"), writer="captiva_voucher_revoke"),
    # Sign-up requests (/admin/registrations).
    Action("registration-request", "registration", {}, "", others="the applicant",
           writer="captiva_registration_verify"),
    Action("registration-approve", "registration", _REVIEW, "approve a sign-up request",
           writer="captiva_registration_decide"),
    Action("registration-reject", "registration", _REVIEW, "reject a sign-up request",
           writer="captiva_registration_decide"),
    # python -m captiva.onboarding import-registrations, on the controller: the approved
    # requests it has just written into the roster's users file, one row each.
    Action("registration-import", "registration", {"os": ALL},
           "import the approved sign-up requests into the roster's users file",
           surfaces=("python -m captiva.onboarding import-registrations",),
           writer="captiva_registration_imported"),
    # Public workstations (/admin/workstations/<site>): at the staff member's sites.
    Action("workstation-view", None, {"viewer": SITE, "operator": SITE, "admin": ALL},
           "read a site's workstations: board, audit"),
    Action("workstation-report", None, _DESK, "receive a site's daily workstation report",
           surfaces=("captiva-workstations report",)),
    _desk_action("issue", "issue a workstation session"),
    _desk_action("add-time", "add or set a session's time"),
    _desk_action("suspend", "suspend a session"),
    _desk_action("resume", "resume a session"),
    _desk_action("terminate", "end a session"),
    _desk_action("maintenance-on", "put a workstation out of service"),
    _desk_action("maintenance-off", "put a workstation back in service"),
    _desk_action("register-guest", "register a walk-in guest"),
    _desk_action("revoke-consent", "erase a guest (consent revoked)"),
    _system_action("refused", "any caller: a refused workstation action"),
    _system_action("time-up", "system: a session's time is up"),
    _system_action("closing", "system: the site closes"),
    _system_action("router-time", "system: added time sent by CoA"),
)
BY_NAME: dict[str, Action] = {a.name: a for a in ACTIONS}


class UnknownAction(KeyError):
    pass


def action(name: str) -> Action:
    try:
        return BY_NAME[name]
    except KeyError:
        raise UnknownAction(name) from None


def scope(role: str, name: str) -> str | None:
    """The scope ``role`` has for action ``name``, or None (refused)."""
    return action(name).scopes.get(role)


def allows(role: str | None, name: str, *, sites: Iterable[str] = (),
           site: str | None = None) -> bool:
    """Whether ``role`` (with its staff member's ``sites``; empty = every site) may take
    action ``name`` at ``site`` (None: no site, which a ``site`` scope with sites listed
    refuses). The database's ``captiva_authz_role`` decides the same way."""
    granted = scope(role, name) if role is not None else None
    if granted == ALL:
        return True
    if granted == SITE:
        sites = tuple(sites)
        return not sites or (site is not None and site in sites)
    return False


def kind(name: str) -> str | None:
    """The kind of the audit row action ``name`` writes (None: not audited)."""
    return action(name).kind


def os_actor(login: str) -> str:
    """The actor a command-line tool's audit rows name: ``os:<login>``."""
    if not login or any(c.isspace() for c in login):
        raise ValueError(f"not an operating-system login: {login!r}")
    return OS_ACTOR_PREFIX + login


def current_os_actor() -> str:
    """``os:<login>`` of whoever runs this process: under sudo as root, the account that ran
    sudo (``SUDO_USER``), else the effective user's login. What the account says, not a
    proof: anyone holding the jobs' database login could write another name."""
    import os
    import pwd

    login = pwd.getpwuid(os.geteuid()).pw_name
    if os.geteuid() == 0 and os.environ.get("SUDO_USER"):
        login = os.environ["SUDO_USER"]
    return os_actor(login)


# -------------------------------------------------------------------------------------------
# Renderings: the SQL the database decides with, the roles table of docs/portal.md.

def _literal(value: str) -> str:
    if "'" in value or "\\" in value:
        raise ValueError(f"unexpected character in a policy name: {value!r}")
    return f"'{value}'"


def _values_lookup(comment: str, signature: str, alias: str, columns: tuple[str, ...],
                   rows: list[tuple[str, ...]], where: str) -> str:
    """One of the policy's tables as an IMMUTABLE SQL function: the last of ``columns`` of
    the VALUES row matching ``where`` (``comment``: the lines above it, without ``-- ``)."""
    values = ",\n".join("        (" + ", ".join(_literal(v) for v in row) + ")" for row in rows)
    head = "".join(f"-- {line}\n" for line in comment.splitlines())
    return head + f"""\
CREATE OR REPLACE FUNCTION {signature} RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT {alias}.{columns[-1]} FROM (VALUES
{values}
    ) AS {alias} ({", ".join(columns)})
    WHERE {where}
$$;
"""  # noqa: S608 - the policy's names (_literal checks them) and this module's constants


def render_sql() -> str:
    """roles/postgres/files/functions/15_authz.sql, whole. The template below and the file
    are alike on purpose (a duplicate-code report pairs them): the file is this function's
    output, kept in the tree because the postgres role applies function files as they are."""
    lookups = "\n".join((
        _values_lookup("The scope (all, site) role p_role has for action p_action; NULL: refused.",
                       "captiva_authz_scope(p_role text, p_action text)", "p",
                       ("role", "action", "scope"),
                       [(role, a.name, s) for a in ACTIONS for role, s in sorted(a.scopes.items())],
                       "p.role = p_role AND p.action = p_action"),
        _values_lookup("The kind of the audit row action p_action writes; NULL: not an audited "
                       "action.", "captiva_audit_kind(p_action text)", "k", ("action", "kind"),
                       [(a.name, a.kind) for a in ACTIONS if a.kind is not None],
                       "k.action = p_action"),
        _values_lookup("The function(s) that alone may write p_action's audit row, as a regular "
                       "expression of\nnames (captiva_audit_record reads its call stack); NULL: "
                       "any caller the policy lets act.",
                       "captiva_audit_writer(p_action text)", "w", ("action", "writer"),
                       [(a.name, a.writer) for a in ACTIONS if a.writer],
                       "w.action = p_action")))
    return f"""\
-- GENERATED from captiva/authz.py (the one authorization policy): do not edit here. Change
-- the policy there, then run
--     .venv/bin/python -m captiva.authz sql > {SQL_FILE}
-- (tests/unit/test_authz.py fails while this file differs from the policy).
--
-- Who may take which action, and where (docs/portal.md, "Roles"): every function that acts
-- asks captiva_authz_role before acting, and captiva_audit_record (86_audit.sql) writes the
-- row of the action's kind, from the action's own function. Owned by captiva_definer,
-- pg_temp last (see 40_quota_login).

{lookups}
-- Whether role p_role, working at p_sites (none: every site), may take p_action at p_site
-- (NULL: no site, which a 'site' scope with sites listed refuses): captiva.authz.allows.
CREATE OR REPLACE FUNCTION captiva_authz_allows(
    p_role text, p_sites text[], p_action text, p_site text
) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT CASE captiva_authz_scope(p_role, p_action)
               WHEN '{ALL}' THEN true
               WHEN '{SITE}' THEN p_sites = '{{}}' OR COALESCE(p_site = ANY (p_sites), false)
               ELSE false END
$$;

-- The actor's role when the policy lets them take p_action at p_site (NULL: no site), else
-- NULL. Staff: their role and sites from captiva_staff, never from the caller, through the
-- portal's database login only. 'os:<login>' (no space in the login): a command on the
-- jobs' host or the controller, through the jobs' or the reconcile's login only (a portal
-- cannot claim to be one, nor the jobs a staff member; each command's function is granted to
-- its own login).
CREATE OR REPLACE FUNCTION captiva_authz_role(p_actor text, p_action text, p_site text)
RETURNS text LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT a.role FROM (
        SELECT 'os' AS role, '{{}}'::text[] AS sites
        WHERE p_actor ~ '^{OS_ACTOR_PREFIX}\\S+$'
          AND (pg_has_role(session_user, 'captiva_jobs', 'MEMBER')
               OR pg_has_role(session_user, 'captiva_reconcile', 'MEMBER'))
        UNION ALL
        SELECT s.role, s.sites FROM captiva_staff AS s
        WHERE s.username = p_actor AND p_actor NOT LIKE '{OS_ACTOR_PREFIX}%'
          AND pg_has_role(session_user, 'captiva_portal', 'MEMBER')
    ) AS a
    WHERE captiva_authz_allows(a.role, a.sites, p_action, p_site)
$$;

ALTER FUNCTION captiva_authz_scope(text, text) OWNER TO captiva_definer;
ALTER FUNCTION captiva_audit_kind(text) OWNER TO captiva_definer;
ALTER FUNCTION captiva_audit_writer(text) OWNER TO captiva_definer;
ALTER FUNCTION captiva_authz_allows(text, text[], text, text) OWNER TO captiva_definer;
ALTER FUNCTION captiva_authz_role(text, text, text) OWNER TO captiva_definer;
REVOKE ALL ON FUNCTION captiva_authz_scope(text, text), captiva_audit_kind(text),
    captiva_audit_writer(text), captiva_authz_allows(text, text[], text, text),
    captiva_authz_role(text, text, text) FROM PUBLIC;
-- The policy is no secret: the portal, the jobs and the controller's commands may ask it
-- (the portal reads captiva_staff already; tests walk every cell through their logins).
GRANT EXECUTE ON FUNCTION captiva_authz_scope(text, text), captiva_audit_kind(text),
    captiva_audit_writer(text), captiva_authz_allows(text, text[], text, text),
    captiva_authz_role(text, text, text) TO captiva_portal, captiva_jobs, captiva_reconcile;
"""  # noqa: S608 - a function file rendered from the policy's names (_literal checks them)


SQL_FILE = "roles/postgres/files/functions/15_authz.sql"


def roles_table() -> str:
    """The roles table of docs/portal.md ("Roles"), one line per staff action."""
    head = "| action | " + " | ".join(f"`{r}`" for r in ROLES) + " | audit kind |"
    lines = [head, "|---" * (len(ROLES) + 2) + "|"]
    for a in ACTIONS:
        if not a.scopes:
            continue
        cells = [{"all": "yes", "site": "its sites"}.get(a.scopes.get(r, ""), "-")
                 for r in ROLES]
        lines.append(f"| {a.what} (`{a.name}`) | " + " | ".join(cells)
                     + f" | {a.kind or '-'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["sql"]:
        sys.stdout.write(render_sql())
    elif argv == ["roles-table"]:
        sys.stdout.write(roles_table())
    else:
        print("usage: python -m captiva.authz sql | roles-table", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
