-- The audit (captiva_audit, one table since migration 0210; its kind column says whose rows:
-- account, voucher, registration, workstation): no login role may insert, update or delete a
-- row. captiva_audit_record writes every row; captiva_audit_expire alone deletes them, and
-- keeps 30 days whatever the jobs ask. Owned by captiva_definer, search_path with pg_temp last
-- (see 40_quota_login).

-- The 5-argument writer (before 0210) and the workstations' own expiry are gone.
DROP FUNCTION IF EXISTS captiva_audit_record(text, text, text, text, jsonb);
DROP FUNCTION IF EXISTS captiva_audit_expire(timestamptz);
DROP FUNCTION IF EXISTS captiva_workstation_audit_expire(timestamptz);

-- One audit row; returns its id. Who the actor is and whether they may: the policy
-- (15_authz.sql, rendered from captiva/authz.py) through captiva_authz_role, which reads a
-- staff member's role from captiva_staff, never from the caller. Rows that record what
-- another function did (a student's password, devices, a sign-up, a voucher revocation, every
-- workstation row) are written only from that function, in its transaction: the call stack
-- must name it. The time is the database's, but for workstation rows, whose functions take
-- the time they act at (p_at). p_site .. p_after: workstation rows only.
CREATE OR REPLACE FUNCTION captiva_audit_record(
    p_actor text, p_action text, p_username text, p_reason text, p_detail jsonb,
    p_site text DEFAULT NULL, p_workstation text DEFAULT NULL, p_session bigint DEFAULT NULL,
    p_before jsonb DEFAULT NULL, p_after jsonb DEFAULT NULL, p_at timestamptz DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    row_kind text := captiva_audit_kind(p_action);
    actor_role text;
    new_id bigint;
    caller text;
    writers text;
BEGIN
    IF row_kind IS NULL THEN
        RAISE EXCEPTION 'captiva_audit_record: unknown action %', p_action
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The function(s) that alone may write the rows of this action (the policy's).
    writers := captiva_audit_writer(p_action);
    IF writers IS NOT NULL THEN
        GET DIAGNOSTICS caller = PG_CONTEXT;
        IF caller !~ ('function (' || writers || ')\(') THEN
            RAISE EXCEPTION 'captiva_audit_record: % only from its own function', p_action
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;
    -- Who the actor is for this row: the account itself, an applicant, the roster, the
    -- system, anyone refused, or a staff member (or a command's os:<login>) the policy lets
    -- act; one row written below, whoever it is.
    IF p_action IN ('password-change', 'password-reset-request', 'password-reset') THEN
        IF p_actor IS DISTINCT FROM p_username
                OR NOT EXISTS (SELECT FROM captiva_user AS u WHERE u.username = p_username) THEN
            RAISE EXCEPTION 'captiva_audit_record: % is not the account %', p_actor, p_username
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        actor_role := 'student';
    ELSIF p_action = 'registration-request' THEN
        -- A sign-up request whose e-mail address was just confirmed (92_registrations.sql):
        -- the applicant, named by the matricule they gave.
        IF p_actor IS DISTINCT FROM p_username OR NOT EXISTS (
                SELECT FROM captiva_registration AS r
                WHERE r.matricule = p_username AND r.status = 'pending') THEN
            RAISE EXCEPTION 'captiva_audit_record: no pending request of %', p_username
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        actor_role := 'applicant';
    ELSIF p_action = 'password-roster-reset' THEN
        actor_role := 'roster';
    -- A student's own devices (functions/91_student_devices.sql): the account itself here,
    -- an admin below.
    ELSIF p_action IN ('device-block', 'device-unblock', 'device-rename', 'device-disconnect')
            AND p_actor = p_username
            AND EXISTS (SELECT FROM captiva_user AS u WHERE u.username = p_username) THEN
        actor_role := 'student';
    -- A workstation's automatic ends and its added time by CoA (77_workstation_ends.sql).
    ELSIF p_action IN ('time-up', 'closing', 'router-time') THEN
        IF p_actor IS DISTINCT FROM 'system' THEN
            RAISE EXCEPTION 'captiva_audit_record: % is the system''s', p_action
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        actor_role := 'system';
    -- A refused workstation action: whoever asked, with their staff role if they have one.
    ELSIF p_action = 'refused' THEN
        actor_role := COALESCE((SELECT s.role FROM captiva_staff AS s
                                WHERE s.username = p_actor), 'none');
    ELSE
        actor_role := captiva_authz_role(p_actor, p_action, p_site);
        IF actor_role IS NULL THEN
            IF p_actor NOT LIKE 'os:%'
                    AND NOT EXISTS (SELECT FROM captiva_staff AS s WHERE s.username = p_actor) THEN
                RAISE EXCEPTION 'captiva_audit_record: % is not a staff member', p_actor
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            RAISE EXCEPTION 'captiva_audit_record: % may not %', p_actor, p_action
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;
    IF row_kind = 'workstation' THEN
        INSERT INTO captiva_audit (at, kind, actor, actor_role, action, username, reason, site,
                                   workstation, session_id, before, after, detail)
        VALUES (COALESCE(p_at, now()), row_kind, p_actor, actor_role, p_action, p_username,
                p_reason, COALESCE(p_site, ''), p_workstation, p_session, p_before, p_after,
                COALESCE(p_detail, '{}'))
        RETURNING id INTO new_id;
    ELSE
        INSERT INTO captiva_audit (kind, actor, actor_role, action, username, reason, detail)
        VALUES (row_kind, p_actor, actor_role, p_action, p_username, p_reason,
                COALESCE(p_detail, '{}'))
        RETURNING id INTO new_id;
    END IF;
    RETURN new_id;
END
$$;

-- THE audit retention rule: rows older than the cutoff the jobs ask for go, but never a row
-- younger than 30 days, whatever the caller asks (a compromised jobs account cannot erase
-- recent history; retention.audit_days below 30 keeps 30).
CREATE OR REPLACE FUNCTION captiva_audit_cutoff(p_before timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT LEAST(p_before, now() - interval '30 days')
$$;

-- Rows of p_kind (NULL: every kind) older than the cutoff, never younger than 30 days: the
-- quota jobs' retention passes no kind, the workstations' retention 'workstation' (both
-- with retention.audit_days: docs/quota.md, docs/workstations.md).
CREATE OR REPLACE FUNCTION captiva_audit_expire(p_before timestamptz, p_kind text DEFAULT NULL)
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    WITH gone AS (DELETE FROM captiva_audit
                  WHERE at < captiva_audit_cutoff(p_before)
                    AND (p_kind IS NULL OR kind = p_kind)
                  RETURNING 1)
    SELECT count(*) FROM gone
$$;

ALTER FUNCTION captiva_audit_record(text, text, text, text, jsonb, text, text, bigint, jsonb,
                                    jsonb, timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_audit_cutoff(timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_audit_expire(timestamptz, text) OWNER TO captiva_definer;
REVOKE ALL ON FUNCTION captiva_audit_record(text, text, text, text, jsonb, text, text, bigint,
                                            jsonb, jsonb, timestamptz),
    captiva_audit_cutoff(timestamptz),
    captiva_audit_expire(timestamptz, text) FROM PUBLIC;
-- The portal's console actions; the jobs' retention.
GRANT EXECUTE ON FUNCTION captiva_audit_record(text, text, text, text, jsonb, text, text,
                                               bigint, jsonb, jsonb, timestamptz)
    TO captiva_portal;
GRANT EXECUTE ON FUNCTION captiva_audit_expire(timestamptz, text) TO captiva_jobs;
