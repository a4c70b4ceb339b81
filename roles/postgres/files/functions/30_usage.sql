-- THE definition of usage (docs/quota.md, "Usage"): bytes used in a period = the sum of
-- bytes_in + bytes_out of captiva_usage_daily over the period's local days, in the user's one
-- calendar (captiva_user_calendar). Open sessions count with their last interim. A quota of
-- NULL is unlimited; a user without a captiva_user row has no quota.
-- The login check (40_quota_login.sql), enforcement (50_quota_jobs.sql), the quota jobs'
-- alerts and report and the portal (captiva/quota/usage.py) all read these functions.

-- The replaced per-calendar form of migration 0052.
DROP FUNCTION IF EXISTS captiva_quota_usage(text, timestamptz, text, integer, integer);

-- THE sum: bytes one user used in each period, given the periods' local-day bounds
-- [first, end): daily, weekly, monthly, and total (every day). One read of the user's days;
-- one row; a table function so that PostgreSQL inlines it into the queries that use it.
-- (It replaced the one-period forms captiva_used_bytes and captiva_period_used: four reads.)
-- p_since: the first day read (an index bound), for a caller that needs only the periods
-- starting on or after it (captiva_user_usage's p_quota_only, for the login check); total is
-- then the bytes since p_since.
DROP FUNCTION IF EXISTS captiva_used_bytes(text, date, date);
DROP FUNCTION IF EXISTS captiva_period_used(text, date, date);
DROP FUNCTION IF EXISTS captiva_user_used(text, date, date, date, date, date, date);
CREATE OR REPLACE FUNCTION captiva_user_used(
    p_username text, p_daily_first date, p_daily_end date, p_weekly_first date,
    p_weekly_end date, p_monthly_first date, p_monthly_end date,
    p_since date DEFAULT '-infinity'
) RETURNS TABLE (daily bigint, weekly bigint, monthly bigint, total bigint)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT COALESCE(sum(d.bytes_in + d.bytes_out)
                        FILTER (WHERE d.day >= p_daily_first AND d.day < p_daily_end), 0)::bigint,
           COALESCE(sum(d.bytes_in + d.bytes_out)
                        FILTER (WHERE d.day >= p_weekly_first AND d.day < p_weekly_end), 0)::bigint,
           COALESCE(sum(d.bytes_in + d.bytes_out)
                        FILTER (WHERE d.day >= p_monthly_first AND d.day < p_monthly_end),
                    0)::bigint,
           COALESCE(sum(d.bytes_in + d.bytes_out), 0)::bigint
    FROM captiva_usage_daily AS d
    WHERE d.username = p_username AND d.day >= p_since
$$;

-- The value of p_period among the four (daily, weekly, monthly, total).
CREATE OR REPLACE FUNCTION captiva_period_pick(
    p_period text, p_daily bigint, p_weekly bigint, p_monthly bigint, p_total bigint
) RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE p_period WHEN 'daily' THEN p_daily WHEN 'weekly' THEN p_weekly
                         WHEN 'monthly' THEN p_monthly WHEN 'total' THEN p_total END
$$;

-- The bounds of the four periods holding p_at in a calendar, in one row (for
-- captiva_user_used) and as a row per period (ord: 1 daily ... 4 total).
CREATE OR REPLACE FUNCTION captiva_periods(
    p_at timestamptz, p_tz text, p_week_start integer, p_month_start_day integer
) RETURNS TABLE (period text, ord bigint, first_day date, end_day date, starts_at timestamptz,
                 ends_at timestamptz, daily_first date, daily_end date, weekly_first date,
                 weekly_end date, monthly_first date, monthly_end date)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH b AS (
        SELECT k.period, k.ord, p.first_day, p.end_day, p.starts_at, p.ends_at
        FROM unnest(ARRAY['daily', 'weekly', 'monthly', 'total']) WITH ORDINALITY
            AS k (period, ord)
        CROSS JOIN LATERAL captiva_period(k.period, p_at, p_tz, p_week_start,
                                          p_month_start_day) AS p
    )
    SELECT b.*,
           max(b.first_day) FILTER (WHERE b.period = 'daily') OVER (),
           max(b.end_day) FILTER (WHERE b.period = 'daily') OVER (),
           max(b.first_day) FILTER (WHERE b.period = 'weekly') OVER (),
           max(b.end_day) FILTER (WHERE b.period = 'weekly') OVER (),
           max(b.first_day) FILTER (WHERE b.period = 'monthly') OVER (),
           max(b.end_day) FILTER (WHERE b.period = 'monthly') OVER ()
    FROM b
$$;

-- The quota of profile pr for p_period (NULL: unlimited, or no profile).
CREATE OR REPLACE FUNCTION captiva_period_quota(pr captiva_profile, p_period text)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT captiva_period_pick(p_period, pr.quota_daily, pr.quota_weekly, pr.quota_monthly,
                               pr.quota_total)
$$;

-- Bytes the console granted p_username in force at p_at (captiva_quota_grant, migration 0110:
-- extra bytes, or a reset's bytes = what the period had used), on each period (daily,
-- weekly, monthly, total) in one row: one read of the user's grants. A table function,
-- inlined like captiva_user_used.
CREATE OR REPLACE FUNCTION captiva_user_granted(p_username text, p_at timestamptz)
RETURNS TABLE (daily bigint, weekly bigint, monthly bigint, total bigint)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT COALESCE(sum(g.bytes) FILTER (WHERE g.period = 'daily'), 0)::bigint,
           COALESCE(sum(g.bytes) FILTER (WHERE g.period = 'weekly'), 0)::bigint,
           COALESCE(sum(g.bytes) FILTER (WHERE g.period = 'monthly'), 0)::bigint,
           COALESCE(sum(g.bytes) FILTER (WHERE g.period = 'total'), 0)::bigint
    FROM captiva_quota_grant AS g
    WHERE g.username = p_username AND g.starts_at <= p_at AND g.expires_at > p_at
$$;

-- The same on p_period alone. One row.
CREATE OR REPLACE FUNCTION captiva_period_granted(p_username text, p_period text,
                                                  p_at timestamptz)
RETURNS TABLE (granted bigint) LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT captiva_period_pick(p_period, g.daily, g.weekly, g.monthly, g.total)
    FROM captiva_user_granted(p_username, p_at) AS g
$$;

-- One user: a row per period (daily, weekly, monthly, total, in that order) with the quota of
-- the user's effective profile plus the grants in force (NULL stays unlimited), the bytes
-- used, what remains and the period's bounds, in the user's calendar (p_nas: the NAS of a
-- login, see captiva_user_calendar). p_quota_only (the login check): only the periods with a
-- quota, each computed and read alone (a daily quota reads one day, not the user's whole
-- history; an unlimited profile reads none).
-- plpgsql, as it is on every login's path (captiva_quota_login): one statement for the
-- calendar, the profile and the grants, one for the days, plans kept per connection, the
-- bounds computed by expressions. The one query it was cost more, mostly in setting up its
-- executor at every call (docs/tuning.md, "The login path").
DROP FUNCTION IF EXISTS captiva_user_usage(text, timestamptz, inet);
CREATE OR REPLACE FUNCTION captiva_user_usage(
    p_username text, p_at timestamptz DEFAULT now(), p_nas inet DEFAULT NULL,
    p_quota_only boolean DEFAULT false
) RETURNS TABLE (
    period text, quota bigint, used bigint, remaining bigint,
    starts_at timestamptz, resets_at timestamptz, first_day date, end_day date,
    timezone text, week_start integer, month_start_day integer
) LANGUAGE plpgsql STABLE PARALLEL SAFE
-- One plan for each of its statements, made once per connection. Left to choose, PostgreSQL
-- planned the days' read again at every call (a custom plan for each user's bounds looked
-- cheaper than the generic one), and planning it cost more than the read.
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    s record;
    d record;
    w record;
    m record;
    b record;
    used_daily bigint;
    used_weekly bigint;
    used_monthly bigint;
    used_total bigint;
