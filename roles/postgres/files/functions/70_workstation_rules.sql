-- Public workstations (docs/workstations.md), their rules: the time used and left
-- (captiva_workstation_used, captiva_workstation_remaining), the opening hours
-- (captiva_workstation_closing), the time a session really has
-- (captiva_workstation_time_left), maintenance. Who may act: the policy (15_authz.sql).
-- The other workstation files (71-78) build on these.
-- SECURITY DEFINER, owned by captiva_definer, pg_temp last (see 40_quota_login).

-- Seconds a session has used at p_at: the runs before plus the current run (if running).
CREATE OR REPLACE FUNCTION captiva_workstation_used(
    p_used integer, p_running_since timestamptz, p_at timestamptz
) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_used + COALESCE(floor(extract(epoch FROM p_at - p_running_since))::integer, 0)
$$;

-- Seconds left of a session at p_at: granted minus used (0 at the least).
CREATE OR REPLACE FUNCTION captiva_workstation_remaining(
    p_granted integer, p_used integer, p_running_since timestamptz, p_at timestamptz
) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT GREATEST(0, p_granted - public.captiva_workstation_used(p_used, p_running_since, p_at))
$$;

-- When the site closes, if it is open at p_at (NULL: closed now).
CREATE OR REPLACE FUNCTION captiva_workstation_closing(p_site text, p_at timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    tz text;
    local timestamp;
    minute integer;
    closes integer;
BEGIN
    SELECT s.timezone INTO tz FROM captiva_site AS s WHERE s.name = p_site;
    tz := COALESCE(tz, 'UTC');
    local := p_at AT TIME ZONE tz;
    minute := extract(hour FROM local)::integer * 60 + extract(minute FROM local)::integer;
    SELECT h.closes_minute INTO closes FROM captiva_workstation_hours AS h
    WHERE h.site = p_site AND h.weekday = extract(isodow FROM local)
      AND h.opens_minute <= minute AND minute < h.closes_minute;
    IF closes IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN (date_trunc('day', local) + make_interval(mins => closes)) AT TIME ZONE tz;
END
$$;

-- The time a session really has at p_at: its remaining time, capped at the site's closing
-- (0 while closed). The console's board, the kiosk page and the login decision all use it.
CREATE OR REPLACE FUNCTION captiva_workstation_time_left(
    p_site text, p_granted integer, p_used integer, p_running_since timestamptz,
    p_at timestamptz
) RETURNS integer LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT LEAST(captiva_workstation_remaining(p_granted, p_used, p_running_since, p_at),
                 COALESCE(floor(extract(epoch FROM captiva_workstation_closing(p_site, p_at)
                                       - p_at))::integer, 0))
$$;

-- A workstation is out of service when the roster says so or an operator said so.
CREATE OR REPLACE FUNCTION captiva_workstation_in_maintenance(p_workstation text)
RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT COALESCE((SELECT w.maintenance FROM captiva_workstation AS w
                     WHERE w.name = p_workstation), false)
        OR EXISTS (SELECT FROM captiva_workstation_maintenance AS m
                   WHERE m.workstation = p_workstation)
$$;

-- Who may act on a site's workstations is the policy's (15_authz.sql, from captiva/authz.py):
-- every action asks captiva_authz_role(actor, action, site). Its own rule here, before
-- issue 24, is gone.
DROP FUNCTION IF EXISTS captiva_workstation_may_act(text, text);

ALTER FUNCTION captiva_workstation_closing(text, timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_time_left(text, integer, integer, timestamptz, timestamptz)
    OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_in_maintenance(text) OWNER TO captiva_definer;

REVOKE ALL ON FUNCTION captiva_workstation_closing(text, timestamptz),
    captiva_workstation_time_left(text, integer, integer, timestamptz, timestamptz),
    captiva_workstation_in_maintenance(text)
    FROM PUBLIC;
