-- Public workstations: the console's actions on a session and a workstation: time added or
-- set, suspend, resume, terminate, maintenance.

-- Change a live session's time: p_mode 'add' (p_seconds may be negative) or 'set' (the new
-- remaining time). One UPDATE computes from the row it locks, so two operators adding at
-- once both count. The total is capped at the site's max session (detail.capped = 'max').
-- Another p_mode is the caller's mistake: invalid_parameter_value.
CREATE OR REPLACE FUNCTION captiva_workstation_add_time(
    p_actor text, p_session bigint, p_mode text, p_seconds integer,
    p_at timestamptz DEFAULT now()
) RETURNS TABLE (reason text, detail jsonb)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    s record;
    before jsonb;
    wanted integer;
    result record;
BEGIN
    SELECT ws.*, r.max_seconds INTO s FROM captiva_workstation_session AS ws
    JOIN captiva_workstation_rules AS r ON r.site = ws.site WHERE ws.id = p_session;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown-session', '{}'::jsonb;
        RETURN;
    END IF;
    IF p_mode NOT IN ('add', 'set') THEN
        RAISE EXCEPTION 'captiva_workstation_add_time: unknown mode %', p_mode
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT captiva_workstation_allowed(p_actor, 'add-time', s.site, s.workstation, p_session,
                                       p_at) THEN
        RETURN QUERY SELECT 'forbidden', '{}'::jsonb;
        RETURN;
    END IF;
    before := captiva_workstation_snapshot(p_session, p_at);
    UPDATE captiva_workstation_session AS t SET granted_seconds = LEAST(s.max_seconds,
        GREATEST(
            -- never below what is already used: remaining 0 at the least
            captiva_workstation_used(t.used_seconds, t.running_since, p_at),
            CASE WHEN p_mode = 'add' THEN t.granted_seconds
                 ELSE captiva_workstation_used(t.used_seconds, t.running_since, p_at) END
            + p_seconds))
    WHERE t.id = p_session AND t.state <> 'ended'
    RETURNING t.granted_seconds, t.used_seconds, t.running_since INTO result;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'ended', captiva_workstation_refuse(p_actor, 'add-time',
            s.site, s.workstation, p_session, 'ended', NULL, p_at);
        RETURN;
    END IF;
    wanted := CASE WHEN p_mode = 'add' THEN (before ->> 'remaining')::integer + p_seconds
                   ELSE p_seconds END;
    detail := jsonb_build_object('mode', p_mode, 'seconds', p_seconds,
        'remaining', captiva_workstation_remaining(result.granted_seconds, result.used_seconds,
                                                   result.running_since, p_at),
        'capped', CASE WHEN wanted > captiva_workstation_remaining(result.granted_seconds,
            result.used_seconds, result.running_since, p_at) THEN 'max' END);
    PERFORM captiva_workstation_log(p_actor, 'add-time', s.site, s.workstation,
        p_session, before, captiva_workstation_snapshot(p_session, p_at), detail, p_at);
    RETURN QUERY SELECT NULL::text, detail;
END
$$;

-- suspend (the clock stops, the network session is disconnected), resume (the code may log
-- in again for the time left), terminate (ended). Refusals: forbidden, ended, not-running
-- (suspend of a suspended session), not-suspended (resume), closed (resume out of hours).
-- Another p_action is the caller's mistake: invalid_parameter_value.
CREATE OR REPLACE FUNCTION captiva_workstation_change(
    p_actor text, p_session bigint, p_action text, p_at timestamptz DEFAULT now()
) RETURNS TABLE (reason text, detail jsonb)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    s record;
    before jsonb;
    why text;
