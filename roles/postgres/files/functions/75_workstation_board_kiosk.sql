-- Public workstations: what the console's board and the kiosk page show, and the kiosk
-- pages' heartbeat.

-- Every workstation of p_site for the console: status maintenance | issued | running |
-- suspended | free, online (a kiosk heartbeat in the last p_offline_after seconds).
-- needs_login: the router must be given the session again (a fresh or resumed session,
-- or a router timeout more than 5 s away from the session's end after a time change, once
-- the router's session is over or a CoA-Request for that change failed): the kiosk page logs
-- the code in through the hotspot (docs/workstations.md, "Add time").
DROP FUNCTION IF EXISTS captiva_workstation_board(text, timestamptz, integer);
CREATE OR REPLACE FUNCTION captiva_workstation_board(
    p_site text, p_at timestamptz DEFAULT now(), p_offline_after integer DEFAULT 30
) RETURNS TABLE (
    name text, room text, status text, online boolean, session_id bigint, code text,
    member text, remaining integer, closing_at timestamptz, language text,
    needs_login boolean
) LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT w.name, w.room,
           CASE WHEN s.id IS NOT NULL THEN s.state
                WHEN captiva_workstation_in_maintenance(w.name) THEN 'maintenance'
                ELSE 'free' END,
           COALESCE(h.seen_at > p_at - make_interval(secs => p_offline_after), false),
           s.id, s.code,
           COALESCE(NULLIF(btrim(COALESCE(u.first_name, '') || ' ' || COALESCE(u.last_name, '')), '')
                    || ' (' || s.username || ')', s.username,
                    COALESCE(g.full_name, 'guest') || ' #' || s.guest_id),
           t.time_left,
           captiva_workstation_closing(w.site, p_at), s.language,
           s.state = 'issued' OR (s.state = 'running' AND abs(extract(epoch FROM s.router_until
               - p_at) - t.time_left) > 5 AND (
                   -- more time: the enforce job's CoA gives it to the live router session
                   s.router_until < p_at + make_interval(secs => t.time_left)
                       AND s.router_coa_failed_granted IS DISTINCT FROM s.granted_seconds
                       AND EXISTS (SELECT FROM radacct AS a WHERE a.username = s.code
                                   AND a.acctstoptime IS NULL
                                   AND a.acctstarttime >= s.issued_at - interval '1 minute')
               ) IS NOT TRUE)
    FROM captiva_workstation AS w
    LEFT JOIN captiva_workstation_heartbeat AS h ON h.workstation = w.name
    LEFT JOIN captiva_workstation_session AS s ON s.workstation = w.name AND s.state <> 'ended'
    LEFT JOIN captiva_user AS u ON u.username = s.username
    LEFT JOIN captiva_workstation_guest AS g ON g.id = s.guest_id
    CROSS JOIN LATERAL (SELECT CASE WHEN s.id IS NOT NULL THEN captiva_workstation_time_left(
        w.site, s.granted_seconds, s.used_seconds, s.running_since, p_at) END AS time_left) AS t
    WHERE w.site = p_site
    ORDER BY w.name
$$;

-- The kiosk page of the workstation at p_ip: records the heartbeat and returns its session
-- (no session: state 'free' or 'maintenance'; a session ended less than 10 minutes ago:
-- 'ended' and its end_reason). No row: the address is no workstation.
DROP FUNCTION IF EXISTS captiva_workstation_kiosk(inet, timestamptz);
CREATE OR REPLACE FUNCTION captiva_workstation_kiosk(p_ip inet, p_at timestamptz DEFAULT now())
RETURNS TABLE (
    workstation text, site text, state text, session_id bigint, remaining integer,
    granted integer, running boolean, language text, end_reason text, warnings integer[],
    code text, needs_login boolean
) LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    w record;
BEGIN
    SELECT t.name, t.site, captiva_workstation_in_maintenance(t.name) AS maint INTO w
    FROM captiva_workstation AS t
    WHERE t.ip::inet = p_ip;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    INSERT INTO captiva_workstation_heartbeat AS h (workstation, seen_at) VALUES (w.name, p_at)
    ON CONFLICT ON CONSTRAINT captiva_workstation_heartbeat_pkey
    DO UPDATE SET seen_at = excluded.seen_at
    WHERE h.seen_at < excluded.seen_at;
    RETURN QUERY
    SELECT w.name, w.site, COALESCE(s.state, CASE WHEN w.maint THEN 'maintenance' ELSE 'free'
                                            END),
           s.id,
           CASE WHEN s.state = 'ended' THEN 0 WHEN s.id IS NOT NULL THEN
               captiva_workstation_time_left(w.site, s.granted_seconds, s.used_seconds,
                                             s.running_since, p_at) END,
           s.granted_seconds, s.state = 'running', s.language, s.end_reason,
           (SELECT r.warnings FROM captiva_workstation_rules AS r WHERE r.site = w.site),
           CASE WHEN s.state <> 'ended' THEN s.code END,
           (SELECT b.needs_login FROM captiva_workstation_board(w.site, p_at) AS b
            WHERE b.name = w.name)
    FROM (SELECT 1) AS one
    LEFT JOIN LATERAL (
        SELECT * FROM captiva_workstation_session AS t
        WHERE t.workstation = w.name
          AND (t.state <> 'ended' OR t.ended_at > p_at - interval '10 minutes')
        ORDER BY t.state = 'ended', t.id DESC LIMIT 1) AS s ON true;
END
$$;

-- The kiosk pages connected now (the portal batches them): their workstations' heartbeat.
CREATE OR REPLACE FUNCTION captiva_workstation_beat(p_names text[], p_at timestamptz DEFAULT now())
RETURNS void LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp AS $$
    INSERT INTO captiva_workstation_heartbeat AS h (workstation, seen_at)
    SELECT w.name, p_at FROM captiva_workstation AS w WHERE w.name = ANY (p_names)
    ON CONFLICT (workstation) DO UPDATE SET seen_at = excluded.seen_at
    WHERE h.seen_at < excluded.seen_at
$$;

ALTER FUNCTION captiva_workstation_board(text, timestamptz, integer) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_kiosk(inet, timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_beat(text[], timestamptz) OWNER TO captiva_definer;

REVOKE ALL ON FUNCTION captiva_workstation_board(text, timestamptz, integer),
    captiva_workstation_kiosk(inet, timestamptz),
    captiva_workstation_beat(text[], timestamptz)
    FROM PUBLIC;
-- The portal: the console's board, the kiosk page and its heartbeat.
GRANT EXECUTE ON FUNCTION captiva_workstation_board(text, timestamptz, integer),
    captiva_workstation_kiosk(inet, timestamptz),
    captiva_workstation_beat(text[], timestamptz)
    TO captiva_portal;
