-- Audit rows (captiva_audit, captiva_workstation_audit; migration 0140): no login role may
-- insert, update or delete one. The console's rows are written by captiva_audit_record, the
-- workstations' by their own functions (70_workstations.sql); both tables are expired only by
-- the retention functions below, which keep 30 days whatever the jobs ask. Owned by
-- captiva_definer, search_path with pg_temp last (see 40_quota_login).

-- Audit rows of the console (captiva_audit). The actor must be a staff member, and an admin
-- for the actions only admins may take; their role is read here from captiva_staff, never
-- taken from the caller, and the time is the database's. Returns the row's id.
CREATE OR REPLACE FUNCTION captiva_audit_record(
    p_actor text, p_action text, p_username text, p_reason text, p_detail jsonb
) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    actor_role text;
    new_id bigint;
    caller text;
BEGIN
    -- A student's own password actions (functions/90_student_credentials.sql): the actor is
    -- the account itself. An admin reset through the roster: the apply's author. Only those
    -- functions write these rows, after their own checks (the password, the link, the
    -- roster): the call stack must name one, so no login role writes one directly.
    IF p_action IN ('password-change', 'password-reset-request', 'password-reset',
                    'password-roster-reset') THEN
        GET DIAGNOSTICS caller = PG_CONTEXT;
        IF caller !~ ('function (captiva_student_password_set|captiva_password_reset_issue|'
                      'captiva_password_reset_redeem|captiva_student_credentials_roster)\(') THEN
            RAISE EXCEPTION 'captiva_audit_record: % only from the password functions', p_action
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;
    -- Devices' and sign-up's rows (functions/91_student_devices.sql, 92_registrations.sql):
    -- only from the functions that make the change the row records, in its transaction.
    IF p_action IN ('device-block', 'device-unblock', 'device-rename', 'device-disconnect',
                    'registration-request', 'registration-approve', 'registration-reject') THEN
        GET DIAGNOSTICS caller = PG_CONTEXT;
        IF caller !~ ('function (captiva_device_act|captiva_registration_verify|'
                      'captiva_registration_decide)\(') THEN
            RAISE EXCEPTION 'captiva_audit_record: % only from its own function', p_action
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;
    -- Who the actor is for this row: the account itself, an applicant, the roster, or a
    -- staff member with the right role; one row written below, whoever it is.
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
    ELSE
        SELECT s.role INTO actor_role FROM captiva_staff AS s WHERE s.username = p_actor;
        IF actor_role IS NULL THEN
            RAISE EXCEPTION 'captiva_audit_record: % is not a staff member', p_actor
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF p_action NOT IN ('grant', 'reset', 'disconnect', 'voucher-revoke', 'device-block',
                            'device-unblock', 'device-rename', 'device-disconnect',
                            'registration-approve', 'registration-reject') THEN
            RAISE EXCEPTION 'captiva_audit_record: unknown action %', p_action
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        -- Sign-up requests (functions/92_registrations.sql) are reviewed by operators too.
        IF actor_role <> 'admin' AND NOT (actor_role = 'operator'
                AND p_action IN ('registration-approve', 'registration-reject')) THEN
            RAISE EXCEPTION 'captiva_audit_record: % (%) may not %', p_actor, actor_role,
                p_action USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;
    INSERT INTO captiva_audit (actor, actor_role, action, username, reason, detail)
    VALUES (p_actor, actor_role, p_action, p_username, p_reason, COALESCE(p_detail, '{}'))
    RETURNING id INTO new_id;
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

CREATE OR REPLACE FUNCTION captiva_audit_expire(p_before timestamptz) RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    WITH gone AS (DELETE FROM captiva_audit WHERE at < captiva_audit_cutoff(p_before)
                  RETURNING 1)
    SELECT count(*) FROM gone
$$;

CREATE OR REPLACE FUNCTION captiva_workstation_audit_expire(p_before timestamptz)
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    WITH gone AS (DELETE FROM captiva_workstation_audit
                  WHERE at < captiva_audit_cutoff(p_before) RETURNING 1)
    SELECT count(*) FROM gone
$$;

ALTER FUNCTION captiva_audit_record(text, text, text, text, jsonb) OWNER TO captiva_definer;
ALTER FUNCTION captiva_audit_cutoff(timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_audit_expire(timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_audit_expire(timestamptz) OWNER TO captiva_definer;
REVOKE ALL ON FUNCTION captiva_audit_record(text, text, text, text, jsonb),
    captiva_audit_cutoff(timestamptz),
    captiva_audit_expire(timestamptz),
    captiva_workstation_audit_expire(timestamptz) FROM PUBLIC;
-- The portal's console actions; the jobs' retention.
GRANT EXECUTE ON FUNCTION captiva_audit_record(text, text, text, text, jsonb) TO captiva_portal;
GRANT EXECUTE ON FUNCTION captiva_audit_expire(timestamptz),
    captiva_workstation_audit_expire(timestamptz) TO captiva_jobs;
