-- Public workstations: automatic ends (time up, closing time) and the router's side of a
-- session: the enforce job's Disconnect-Requests and CoA-Requests (added time) and their
-- answers.

-- Automatic ends: running sessions whose time is up, and live sessions at closing time.
-- Audited as actor 'system'. The enforce job then disconnects what is still online.
CREATE OR REPLACE FUNCTION captiva_workstation_sweep(p_at timestamptz DEFAULT now())
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    s record;
    n integer := 0;
    why text;
BEGIN
    FOR s IN
        SELECT t.id, t.site, t.workstation, t.state,
               captiva_workstation_remaining(t.granted_seconds, t.used_seconds,
                                             t.running_since, p_at) AS remaining
        FROM captiva_workstation_session AS t WHERE t.state <> 'ended'
        FOR UPDATE SKIP LOCKED
    LOOP
        why := CASE WHEN s.state = 'running' AND s.remaining <= 0 THEN 'time-up'
                    WHEN captiva_workstation_closing(s.site, p_at) IS NULL THEN 'closing' END;
        CONTINUE WHEN why IS NULL;
        PERFORM captiva_workstation_log('system', why, s.site, s.workstation, s.id,
            captiva_workstation_snapshot(s.id, p_at), NULL, NULL, p_at);
        UPDATE captiva_workstation_session AS t SET
            used_seconds = LEAST(t.granted_seconds,
                                 captiva_workstation_used(t.used_seconds, t.running_since, p_at)),
            running_since = NULL, state = 'ended', ended_at = p_at, end_reason = why
        WHERE t.id = s.id;
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

-- Open sessions of workstation codes that must end now, in the columns of
-- captiva_sessions_to_disconnect (the enforce job sends the Disconnect-Request and records
-- the ACK): the session is ended or suspended, or its time was cut below what the router
-- was given (router_until later than the new end; 5 s of slack).
CREATE OR REPLACE FUNCTION captiva_workstation_sessions_to_disconnect(
    p_at timestamptz DEFAULT now()
) RETURNS SETOF captiva_session_end LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT a.radacctid, a.acctuniqueid, a.acctsessionid, a.username, a.nasipaddress,
           a.framedipaddress, 'workstation-' || x.why, s.workstation
    FROM radacct AS a
    JOIN LATERAL (
        SELECT t.* FROM captiva_workstation_session AS t
        WHERE t.code = a.username AND t.issued_at <= a.acctstarttime + interval '1 minute'
        ORDER BY t.id DESC LIMIT 1) AS s ON true
    CROSS JOIN LATERAL (SELECT CASE
        WHEN s.state = 'ended' THEN COALESCE(s.end_reason, 'ended')
        WHEN s.state IN ('suspended', 'issued') THEN 'suspended'
        WHEN s.router_until > p_at + make_interval(secs => captiva_workstation_remaining(
                 s.granted_seconds, s.used_seconds, s.running_since, p_at) + 5)
            THEN 'time-cut' END AS why) AS x
    WHERE a.acctstoptime IS NULL AND x.why IS NOT NULL
    ORDER BY a.nasipaddress, a.radacctid
$$;

-- Open sessions of running workstation codes whose router ends them before their time
-- (time was added): the enforce job sends each a CoA-Request with the new Session-Timeout
-- (the RADIUS page of the RouterOS manual lists Session-Timeout among the attributes a CoA
-- changes). RouterOS documents the hotspot's session timeout as an uptime limit, so the new
-- value is the router session's uptime (from its accounting start) plus the time left. A
-- grant whose CoA failed (router_coa_failed_granted) is not tried again: the kiosk logs in.
CREATE OR REPLACE FUNCTION captiva_workstation_sessions_to_extend(
    p_at timestamptz DEFAULT now()
) RETURNS TABLE (
    radacctid bigint, acctsessionid text, username text, nasipaddress inet,
    framedipaddress inet, session_id bigint, workstation text, granted integer,
    session_timeout integer, router_until timestamptz
) LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT a.radacctid, a.acctsessionid, a.username, a.nasipaddress, a.framedipaddress, s.id,
           s.workstation, s.granted_seconds,
           GREATEST(0, ceil(extract(epoch FROM p_at - a.acctstarttime)))::integer
               + t.time_left,
           p_at + make_interval(secs => t.time_left)
    FROM radacct AS a
    JOIN LATERAL (
        SELECT x.* FROM captiva_workstation_session AS x
        WHERE x.code = a.username AND x.issued_at <= a.acctstarttime + interval '1 minute'
        ORDER BY x.id DESC LIMIT 1) AS s ON true
    CROSS JOIN LATERAL (SELECT captiva_workstation_time_left(s.site, s.granted_seconds,
        s.used_seconds, s.running_since, p_at) AS time_left) AS t
    WHERE a.acctstoptime IS NULL AND s.state = 'running' AND t.time_left > 0
      AND s.router_until < p_at + make_interval(secs => t.time_left - 5)
      AND s.router_coa_failed_granted IS DISTINCT FROM s.granted_seconds
    ORDER BY a.nasipaddress, a.radacctid
$$;

-- The router's answer to a CoA-Request of captiva_workstation_sessions_to_extend, audited
-- as 'router-time' (actor system): p_until (an ACK) is the router's new end, unless the grant
-- changed meanwhile (the next run sends the new one); NULL (NAK or no answer) records the
-- grant that failed.
CREATE OR REPLACE FUNCTION captiva_workstation_router_answer(
    p_session bigint, p_granted integer, p_until timestamptz, p_result text,
    p_at timestamptz DEFAULT now()
) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    s record;
BEGIN
    UPDATE captiva_workstation_session AS t SET
        router_until = CASE WHEN p_until IS NOT NULL THEN p_until ELSE t.router_until END,
        router_coa_failed_granted = CASE WHEN p_until IS NULL THEN p_granted END
    WHERE t.id = p_session AND t.granted_seconds = p_granted AND t.state = 'running'
    RETURNING t.site, t.workstation INTO s;
    IF FOUND THEN
        PERFORM captiva_workstation_log('system', 'router-time', s.site,
            s.workstation, p_session, NULL, NULL,
            jsonb_build_object('result', p_result, 'router_until', p_until), p_at);
    END IF;
END
$$;

ALTER FUNCTION captiva_workstation_sweep(timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_sessions_to_disconnect(timestamptz)
    OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_sessions_to_extend(timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_router_answer(bigint, integer, timestamptz, text,
                                                 timestamptz) OWNER TO captiva_definer;

REVOKE ALL ON FUNCTION captiva_workstation_sweep(timestamptz),
    captiva_workstation_sessions_to_disconnect(timestamptz),
    captiva_workstation_sessions_to_extend(timestamptz),
    captiva_workstation_router_answer(bigint, integer, timestamptz, text, timestamptz)
    FROM PUBLIC;
-- The portal, granted with the console's actions.
GRANT EXECUTE ON FUNCTION captiva_workstation_sweep(timestamptz)
    TO captiva_portal;
-- The jobs on the RADIUS host: automatic ends, disconnects, added time by CoA.
GRANT EXECUTE ON FUNCTION captiva_workstation_sweep(timestamptz),
    captiva_workstation_sessions_to_disconnect(timestamptz),
    captiva_workstation_sessions_to_extend(timestamptz),
    captiva_workstation_router_answer(bigint, integer, timestamptz, text, timestamptz)
    TO captiva_jobs;
