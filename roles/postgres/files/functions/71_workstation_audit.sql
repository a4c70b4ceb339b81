-- Public workstations: every action and every refusal is an audit row of kind 'workstation'
-- (captiva_audit, written by captiva_audit_record, 86_audit.sql, which reads the actor's
-- role itself). Actions return a reason (NULL: done) and a detail the portal turns into a
-- message in the operator's language (captiva_workstation_refuse); each asks the policy
-- first through captiva_workstation_allowed, which audits a refusal.

-- Before issue 24 the caller passed the actor's role (p_role) and the row went to
-- captiva_workstation_audit.
DROP FUNCTION IF EXISTS captiva_workstation_log(text, text, text, text, text, bigint, jsonb,
                                                jsonb, jsonb, timestamptz);
DROP FUNCTION IF EXISTS captiva_workstation_refuse(text, text, text, text, text, bigint, text,
                                                   jsonb, timestamptz);

-- A workstation's audit row (plpgsql: captiva_audit_record is created after this file).
CREATE OR REPLACE FUNCTION captiva_workstation_log(
    p_actor text, p_action text, p_site text, p_workstation text,
    p_session bigint, p_before jsonb, p_after jsonb, p_detail jsonb, p_at timestamptz
) RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    PERFORM captiva_audit_record(p_actor, p_action, NULL, NULL, p_detail, p_site,
                                 p_workstation, p_session, p_before, p_after, p_at);
END
$$;

-- A session as the audit shows it before and after an action.
CREATE OR REPLACE FUNCTION captiva_workstation_snapshot(p_id bigint, p_at timestamptz)
RETURNS jsonb LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT jsonb_build_object('state', s.state, 'granted', s.granted_seconds,
        'remaining', captiva_workstation_remaining(s.granted_seconds, s.used_seconds,
                                                   s.running_since, p_at))
    FROM captiva_workstation_session AS s WHERE s.id = p_id
$$;

-- A refusal: audited, and returned as (NULL session, reason, detail).
CREATE OR REPLACE FUNCTION captiva_workstation_refuse(
    p_actor text, p_attempt text, p_site text, p_workstation text,
    p_session bigint, p_reason text, p_detail jsonb, p_at timestamptz
) RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    PERFORM captiva_workstation_log(p_actor, 'refused', COALESCE(p_site, ''),
        p_workstation, p_session, NULL, NULL,
        COALESCE(p_detail, '{}') || jsonb_build_object('attempt', p_attempt, 'reason', p_reason),
        p_at);
    RETURN COALESCE(p_detail, '{}');
END
$$;

-- Whether the policy (captiva_authz_role) lets p_actor take p_action at p_site; when it
-- does not, the refusal is audited (reason forbidden) and the answer is false. Every action
-- asks here first.
CREATE OR REPLACE FUNCTION captiva_workstation_allowed(
    p_actor text, p_action text, p_site text, p_workstation text, p_session bigint,
    p_at timestamptz
) RETURNS boolean LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF captiva_authz_role(p_actor, p_action, p_site) IS NOT NULL THEN
        RETURN true;
    END IF;
    PERFORM captiva_workstation_refuse(p_actor, p_action, p_site, p_workstation, p_session,
                                       'forbidden', NULL, p_at);
    RETURN false;
END
$$;

ALTER FUNCTION captiva_workstation_log(text, text, text, text, bigint, jsonb, jsonb, jsonb,
                                       timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_snapshot(bigint, timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_refuse(text, text, text, text, bigint, text, jsonb,
                                          timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_allowed(text, text, text, text, bigint, timestamptz)
    OWNER TO captiva_definer;

REVOKE ALL ON FUNCTION captiva_workstation_log(text, text, text, text, bigint, jsonb, jsonb,
                                               jsonb, timestamptz),
    captiva_workstation_snapshot(bigint, timestamptz),
    captiva_workstation_refuse(text, text, text, text, bigint, text, jsonb, timestamptz),
    captiva_workstation_allowed(text, text, text, text, bigint, timestamptz)
    FROM PUBLIC;
