-- GENERATED from captiva/authz.py (the one authorization policy): do not edit here. Change
-- the policy there, then run
--     .venv/bin/python -m captiva.authz sql > roles/postgres/files/functions/15_authz.sql
-- (tests/unit/test_authz.py fails while this file differs from the policy).
--
-- Who may take which action, and where (docs/portal.md, "Roles"): every function that acts
-- asks captiva_authz_role before acting, and captiva_audit_record (86_audit.sql) writes the
-- row of the action's kind, from the action's own function. Owned by captiva_definer,
-- pg_temp last (see 40_quota_login).

-- The scope (all, site) role p_role has for action p_action; NULL: refused.
CREATE OR REPLACE FUNCTION captiva_authz_scope(p_role text, p_action text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT p.scope FROM (VALUES
        ('admin', 'view', 'all'),
        ('operator', 'view', 'all'),
        ('viewer', 'view', 'all'),
        ('admin', 'grant', 'all'),
        ('admin', 'reset', 'all'),
        ('admin', 'disconnect', 'all'),
        ('admin', 'device-block', 'all'),
        ('admin', 'device-unblock', 'all'),
        ('admin', 'device-rename', 'all'),
        ('admin', 'device-disconnect', 'all'),
        ('admin', 'voucher-revoke', 'all'),
        ('os', 'voucher-revoke', 'all'),
        ('admin', 'registration-approve', 'all'),
        ('operator', 'registration-approve', 'all'),
        ('admin', 'registration-reject', 'all'),
        ('operator', 'registration-reject', 'all'),
        ('os', 'registration-import', 'all'),
        ('admin', 'workstation-view', 'all'),
        ('operator', 'workstation-view', 'site'),
        ('viewer', 'workstation-view', 'site'),
        ('admin', 'workstation-report', 'all'),
        ('operator', 'workstation-report', 'site'),
        ('admin', 'issue', 'all'),
        ('operator', 'issue', 'site'),
        ('admin', 'add-time', 'all'),
        ('operator', 'add-time', 'site'),
        ('admin', 'suspend', 'all'),
        ('operator', 'suspend', 'site'),
        ('admin', 'resume', 'all'),
        ('operator', 'resume', 'site'),
        ('admin', 'terminate', 'all'),
        ('operator', 'terminate', 'site'),
        ('admin', 'maintenance-on', 'all'),
        ('operator', 'maintenance-on', 'site'),
        ('admin', 'maintenance-off', 'all'),
        ('operator', 'maintenance-off', 'site'),
        ('admin', 'register-guest', 'all'),
        ('operator', 'register-guest', 'site'),
        ('admin', 'revoke-consent', 'all'),
        ('operator', 'revoke-consent', 'site')
    ) AS p (role, action, scope)
    WHERE p.role = p_role AND p.action = p_action
$$;

-- The kind of the audit row action p_action writes; NULL: not an audited action.
CREATE OR REPLACE FUNCTION captiva_audit_kind(p_action text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT k.kind FROM (VALUES
        ('grant', 'account'),
        ('reset', 'account'),
        ('disconnect', 'account'),
        ('device-block', 'account'),
        ('device-unblock', 'account'),
        ('device-rename', 'account'),
        ('device-disconnect', 'account'),
        ('password-change', 'account'),
        ('password-reset-request', 'account'),
        ('password-reset', 'account'),
        ('password-roster-reset', 'account'),
        ('voucher-revoke', 'voucher'),
        ('registration-request', 'registration'),
        ('registration-approve', 'registration'),
        ('registration-reject', 'registration'),
        ('registration-import', 'registration'),
        ('issue', 'workstation'),
        ('add-time', 'workstation'),
        ('suspend', 'workstation'),
        ('resume', 'workstation'),
        ('terminate', 'workstation'),
        ('maintenance-on', 'workstation'),
        ('maintenance-off', 'workstation'),
        ('register-guest', 'workstation'),
        ('revoke-consent', 'workstation'),
        ('refused', 'workstation'),
        ('time-up', 'workstation'),
        ('closing', 'workstation'),
        ('router-time', 'workstation')
    ) AS k (action, kind)
    WHERE k.action = p_action
$$;

-- The function(s) that alone may write p_action's audit row, as a regular expression of
-- names (captiva_audit_record reads its call stack); NULL: any caller the policy lets act.
CREATE OR REPLACE FUNCTION captiva_audit_writer(p_action text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT w.writer FROM (VALUES
        ('device-block', 'captiva_device_act'),
        ('device-unblock', 'captiva_device_act'),
        ('device-rename', 'captiva_device_act'),
        ('device-disconnect', 'captiva_device_act'),
        ('password-change', 'captiva_student_password_set'),
        ('password-reset-request', 'captiva_password_reset_issue'),
        ('password-reset', 'captiva_password_reset_redeem'),
        ('password-roster-reset', 'captiva_student_credentials_roster'),
        ('voucher-revoke', 'captiva_voucher_revoke'),
        ('registration-request', 'captiva_registration_verify'),
        ('registration-approve', 'captiva_registration_decide'),
        ('registration-reject', 'captiva_registration_decide'),
        ('registration-import', 'captiva_registration_imported'),
        ('issue', 'captiva_workstation_[a-z_]+'),
        ('add-time', 'captiva_workstation_[a-z_]+'),
        ('suspend', 'captiva_workstation_[a-z_]+'),
        ('resume', 'captiva_workstation_[a-z_]+'),
        ('terminate', 'captiva_workstation_[a-z_]+'),
        ('maintenance-on', 'captiva_workstation_[a-z_]+'),
        ('maintenance-off', 'captiva_workstation_[a-z_]+'),
        ('register-guest', 'captiva_workstation_[a-z_]+'),
        ('revoke-consent', 'captiva_workstation_[a-z_]+'),
        ('refused', 'captiva_workstation_[a-z_]+'),
        ('time-up', 'captiva_workstation_[a-z_]+'),
        ('closing', 'captiva_workstation_[a-z_]+'),
        ('router-time', 'captiva_workstation_[a-z_]+')
    ) AS w (action, writer)
    WHERE w.action = p_action
$$;

-- Whether role p_role, working at p_sites (none: every site), may take p_action at p_site
-- (NULL: no site, which a 'site' scope with sites listed refuses): captiva.authz.allows.
CREATE OR REPLACE FUNCTION captiva_authz_allows(
    p_role text, p_sites text[], p_action text, p_site text
) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT CASE captiva_authz_scope(p_role, p_action)
               WHEN 'all' THEN true
               WHEN 'site' THEN p_sites = '{}' OR COALESCE(p_site = ANY (p_sites), false)
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
        SELECT 'os' AS role, '{}'::text[] AS sites
        WHERE p_actor ~ '^os:\S+$'
          AND (pg_has_role(session_user, 'captiva_jobs', 'MEMBER')
               OR pg_has_role(session_user, 'captiva_reconcile', 'MEMBER'))
        UNION ALL
        SELECT s.role, s.sites FROM captiva_staff AS s
        WHERE s.username = p_actor AND p_actor NOT LIKE 'os:%'
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
