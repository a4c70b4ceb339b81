-- Public workstations: FreeRADIUS's login decision for a session code
-- (policy.d/captiva_workstation); the session's clock starts at its first accept.

-- Whether p_code is a live workstation code (authorize then gives it its password).
CREATE OR REPLACE FUNCTION captiva_workstation_known(p_code text) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    RETURN CASE WHEN EXISTS (SELECT FROM captiva_workstation_session AS s
                             WHERE s.code = p_code AND s.state <> 'ended')
                THEN 'yes' ELSE 'no' END;
END
$$;

-- The login decision, from reads only (a replica answers it while there is no primary):
-- 'none' (not a live workstation code), 'reject|<FR / EN>' or 'accept|<Session-Timeout>'.
-- Only from the workstation's MAC, never in maintenance, out of hours, suspended or with no
-- time left; the timeout is the time left, capped at closing.
CREATE OR REPLACE FUNCTION captiva_workstation_login_judge(
    p_code text, p_calling_station text DEFAULT '', p_at timestamptz DEFAULT now()
) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    s record;
    closing timestamptz;
    left_seconds integer;
    fr text;
    en text;
BEGIN
    SELECT t.*, w.mac, captiva_workstation_in_maintenance(t.workstation) AS maint INTO s
    FROM captiva_workstation_session AS t
    JOIN captiva_workstation AS w ON w.name = t.workstation
    WHERE t.code = p_code AND t.state <> 'ended';
    IF NOT FOUND THEN
        RETURN 'none';
    END IF;
    closing := captiva_workstation_closing(s.site, p_at);
    left_seconds := captiva_workstation_remaining(s.granted_seconds, s.used_seconds,
                                                  s.running_since, p_at);
    IF upper(replace(COALESCE(p_calling_station, ''), '-', ':')) <> s.mac THEN
        -- Whoever types the code elsewhere learns nothing about where it works.
        fr := 'Code valable uniquement sur son poste';
        en := 'Code valid only on its own workstation';
    ELSIF s.maint THEN
        fr := 'Poste en maintenance';
        en := 'Workstation under maintenance';
    ELSIF closing IS NULL THEN
        fr := 'Salle fermée';
        en := 'Room closed';
    ELSIF s.state = 'suspended' THEN
        fr := 'Session suspendue : voyez l''accueil';
        en := 'Session suspended: see the desk';
    ELSIF left_seconds <= 0 THEN
        fr := 'Temps écoulé';
        en := 'Time is up';
    END IF;
    IF fr IS NOT NULL THEN
        RETURN 'reject|' || CASE WHEN s.language = 'en' THEN en || ' / ' || fr
                                 ELSE fr || ' / ' || en END;
    END IF;
    RETURN 'accept|' || GREATEST(captiva_workstation_time_left(
        s.site, s.granted_seconds, s.used_seconds, s.running_since, p_at), 1);
END
$$;

-- The session's clock starts at its first accepted login, p_at (the login's time, also when
-- the login buffer replays it later: captiva_login_replay). A session suspended or ended
-- since is left alone.
CREATE OR REPLACE FUNCTION captiva_workstation_login_start(p_code text, p_at timestamptz)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    UPDATE captiva_workstation_session AS t SET
        state = 'running', running_since = COALESCE(t.running_since, p_at),
        router_until = p_at + make_interval(secs => captiva_workstation_time_left(
            t.site, t.granted_seconds, t.used_seconds, t.running_since, p_at))
    WHERE t.code = p_code AND t.state IN ('issued', 'running');
$$;

-- The login decision on the primary: the judgement under the session's row lock, and the
-- clock started when it accepts.
CREATE OR REPLACE FUNCTION captiva_workstation_login_xlat(
    p_code text, p_calling_station text DEFAULT '', p_at timestamptz DEFAULT now()
) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    verdict text;
BEGIN
    PERFORM FROM captiva_workstation_session AS t
    WHERE t.code = p_code AND t.state <> 'ended'
    FOR UPDATE;
    verdict := captiva_workstation_login_judge(p_code, p_calling_station, p_at);
    IF verdict LIKE 'accept|%' THEN
        PERFORM captiva_workstation_login_start(p_code, p_at);
    END IF;
    RETURN verdict;
END
$$;

ALTER FUNCTION captiva_workstation_known(text) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_login_judge(text, text, timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_login_start(text, timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_login_xlat(text, text, timestamptz) OWNER TO captiva_definer;

REVOKE ALL ON FUNCTION captiva_workstation_known(text),
    captiva_workstation_login_judge(text, text, timestamptz),
    captiva_workstation_login_start(text, timestamptz),
    captiva_workstation_login_xlat(text, text, timestamptz)
    FROM PUBLIC;
-- FreeRADIUS: the login decision only (the clock's start, through the login buffer's
-- replay, captiva_login_replay, which captiva_definer runs).
GRANT EXECUTE ON FUNCTION captiva_workstation_known(text),
    captiva_workstation_login_judge(text, text, timestamptz),
    captiva_workstation_login_xlat(text, text, timestamptz)
    TO captiva_freeradius;