BEGIN
    IF p_action NOT IN ('suspend', 'resume', 'terminate') THEN
        RAISE EXCEPTION 'captiva_workstation_change: unknown action %', p_action
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO s FROM captiva_workstation_session AS t WHERE t.id = p_session FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown-session', '{}'::jsonb;
        RETURN;
    END IF;
    IF NOT captiva_workstation_allowed(p_actor, p_action, s.site, s.workstation, p_session,
                                       p_at) THEN
        RETURN QUERY SELECT 'forbidden', '{}'::jsonb;
        RETURN;
    END IF;
    IF s.state = 'ended' THEN
        why := 'ended';
    ELSIF p_action = 'suspend' AND s.state = 'suspended' THEN
        why := 'not-running';
    ELSIF p_action = 'resume' AND s.state <> 'suspended' THEN
        why := 'not-suspended';
    ELSIF p_action = 'resume' AND captiva_workstation_closing(s.site, p_at) IS NULL THEN
        why := 'closed';
    END IF;
    IF why IS NOT NULL THEN
        RETURN QUERY SELECT why, captiva_workstation_refuse(p_actor, p_action, s.site,
            s.workstation, p_session, why, NULL, p_at);
        RETURN;
    END IF;
    before := captiva_workstation_snapshot(p_session, p_at);
    UPDATE captiva_workstation_session AS t SET
        used_seconds = LEAST(t.granted_seconds,
                             captiva_workstation_used(t.used_seconds, t.running_since, p_at)),
        running_since = NULL,
        state = CASE p_action WHEN 'suspend' THEN 'suspended' WHEN 'resume' THEN 'issued'
                              ELSE 'ended' END,
        ended_at = CASE WHEN p_action = 'terminate' THEN p_at END,
        end_reason = CASE WHEN p_action = 'terminate' THEN 'terminated' END
    WHERE t.id = p_session;
    PERFORM captiva_workstation_log(p_actor, p_action, s.site, s.workstation, p_session,
        before, captiva_workstation_snapshot(p_session, p_at), NULL, p_at);
    RETURN QUERY SELECT NULL::text, '{}'::jsonb;
END
$$;

-- Maintenance on or off from the console. Refused while a session is live (in-use).
CREATE OR REPLACE FUNCTION captiva_workstation_set_maintenance(
    p_actor text, p_workstation text, p_on boolean, p_at timestamptz DEFAULT now()
) RETURNS TABLE (reason text, detail jsonb)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    ws record;
    act text := CASE WHEN p_on THEN 'maintenance-on' ELSE 'maintenance-off' END;
BEGIN
    SELECT * INTO ws FROM captiva_workstation AS w WHERE w.name = p_workstation;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown-workstation', '{}'::jsonb;
        RETURN;
    END IF;
    IF NOT captiva_workstation_allowed(p_actor, act, ws.site, ws.name, NULL, p_at) THEN
        RETURN QUERY SELECT 'forbidden', '{}'::jsonb;
        RETURN;
    END IF;
    IF p_on AND EXISTS (SELECT FROM captiva_workstation_session AS s
                        WHERE s.workstation = ws.name AND s.state <> 'ended') THEN
        RETURN QUERY SELECT 'in-use', captiva_workstation_refuse(p_actor, act, ws.site,
            ws.name, NULL, 'in-use', NULL, p_at);
        RETURN;
    END IF;
    IF p_on THEN
        INSERT INTO captiva_workstation_maintenance (workstation, set_by, set_at)
        VALUES (ws.name, p_actor, p_at) ON CONFLICT (workstation) DO NOTHING;
    ELSE
        DELETE FROM captiva_workstation_maintenance AS m WHERE m.workstation = ws.name;
    END IF;
    PERFORM captiva_workstation_log(p_actor, act, ws.site, ws.name, NULL, NULL, NULL,
        CASE WHEN ws.maintenance THEN '{"roster": true}'::jsonb END, p_at);
    RETURN QUERY SELECT NULL::text, '{}'::jsonb;
END
$$;

ALTER FUNCTION captiva_workstation_add_time(text, bigint, text, integer, timestamptz)
    OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_change(text, bigint, text, timestamptz)
    OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_set_maintenance(text, text, boolean, timestamptz)
    OWNER TO captiva_definer;

REVOKE ALL ON FUNCTION captiva_workstation_add_time(text, bigint, text, integer, timestamptz),
    captiva_workstation_change(text, bigint, text, timestamptz),
    captiva_workstation_set_maintenance(text, text, boolean, timestamptz)
    FROM PUBLIC;
-- The portal: the console's actions.
GRANT EXECUTE ON FUNCTION captiva_workstation_add_time(text, bigint, text, integer, timestamptz),
    captiva_workstation_change(text, bigint, text, timestamptz),
    captiva_workstation_set_maintenance(text, text, boolean, timestamptz)
    TO captiva_portal;
