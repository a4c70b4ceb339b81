-- THE definition of usage (docs/quota.md, "Usage"): bytes used in a period = the sum of
-- bytes_in + bytes_out of captiva_usage_daily over the period's local days, in the user's one
-- calendar (captiva_user_calendar). Open sessions count with their last interim. A quota of
-- NULL is unlimited; a user without a captiva_user row has no quota.
-- The login check (40_quota_login.sql), enforcement (50_quota_jobs.sql), the quota jobs'
-- alerts and report and the portal (captiva/usage.py) all read these functions.

-- The replaced per-calendar form of migration 0052.
DROP FUNCTION IF EXISTS captiva_quota_usage(text, timestamptz, text, integer, integer);

-- Bytes used by one user over the local days [p_first_day, p_end_day); every day if NULL.
-- One row; a table function so that PostgreSQL inlines it into the queries that use it.
-- It replaced an earlier scalar form, captiva_used_bytes.
DROP FUNCTION IF EXISTS captiva_used_bytes(text, date, date);
CREATE OR REPLACE FUNCTION captiva_period_used(p_username text, p_first_day date, p_end_day date)
RETURNS TABLE (used bigint) LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT COALESCE(sum(d.bytes_in + d.bytes_out), 0)::bigint
    FROM captiva_usage_daily AS d
    WHERE d.username = p_username
      AND d.day >= COALESCE(p_first_day, '-infinity') AND d.day < COALESCE(p_end_day, 'infinity')
$$;

-- The quota of profile pr for p_period (NULL: unlimited, or no profile).
CREATE OR REPLACE FUNCTION captiva_period_quota(pr captiva_profile, p_period text)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE p_period WHEN 'daily' THEN pr.quota_daily
                         WHEN 'weekly' THEN pr.quota_weekly
                         WHEN 'monthly' THEN pr.quota_monthly
                         WHEN 'total' THEN pr.quota_total END
$$;

