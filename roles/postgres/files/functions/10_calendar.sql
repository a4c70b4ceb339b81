-- Quota calendars: the same period bounds as tests/period_oracle.py (the tests compare them).
-- A calendar is a site's timezone, ISO week start (1 = Monday) and month start day (1..28).
--
-- The calendar rule (docs/quota.md, "Which calendar"): a user's periods follow ONE calendar,
-- captiva_user_calendar(): the site of the NAS the user is logging in on, else the site of
-- the user's most recent session, else the campus default (captiva_quota_settings). Login,
-- enforcement, alerts, reports and the portal all ask this function.

-- First instant of local day p_day. PostgreSQL resolves a repeated wall time to the later
-- instant; the day starts at the earlier one (Python's fold=0), so look for an instant that
-- shows the same midnight under the offset in force a day earlier. A skipped midnight already
-- resolves to the moment of the jump.
--
-- Why plpgsql here and below (docs/tuning.md): PostgreSQL inlines only a SQL function whose
-- body is a bare expression or, for a set-returning one, a single SELECT; any other SQL
-- function is planned again at every statement that calls it, which made each login cost
-- about 1 ms of database CPU. plpgsql keeps its plans for the life of the connection (the
-- FreeRADIUS pool's), and the login check calls these functions a dozen times.
CREATE OR REPLACE FUNCTION captiva_local_midnight(p_day date, p_tz text) RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL SAFE STRICT AS $$
DECLARE
    wall constant timestamp := p_day::timestamp;
    later constant timestamptz := p_day::timestamp AT TIME ZONE p_tz;
    earlier timestamptz;
BEGIN
    earlier := (wall - (((later - interval '1 day') AT TIME ZONE p_tz)
                        - ((later - interval '1 day') AT TIME ZONE 'UTC'))) AT TIME ZONE 'UTC';
    RETURN CASE WHEN earlier < later AND (earlier AT TIME ZONE p_tz) = wall
                THEN earlier ELSE later END;
END
$$;

-- [first_day, end_day) of period p_period ('daily', 'weekly', 'monthly') holding local p_day;
-- NULLs for 'total'.
CREATE OR REPLACE FUNCTION captiva_period_days(
    p_period text, p_day date, p_week_start integer, p_month_start_day integer,
    OUT first_day date, OUT end_day date
) LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    month_first date;
BEGIN
    IF p_period = 'daily' THEN
        first_day := p_day;
        end_day := p_day + 1;
    ELSIF p_period = 'weekly' THEN
        first_day := p_day - ((extract(isodow FROM p_day)::integer - p_week_start + 7) % 7);
        end_day := first_day + 7;
    ELSIF p_period = 'monthly' THEN
        month_first := date_trunc('month', p_day)::date;
        IF extract(day FROM p_day) < p_month_start_day THEN
            month_first := (month_first - interval '1 month')::date;
        END IF;
        first_day := month_first + (p_month_start_day - 1);
        end_day := (first_day + interval '1 month')::date;
    ELSIF p_period <> 'total' THEN
        RAISE EXCEPTION 'unknown period %: expected daily, weekly, monthly or total', p_period;
    END IF;
END
$$;

-- The period p_period holding instant p_at in a calendar: local dates and instants.
CREATE OR REPLACE FUNCTION captiva_period(
    p_period text, p_at timestamptz, p_tz text, p_week_start integer, p_month_start_day integer,
    OUT first_day date, OUT end_day date, OUT starts_at timestamptz, OUT ends_at timestamptz
) LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    -- An expression, not a query: plpgsql evaluates it without an executor.
    d record := captiva_period_days(p_period, (p_at AT TIME ZONE p_tz)::date,
                                    p_week_start, p_month_start_day);
BEGIN
    first_day := d.first_day;
    end_day := d.end_day;
    starts_at := captiva_local_midnight(first_day, p_tz);
    ends_at := captiva_local_midnight(end_day, p_tz);
END
$$;

-- The one calendar of a user's quota periods: the site of p_nas when it is a known router
-- (the NAS a login comes from), else the site of the NAS of the user's most recent session
-- (radacct_user_start_idx), else the campus default, else UTC. One row; a table function so
-- that PostgreSQL inlines it into the queries over every user.
DROP FUNCTION IF EXISTS captiva_user_calendar(text, inet);
CREATE OR REPLACE FUNCTION captiva_user_calendar(p_username text, p_nas inet DEFAULT NULL)
RETURNS TABLE (timezone text, week_start integer, month_start_day integer)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT c.timezone, c.week_start, c.month_start_day FROM (
        SELECT 1, s.timezone, s.week_start::integer, s.month_start_day::integer
        FROM captiva_router AS r JOIN captiva_site AS s ON s.name = r.site
        WHERE r.nasipaddress = COALESCE(
            (SELECT k.nasipaddress FROM captiva_router AS k WHERE k.nasipaddress = p_nas),
            (SELECT a.nasipaddress FROM radacct AS a
             WHERE a.username = p_username AND a.acctstarttime IS NOT NULL
             ORDER BY a.acctstarttime DESC
             LIMIT 1))
        UNION ALL
        SELECT 2, d.timezone, d.week_start::integer, d.month_start_day::integer
        FROM captiva_quota_settings AS d
        UNION ALL
        SELECT 3, 'UTC', 1, 1
    ) AS c (rank, timezone, week_start, month_start_day)
    ORDER BY c.rank
    LIMIT 1
$$;

-- The calendar of a NAS (its site's), else the campus default.
CREATE OR REPLACE FUNCTION captiva_calendar(
    p_nas inet, OUT timezone text, OUT week_start integer, OUT month_start_day integer
) LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT c.timezone, c.week_start, c.month_start_day FROM captiva_user_calendar(NULL, p_nas) AS c
$$;

-- Timezone of a NAS's site: bytes are attributed to its local days (20_usage_daily.sql).
CREATE OR REPLACE FUNCTION captiva_nas_timezone(p_nas inet) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN (captiva_calendar(p_nas)).timezone;
END
$$;
