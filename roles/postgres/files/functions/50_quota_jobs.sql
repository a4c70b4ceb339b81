-- The enforce job's selection (captiva-quota enforce; docs/quota.md).

-- Open sessions that must end, with the first reason that applies:
-- removed (no captiva_user row and no radcheck row: nobody can log in as this user any more;
-- an admin's manual RADIUS user keeps its radcheck rows and is left alone), disabled,
-- wifi-off, expired, console (an admin's "disconnect now": the portal host is no RADIUS
-- client of the routers, so this job sends it), quota (a period quota used up:
-- captiva_user_usage, the figures of the login check and the portal).
-- SECURITY DEFINER (owner captiva_definer, pg_temp last): the jobs may learn that a radcheck
-- row exists, never read it.
CREATE OR REPLACE FUNCTION captiva_sessions_to_disconnect(p_at timestamptz DEFAULT now())
RETURNS SETOF captiva_session_end LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    WITH open AS (
        SELECT a.radacctid, a.acctuniqueid, a.acctsessionid, a.username, a.nasipaddress,
               a.framedipaddress
        FROM radacct AS a
        WHERE a.acctstoptime IS NULL
    ), judged AS (
        SELECT o.*,
               CASE
                   WHEN u.username IS NULL THEN
                       CASE WHEN NOT EXISTS (SELECT 1 FROM radcheck AS rc
                                             WHERE rc.username = o.username)
                                 -- a public workstation's code: its own rule (70_workstations)
                                 AND NOT EXISTS (SELECT 1 FROM captiva_workstation_session AS w
                                                 WHERE w.code = o.username)
                            THEN 'removed' END
                   WHEN u.status = 'disabled' THEN 'disabled'
                   WHEN u.status = 'wifi-off' THEN 'wifi-off'
                   WHEN u.status = 'expired' OR u.expires_at <= p_at THEN 'expired'
                   -- "Disconnect now" from the portal's console (migration 0110)
                   WHEN EXISTS (SELECT 1 FROM captiva_console_disconnect AS c
                                WHERE c.radacctid = o.radacctid) THEN 'console'
               END AS status_reason,
               u.profile
        FROM open AS o
        LEFT JOIN captiva_user AS u ON u.username = o.username
    ), over AS (
        SELECT q.username,
               string_agg(q.period, ', ' ORDER BY q.ord) AS periods
        FROM (SELECT DISTINCT j.username FROM judged AS j
              JOIN captiva_profile AS pr ON pr.name = j.profile
              WHERE j.status_reason IS NULL
                AND (pr.quota_daily IS NOT NULL OR pr.quota_weekly IS NOT NULL
                     OR pr.quota_monthly IS NOT NULL OR pr.quota_total IS NOT NULL)) AS w
        CROSS JOIN LATERAL (
            SELECT w.username, x.period,
                   array_position(ARRAY['daily', 'weekly', 'monthly', 'total'], x.period) AS ord
            FROM captiva_user_usage(w.username, p_at) AS x
            WHERE x.quota IS NOT NULL AND x.used >= x.quota
        ) AS q
        GROUP BY q.username
    )
    SELECT j.radacctid, j.acctuniqueid, j.acctsessionid, j.username, j.nasipaddress,
           j.framedipaddress,
           COALESCE(j.status_reason, 'quota'),
           CASE WHEN j.status_reason IS NULL THEN over.periods || ' quota used up' END
    FROM judged AS j
    LEFT JOIN over ON over.username = j.username AND j.status_reason IS NULL
    WHERE j.status_reason IS NOT NULL OR over.periods IS NOT NULL
    ORDER BY j.nasipaddress, j.radacctid
$$;

ALTER FUNCTION captiva_sessions_to_disconnect(timestamptz) OWNER TO captiva_definer;
REVOKE ALL ON FUNCTION captiva_sessions_to_disconnect(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION captiva_sessions_to_disconnect(timestamptz) TO captiva_jobs;