-- Bytes the console granted p_username on p_period, in force at p_at (captiva_quota_grant,
-- migration 0110: extra bytes, or a reset's bytes = what the period had used). One row; a
-- table function, inlined like captiva_period_used.
CREATE OR REPLACE FUNCTION captiva_period_granted(p_username text, p_period text,
                                                  p_at timestamptz)
RETURNS TABLE (granted bigint) LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT COALESCE(sum(g.bytes), 0)::bigint
    FROM captiva_quota_grant AS g
    WHERE g.username = p_username AND g.period = p_period
      AND g.starts_at <= p_at AND g.expires_at > p_at
$$;

-- One user: a row per period (daily, weekly, monthly, total, in that order) with the quota of
-- the user's effective profile plus the grants in force (NULL stays unlimited), the bytes used, what remains and the period's bounds, in the
-- user's calendar (p_nas: the NAS of a login, see captiva_user_calendar).
CREATE OR REPLACE FUNCTION captiva_user_usage(
    p_username text, p_at timestamptz DEFAULT now(), p_nas inet DEFAULT NULL
) RETURNS TABLE (
    period text, quota bigint, used bigint, remaining bigint,
    starts_at timestamptz, resets_at timestamptz, first_day date, end_day date,
    timezone text, week_start integer, month_start_day integer
) LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT k.period, x.quota, x.used,
           CASE WHEN x.quota IS NULL THEN NULL ELSE GREATEST(x.quota - x.used, 0) END,
           b.starts_at, b.ends_at, b.first_day, b.end_day,
           c.timezone, c.week_start, c.month_start_day
    FROM captiva_user_calendar(p_username, p_nas) AS c
    CROSS JOIN unnest(ARRAY['daily', 'weekly', 'monthly', 'total']) WITH ORDINALITY
        AS k (period, ord)
    CROSS JOIN LATERAL captiva_period(k.period, p_at, c.timezone, c.week_start,
                                      c.month_start_day) AS b
    LEFT JOIN (captiva_user AS u JOIN captiva_profile AS pr ON pr.name = u.profile)
        ON u.username = p_username
    CROSS JOIN LATERAL (
        SELECT captiva_period_quota(pr, k.period) + gr.granted AS quota, pu.used
        FROM captiva_period_used(p_username, b.first_day, b.end_day) AS pu
        CROSS JOIN captiva_period_granted(p_username, k.period, p_at) AS gr
    ) AS x
    ORDER BY k.ord
$$;

-- Every Captiva user: the rows of captiva_user_usage(username, p_at) of each, in one query
-- (jobs, reports). The same functions, with the period bounds computed once per calendar
-- rather than once per user (a test compares both).
CREATE OR REPLACE FUNCTION captiva_usage_all(p_at timestamptz DEFAULT now())
RETURNS TABLE (
    username text, period text, quota bigint, used bigint, remaining bigint,
    starts_at timestamptz, resets_at timestamptz, first_day date, end_day date,
    timezone text, week_start integer, month_start_day integer
) LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH uc AS MATERIALIZED (
        SELECT u.username, u.profile, c.timezone, c.week_start, c.month_start_day
        FROM captiva_user AS u
        CROSS JOIN LATERAL captiva_user_calendar(u.username) AS c
    ), bounds AS MATERIALIZED (
        SELECT cal.timezone, cal.week_start, cal.month_start_day, k.period, k.ord,
               b.starts_at, b.ends_at, b.first_day, b.end_day
        FROM (SELECT DISTINCT uc.timezone, uc.week_start, uc.month_start_day FROM uc) AS cal
        CROSS JOIN unnest(ARRAY['daily', 'weekly', 'monthly', 'total']) WITH ORDINALITY
            AS k (period, ord)
        CROSS JOIN LATERAL captiva_period(k.period, p_at, cal.timezone, cal.week_start,
                                          cal.month_start_day) AS b
    )
    SELECT uc.username, b.period, x.quota, x.used,
           CASE WHEN x.quota IS NULL THEN NULL ELSE GREATEST(x.quota - x.used, 0) END,
           b.starts_at, b.ends_at, b.first_day, b.end_day,
           uc.timezone, uc.week_start, uc.month_start_day
    FROM uc
    JOIN bounds AS b USING (timezone, week_start, month_start_day)
    LEFT JOIN captiva_profile AS pr ON pr.name = uc.profile
    CROSS JOIN LATERAL (
        SELECT captiva_period_quota(pr, b.period) + gr.granted AS quota, pu.used
        FROM captiva_period_used(uc.username, b.first_day, b.end_day) AS pu
        CROSS JOIN captiva_period_granted(uc.username, b.period, p_at) AS gr
    ) AS x
    ORDER BY uc.username, b.ord
$$;

-- "5 GiB", "1.5 GiB", "512 MiB", "12 B": sizes in the login message (and in tests, the oracle
-- of captiva.usage.format_bytes).
CREATE OR REPLACE FUNCTION captiva_format_bytes(p_bytes bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT COALESCE(
        (SELECT CASE WHEN p_bytes % f = 0 THEN (p_bytes / f)::text
                     ELSE round(p_bytes::numeric / f, 1)::text END || ' ' || unit
         FROM (VALUES (1, 1099511627776::bigint, 'TiB'), (2, 1073741824, 'GiB'),
                      (3, 1048576, 'MiB'), (4, 1024, 'KiB')) AS u (rank, f, unit)
         WHERE p_bytes >= f ORDER BY rank LIMIT 1),
        p_bytes::text || ' B')
$$;

-- The name of a period in a sentence, in the user's language ('fr', else English): the one
-- place of these words, for the login message and the alert mails.
CREATE OR REPLACE FUNCTION captiva_period_name(p_period text, p_language text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT CASE WHEN p_language = 'fr' THEN
                    CASE p_period WHEN 'daily' THEN 'journalier' WHEN 'weekly' THEN 'hebdomadaire'
                                  WHEN 'monthly' THEN 'mensuel' ELSE p_period END
                ELSE p_period END
$$;
