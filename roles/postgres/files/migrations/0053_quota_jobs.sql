-- Tables and selections of the quota jobs (captiva-quota; docs/quota.md).

-- enforce: one row per Disconnect-Request sent, with the NAS's answer.
CREATE TABLE captiva_disconnect (
    id bigserial PRIMARY KEY,
    requested_at timestamptz NOT NULL DEFAULT now(),
    radacctid bigint NOT NULL,
    acctuniqueid text NOT NULL,
    acctsessionid text,
    username text,
    nasipaddress inet NOT NULL,
    framedipaddress inet,
    reason text NOT NULL,
    result text NOT NULL CHECK (result IN ('ack', 'nak', 'timeout', 'error')),
    -- Error-Cause of a NAK (RFC 5176 3.6), e.g. 503 Session-Context-Not-Found
    error_cause integer,
    detail text
);
CREATE INDEX captiva_disconnect_radacctid_idx ON captiva_disconnect (radacctid, requested_at);

-- alerts: one row per alert sent; the unique key makes "once per user, threshold and period".
CREATE TABLE captiva_alert_sent (
    id bigserial PRIMARY KEY,
    username text NOT NULL,
    -- 'quota' (threshold = percent of the period quota) or 'expiry' (threshold = days left)
    kind text NOT NULL CHECK (kind IN ('quota', 'expiry')),
    -- daily/weekly/monthly/total for quota alerts, 'account' for expiry alerts
    period text NOT NULL,
    threshold integer NOT NULL,
    -- the period's first local day, 'total', or the expiry instant: a new period (or a new
    -- expiry date) gets new alerts
    period_key text NOT NULL,
    email text,
    -- false when a higher threshold was mailed at the same time and covered this one
    mailed boolean NOT NULL DEFAULT true,
    sent_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (username, kind, period, threshold, period_key)
);

-- retention: closed sessions and post-auth logs moved out of the hot tables.
CREATE TABLE radacct_history (LIKE radacct INCLUDING CONSTRAINTS);
ALTER TABLE radacct_history ADD PRIMARY KEY (radacctid);
ALTER TABLE radacct_history ADD COLUMN archived_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX radacct_history_user_start_idx ON radacct_history (username, acctstarttime);
CREATE INDEX radacct_history_stop_idx ON radacct_history (acctstoptime);

CREATE TABLE radpostauth_history (LIKE radpostauth INCLUDING CONSTRAINTS);
ALTER TABLE radpostauth_history ADD PRIMARY KEY (id);
ALTER TABLE radpostauth_history ADD COLUMN archived_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX radpostauth_history_authdate_idx ON radpostauth_history (authdate);

