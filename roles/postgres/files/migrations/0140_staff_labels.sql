-- No code for the portal (docs/threat-model.md, "Codes"; docs/portal.md, "What staff see").
-- A voucher's or a workstation session's RADIUS username is also its password, so the
-- portal's role must read none: staff see labels (batch#index; workstation and session id),
-- computed by the SECURITY DEFINER functions of functions/85_staff_labels.sql.
--
-- 1. Accounting rows: the portal sees only the roster's. A restrictive row-level policy on
-- the tables whose username can be a code lets captiva_portal (and any role that is a
-- member of it) read only rows whose username is a captiva_user; every other role, the
-- functions' owner included, keeps every row through the permissive policy. The student's
-- and the console's per-user queries are unchanged; the staff's lists of everybody come
-- from captiva_staff_sessions / captiva_staff_failures, with labels. The policy is a
-- security barrier: a caller's condition that could raise an error with a hidden value
-- (username::integer) is applied after it, and pg_stats hides these tables' statistics.
DO $policies$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['radacct', 'radacct_history', 'radpostauth', 'captiva_usage_daily']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY captiva_every_row ON %I USING (true) WITH CHECK (true)',
                       t);
        EXECUTE format('CREATE POLICY captiva_portal_roster_only ON %1$I AS RESTRICTIVE '
                       'FOR SELECT TO captiva_portal USING (EXISTS ('
                       'SELECT FROM captiva_user AS u WHERE u.username = %1$I.username))', t);
    END LOOP;
END
$policies$;

-- 2. Code columns: the portal reads the other columns of these tables, never the code.
-- A voucher's first use and revocation: only their times, sources and reasons.
REVOKE SELECT ON captiva_voucher_first_use, captiva_voucher_revocation
    FROM captiva_portal, captiva_jobs;
GRANT SELECT (first_used_at, nasipaddress) ON captiva_voucher_first_use
    TO captiva_portal, captiva_jobs;
GRANT SELECT (revoked_at, source, reason) ON captiva_voucher_revocation
    TO captiva_portal, captiva_jobs;
-- A workstation session's code: the console shows the workstation and the session id.
REVOKE SELECT ON captiva_workstation_session FROM captiva_portal;
DO $columns$
DECLARE
    cols text;
BEGIN
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
    FROM pg_catalog.pg_attribute
    WHERE attrelid = 'captiva_workstation_session'::regclass AND attnum > 0
      AND NOT attisdropped AND attname <> 'code';
    EXECUTE format('GRANT SELECT (%s) ON captiva_workstation_session TO captiva_portal', cols);
    -- A Disconnect-Request's username is a code for a voucher or a workstation session.
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
    FROM pg_catalog.pg_attribute
    WHERE attrelid = 'captiva_disconnect'::regclass AND attnum > 0
      AND NOT attisdropped AND attname <> 'username';
    REVOKE SELECT ON captiva_disconnect FROM captiva_portal;
    EXECUTE format('GRANT SELECT (%s) ON captiva_disconnect TO captiva_portal', cols);
END
$columns$;
-- The applied-change log lists every RADIUS user an apply touched, vouchers' codes
-- included: the console reads one user's entries through captiva_change_log_of.
REVOKE SELECT ON captiva_change_log FROM captiva_portal;
GRANT SELECT ON captiva_change_log TO captiva_definer;

-- 3. Revocations are append-only for the portal and the jobs: they record an urgent
-- revocation (INSERT ... ON CONFLICT DO NOTHING) and can lift none. Only the reconcile, from
-- the roster, removes a roster revocation; it keeps urgent ones.
REVOKE UPDATE, DELETE ON captiva_voucher_revocation FROM captiva_portal, captiva_jobs;

-- 4. Audit rows are written only by SECURITY DEFINER functions that read the actor's role
-- from captiva_staff themselves (captiva_audit_record, the workstations' functions), and
-- deleted only by the retention functions, which keep at least their floor. No login role
-- may insert, update or delete one directly.
REVOKE INSERT, UPDATE, DELETE ON captiva_audit, captiva_workstation_audit
    FROM captiva_portal, captiva_jobs, captiva_freeradius, captiva_reconcile;
REVOKE USAGE ON SEQUENCE captiva_audit_id_seq, captiva_workstation_audit_id_seq
    FROM captiva_portal;
GRANT SELECT, INSERT, DELETE ON captiva_audit TO captiva_definer;
GRANT DELETE ON captiva_workstation_audit TO captiva_definer;
GRANT USAGE ON SEQUENCE captiva_audit_id_seq TO captiva_definer;

-- 5. What the labelling functions read: failed logins (never pass) and the sessions of a
-- code, found by code and time (ended sessions too: radacct keeps their rows).
DO $columns$
DECLARE
    cols text;
BEGIN
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
    FROM pg_catalog.pg_attribute
    WHERE attrelid = 'radpostauth'::regclass AND attnum > 0 AND NOT attisdropped
      AND attname <> 'pass';
    EXECUTE format('GRANT SELECT (%s) ON radpostauth TO captiva_definer', cols);
END
$columns$;
CREATE INDEX captiva_workstation_session_code_issued_idx
    ON captiva_workstation_session (code, issued_at);