BEGIN
    SELECT c.timezone, c.week_start, c.month_start_day, p AS profile,
           g.daily, g.weekly, g.monthly, g.total INTO s
    FROM captiva_user_calendar(p_username, p_nas) AS c
    LEFT JOIN (captiva_user AS u JOIN captiva_profile AS p ON p.name = u.profile)
        ON u.username = p_username
    CROSS JOIN captiva_user_granted(p_username, p_at) AS g;
    timezone := s.timezone;
    week_start := s.week_start;
    month_start_day := s.month_start_day;
    IF NOT p_quota_only THEN
        d := captiva_period('daily', p_at, s.timezone, s.week_start, s.month_start_day);
        w := captiva_period('weekly', p_at, s.timezone, s.week_start, s.month_start_day);
        m := captiva_period('monthly', p_at, s.timezone, s.week_start, s.month_start_day);
        SELECT x.daily, x.weekly, x.monthly, x.total
        INTO used_daily, used_weekly, used_monthly, used_total
        FROM captiva_user_used(p_username, d.first_day, d.end_day, w.first_day, w.end_day,
                               m.first_day, m.end_day) AS x;
    END IF;
    FOREACH period IN ARRAY ARRAY['daily', 'weekly', 'monthly', 'total'] LOOP
        quota := captiva_period_quota(s.profile, period)
                 + captiva_period_pick(period, s.daily, s.weekly, s.monthly, s.total);
        CONTINUE WHEN p_quota_only AND quota IS NULL;
        IF p_quota_only THEN
            -- This period's days alone (in the daily slot; total: every day).
            b := captiva_period(period, p_at, s.timezone, s.week_start, s.month_start_day);
            SELECT CASE WHEN b.first_day IS NULL THEN x.total ELSE x.daily END INTO used
            FROM captiva_user_used(p_username, b.first_day, b.end_day, NULL, NULL, NULL, NULL,
                                   COALESCE(b.first_day, '-infinity')) AS x;
        ELSE
            b := CASE period WHEN 'daily' THEN d WHEN 'weekly' THEN w WHEN 'monthly' THEN m
                             ELSE captiva_period(period, p_at, s.timezone, s.week_start,
                                                 s.month_start_day) END;
            used := captiva_period_pick(period, used_daily, used_weekly, used_monthly,
                                        used_total);
        END IF;
        remaining := CASE WHEN quota IS NULL THEN NULL ELSE GREATEST(quota - used, 0) END;
        starts_at := b.starts_at;
        resets_at := b.ends_at;
        first_day := b.first_day;
        end_day := b.end_day;
        RETURN NEXT;
    END LOOP;