-- Open sessions that must end, with the first reason that applies:
-- removed (no captiva_user row and no radcheck row: nobody can log in as this user any more;
-- an admin's manual RADIUS user keeps its radcheck rows and is left alone), disabled,
-- wifi-off, expired, quota (a period quota used up, in the calendar of the session's NAS).
-- SECURITY DEFINER: the jobs may learn that a radcheck row exists, never read it.
CREATE FUNCTION captiva_sessions_to_disconnect(p_at timestamptz DEFAULT now())
RETURNS TABLE (
    radacctid bigint, acctuniqueid text, acctsessionid text, username text,
    nasipaddress inet, framedipaddress inet, reason text, detail text
) LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    WITH open AS (
        SELECT a.radacctid, a.acctuniqueid, a.acctsessionid, a.username, a.nasipaddress,
               a.framedipaddress
        FROM radacct AS a
        WHERE a.acctstoptime IS NULL
    ), cal AS (
        SELECT n.nasipaddress, c.timezone, c.week_start, c.month_start_day,
               dd.first_day AS d_first, wd.first_day AS w_first, wd.end_day AS w_end,
               md.first_day AS m_first, md.end_day AS m_end
        FROM (SELECT DISTINCT o.nasipaddress FROM open AS o) AS n
        CROSS JOIN LATERAL captiva_calendar(n.nasipaddress) AS c
        CROSS JOIN LATERAL captiva_period('daily', p_at, c.timezone, c.week_start,
                                          c.month_start_day) AS dd
        CROSS JOIN LATERAL captiva_period('weekly', p_at, c.timezone, c.week_start,
                                          c.month_start_day) AS wd
        CROSS JOIN LATERAL captiva_period('monthly', p_at, c.timezone, c.week_start,
                                          c.month_start_day) AS md
    ), judged AS (
        SELECT o.*,
               CASE
                   WHEN u.username IS NULL THEN
                       CASE WHEN NOT EXISTS (SELECT 1 FROM radcheck AS rc
                                             WHERE rc.username = o.username)
                            THEN 'removed' END
                   WHEN u.status = 'disabled' THEN 'disabled'
                   WHEN u.status = 'wifi-off' THEN 'wifi-off'
                   WHEN u.status = 'expired' OR u.expires_at <= p_at THEN 'expired'
               END AS status_reason,
               u.profile
        FROM open AS o
        LEFT JOIN captiva_user AS u ON u.username = o.username
    ), over AS (
        SELECT j.radacctid,
               concat_ws(', ',
                   CASE WHEN used.daily >= pr.quota_daily THEN 'daily' END,
                   CASE WHEN used.weekly >= pr.quota_weekly THEN 'weekly' END,
                   CASE WHEN used.monthly >= pr.quota_monthly THEN 'monthly' END,
                   CASE WHEN used.total >= pr.quota_total THEN 'total' END) AS periods
        FROM judged AS j
        JOIN captiva_profile AS pr ON pr.name = j.profile
        JOIN cal ON cal.nasipaddress = j.nasipaddress
        CROSS JOIN LATERAL (
            SELECT COALESCE(sum(d.bytes_in + d.bytes_out) FILTER (WHERE d.day = cal.d_first), 0)
                       AS daily,
                   COALESCE(sum(d.bytes_in + d.bytes_out) FILTER (WHERE d.day >= cal.w_first
                                                                     AND d.day < cal.w_end), 0)
                       AS weekly,
                   COALESCE(sum(d.bytes_in + d.bytes_out) FILTER (WHERE d.day >= cal.m_first
                                                                     AND d.day < cal.m_end), 0)
                       AS monthly,
                   COALESCE(sum(d.bytes_in + d.bytes_out), 0) AS total
            FROM captiva_usage_daily AS d
            WHERE d.username = j.username
              AND (pr.quota_total IS NOT NULL OR d.day >= LEAST(cal.w_first, cal.m_first))
        ) AS used
        WHERE j.status_reason IS NULL
          AND (pr.quota_daily IS NOT NULL OR pr.quota_weekly IS NOT NULL
               OR pr.quota_monthly IS NOT NULL OR pr.quota_total IS NOT NULL)
    )
    SELECT j.radacctid, j.acctuniqueid, j.acctsessionid, j.username, j.nasipaddress,
           j.framedipaddress,
           COALESCE(j.status_reason, 'quota'),
           CASE WHEN j.status_reason IS NULL THEN over.periods || ' quota used up' END
    FROM judged AS j
    LEFT JOIN over ON over.radacctid = j.radacctid
    WHERE j.status_reason IS NOT NULL OR over.periods <> ''
    ORDER BY j.nasipaddress, j.radacctid
$$;

REVOKE ALL ON FUNCTION captiva_sessions_to_disconnect(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION captiva_sessions_to_disconnect(timestamptz) TO captiva_jobs;

GRANT SELECT, INSERT ON captiva_disconnect, captiva_alert_sent TO captiva_jobs;
GRANT USAGE, SELECT ON SEQUENCE captiva_disconnect_id_seq, captiva_alert_sent_id_seq
    TO captiva_jobs;
GRANT SELECT, INSERT, DELETE ON radacct_history, radpostauth_history TO captiva_jobs;
GRANT SELECT ON radacct_history, captiva_disconnect, captiva_alert_sent TO captiva_portal;
GRANT SELECT ON captiva_quota_settings TO captiva_jobs;
