-- Public workstations: the daily report mailed to each site's operators and the admins.

-- The daily report of p_site for the local day p_day, per hour: sessions issued, minutes
-- online (the workstations' RADIUS sessions, radacct), occupancy (% of the workstations'
-- time) and refusals (audit). Hours in the site's timezone.
CREATE OR REPLACE FUNCTION captiva_workstation_report(p_site text, p_day date)
RETURNS TABLE (hour integer, sessions integer, minutes integer, occupancy_percent numeric,
               refusals integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    WITH tz AS (
        SELECT COALESCE((SELECT s.timezone FROM captiva_site AS s WHERE s.name = p_site),
                        'UTC') AS name
    ), hours AS (
        SELECT h, (p_day + make_interval(hours => h)) AT TIME ZONE tz.name AS starts,
               (p_day + make_interval(hours => h + 1)) AT TIME ZONE tz.name AS ends
        FROM generate_series(0, 23) AS h, tz
    ), runs AS (
        SELECT a.acctstarttime AS starts, COALESCE(a.acctstoptime, now()) AS ends
        FROM radacct AS a
        JOIN captiva_workstation_session AS s ON s.code = a.username AND s.site = p_site
             AND a.acctstarttime >= s.issued_at - interval '1 minute'
             AND (s.ended_at IS NULL OR a.acctstarttime <= s.ended_at)
        WHERE a.acctstarttime < (SELECT max(ends) FROM hours)
          AND COALESCE(a.acctstoptime, now()) > (SELECT min(starts) FROM hours)
    ), online AS (
        -- LEAST and GREATEST ignore NULLs: an hour without runs must sum nothing
        SELECT h.h, COALESCE(sum(extract(epoch FROM LEAST(r.ends, h.ends)
                                           - GREATEST(r.starts, h.starts)))
                             FILTER (WHERE r.starts IS NOT NULL), 0) AS seconds
        FROM hours AS h LEFT JOIN runs AS r ON r.starts < h.ends AND r.ends > h.starts
        GROUP BY h.h
    )
    SELECT h.h,
           (SELECT count(*) FROM captiva_workstation_session AS s
            WHERE s.site = p_site AND s.issued_at >= h.starts AND s.issued_at < h.ends)::integer,
           floor(o.seconds / 60)::integer,
           round(100 * o.seconds / GREATEST(1, 3600 * (SELECT count(*) FROM captiva_workstation
                                                       AS w WHERE w.site = p_site)), 1),
           (SELECT count(*) FROM captiva_audit AS au
            WHERE au.site = p_site AND au.action = 'refused' AND au.at >= h.starts
              AND au.at < h.ends)::integer
    FROM hours AS h JOIN online AS o ON o.h = h.h
    ORDER BY h.h
$$;

-- Who receives p_site's report, with an e-mail address: whom the policy gives
-- 'workstation-report' at the site (15_authz.sql: its operators and the admins).
CREATE OR REPLACE FUNCTION captiva_workstation_report_recipients(p_site text)
RETURNS TABLE (email text, language text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT u.email, u.language FROM captiva_staff AS s
    JOIN captiva_user AS u ON u.username = s.username
    WHERE u.email IS NOT NULL
      AND captiva_authz_allows(s.role, s.sites, 'workstation-report', p_site)
    ORDER BY u.email
$$;

ALTER FUNCTION captiva_workstation_report(text, date) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_report_recipients(text) OWNER TO captiva_definer;

REVOKE ALL ON FUNCTION captiva_workstation_report(text, date),
    captiva_workstation_report_recipients(text)
    FROM PUBLIC;
-- The jobs: the daily report.
GRANT EXECUTE ON FUNCTION captiva_workstation_report(text, date),
    captiva_workstation_report_recipients(text)
    TO captiva_jobs;