END
$$;

-- Every Captiva user: the rows of captiva_user_usage(username, p_at) of each, in one query
-- (jobs, reports). The same functions, with the period bounds computed once per calendar
-- rather than once per user (a test compares both forms).
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
        SELECT cal.timezone, cal.week_start, cal.month_start_day, b.*
        FROM (SELECT DISTINCT uc.timezone, uc.week_start, uc.month_start_day FROM uc) AS cal
        CROSS JOIN LATERAL captiva_periods(p_at, cal.timezone, cal.week_start,
                                           cal.month_start_day) AS b
    ), used AS MATERIALIZED (
        SELECT uc.*, uu.daily, uu.weekly, uu.monthly, uu.total
        FROM uc
        JOIN bounds AS b USING (timezone, week_start, month_start_day)
        CROSS JOIN LATERAL captiva_user_used(uc.username, b.daily_first, b.daily_end,
                                             b.weekly_first, b.weekly_end,
                                             b.monthly_first, b.monthly_end) AS uu
        WHERE b.ord = 1
    )
    SELECT u.username, b.period, x.quota, x.used,
           CASE WHEN x.quota IS NULL THEN NULL ELSE GREATEST(x.quota - x.used, 0) END,
           b.starts_at, b.ends_at, b.first_day, b.end_day,
           u.timezone, u.week_start, u.month_start_day
    FROM used AS u
    JOIN bounds AS b USING (timezone, week_start, month_start_day)
    LEFT JOIN captiva_profile AS pr ON pr.name = u.profile
    CROSS JOIN LATERAL (
        SELECT captiva_period_quota(pr, b.period)
                   + captiva_period_pick(b.period, g.daily, g.weekly, g.monthly, g.total)
                   AS quota,
               captiva_period_pick(b.period, u.daily, u.weekly, u.monthly, u.total) AS used
        FROM captiva_user_granted(u.username, p_at) AS g
    ) AS x
    ORDER BY u.username, b.ord
$$;

-- "5 GiB", "1.5 GiB", "512 MiB", "12 B": sizes in the login message (and in tests, the oracle
-- of captiva.quota.usage.format_bytes).
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
