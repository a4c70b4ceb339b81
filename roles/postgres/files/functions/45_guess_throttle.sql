-- The throttle of failed code logins (docs/freeradius.md "Guessing codes"), called by
-- FreeRADIUS (policy.d/captiva_guess) and read by the portal's console. The window and the
-- limits are FreeRADIUS's settings (freeradius_guess_*), passed in each call.
-- SECURITY DEFINER, owned by captiva_definer, search_path with pg_temp last (40_quota_login).

-- The calling station as the counts key it: upper case, ':' between the bytes of a MAC
-- (RouterOS sends AA:BB:CC:DD:EE:FF; some NAS send AA-BB-...), at most 64 characters.
CREATE OR REPLACE FUNCTION captiva_guess_station(p_station text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT left(upper(replace(COALESCE(p_station, ''), '-', ':')), 64)
$$;

-- Before a code-shaped login is looked up: 'ok', or 'throttled' when the station failed
-- p_station_limit times or the NAS p_nas_limit times within the last p_window seconds;
-- 'throttled-new|station' or 'throttled-new|nas' for the first throttled request of an
-- episode (FreeRADIUS logs that one). A normal login reads two index ranges and writes
-- nothing; a throttled one updates its episode's row. (Counting each login at its check
-- instead, taken back when the code exists, made the limit exact under a flood but cost
-- every voucher login two writes: about 1 ms of CPU under load. Migration 0153.)
CREATE OR REPLACE FUNCTION captiva_guess_check(
    p_nas text, p_station text, p_window integer, p_station_limit integer,
    p_nas_limit integer
) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    v_nas inet := p_nas::inet;
    v_station text := captiva_guess_station(p_station);
    v_start timestamptz := clock_timestamp() - make_interval(secs => p_window);
    v_over text;
    v_fresh boolean;
BEGIN
    IF (SELECT count(*) FROM (SELECT FROM captiva_guess_failure AS f
                              WHERE f.nas = v_nas AND f.calling_station = v_station
                                AND f.failed_at > v_start
                              LIMIT p_station_limit) AS s) >= p_station_limit THEN
        v_over := 'station';
    ELSIF (SELECT count(*) FROM (SELECT FROM captiva_guess_failure AS f
                                 WHERE f.nas = v_nas AND f.failed_at > v_start
                                 LIMIT p_nas_limit) AS s) >= p_nas_limit THEN
        v_over := 'nas';
        v_station := '';
    ELSE
        RETURN 'ok';
    END IF;
    -- An episode starts when the source was not throttled within the window.
    INSERT INTO captiva_guess_throttle AS t (nas, scope, calling_station, since, last_at,
                                             throttled)
    VALUES (v_nas, v_over, v_station, clock_timestamp(), clock_timestamp(), 1)
    ON CONFLICT ON CONSTRAINT captiva_guess_throttle_pkey DO UPDATE SET
        since = CASE WHEN t.last_at > v_start THEN t.since ELSE excluded.since END,
        throttled = CASE WHEN t.last_at > v_start THEN t.throttled + 1 ELSE 1 END,
        last_at = excluded.last_at
    RETURNING t.throttled = 1 INTO v_fresh;
    RETURN CASE WHEN v_fresh THEN 'throttled-new|' || v_over ELSE 'throttled' END;
END
$$;

-- A code-shaped login refused because no such code exists: one failure of the station and
-- its NAS. The NAS's failures older than the window, and its episodes over for a day, go.
CREATE OR REPLACE FUNCTION captiva_guess_failed(p_nas text, p_station text, p_window integer)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    v_nas inet := p_nas::inet;
BEGIN
    INSERT INTO captiva_guess_failure (nas, calling_station, failed_at)
    VALUES (v_nas, captiva_guess_station(p_station), clock_timestamp());
    DELETE FROM captiva_guess_failure AS f
    WHERE f.nas = v_nas AND f.failed_at <= clock_timestamp() - make_interval(secs => p_window);
    DELETE FROM captiva_guess_throttle AS t
    WHERE t.nas = v_nas AND t.last_at < clock_timestamp() - interval '1 day';
    RETURN 'counted';
END
$$;

-- The count at the check (migration 0152) is gone (migration 0153).
DROP FUNCTION IF EXISTS captiva_guess_forget(bigint);

-- The console's view: the sources throttled since p_since, newest first, with the router
-- named when the NAS is a declared one. No code: the tables hold none.
CREATE OR REPLACE FUNCTION captiva_guess_throttled_sources(
    p_since timestamptz DEFAULT now() - interval '1 day'
) RETURNS TABLE (nas inet, router text, site text, scope text, calling_station text,
                 since timestamptz, last_at timestamptz, throttled bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT t.nas, r.name, r.site, t.scope, NULLIF(t.calling_station, ''), t.since, t.last_at,
           t.throttled
    FROM captiva_guess_throttle AS t
    LEFT JOIN captiva_router AS r ON r.nasipaddress = t.nas
    WHERE t.last_at >= p_since
    ORDER BY t.last_at DESC
    LIMIT 200
$$;

ALTER FUNCTION captiva_guess_check(text, text, integer, integer, integer)
    OWNER TO captiva_definer;
ALTER FUNCTION captiva_guess_failed(text, text, integer) OWNER TO captiva_definer;
ALTER FUNCTION captiva_guess_throttled_sources(timestamptz) OWNER TO captiva_definer;
REVOKE ALL ON FUNCTION captiva_guess_check(text, text, integer, integer, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION captiva_guess_failed(text, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION captiva_guess_throttled_sources(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION captiva_guess_check(text, text, integer, integer, integer)
    TO captiva_freeradius;
GRANT EXECUTE ON FUNCTION captiva_guess_failed(text, text, integer) TO captiva_freeradius;
GRANT EXECUTE ON FUNCTION captiva_guess_throttled_sources(timestamptz)
    TO captiva_portal, captiva_jobs;
