-- Quota calendars in SQL: the same period bounds as captiva/periods.py (tests compare them).
-- A calendar is a site's timezone, ISO week start (1 = Monday) and month start day (1..28);
-- a NAS uses its site's calendar (captiva_router -> captiva_site), an unknown NAS and every
-- user-level view without a NAS use the campus default of captiva_quota_settings.

-- One row: the campus defaults (captiva_timezone, captiva_week_start, captiva_month_start_day),
-- written by the reconcile; UTC until it does.
CREATE TABLE captiva_quota_settings (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    timezone text NOT NULL DEFAULT 'UTC',
    week_start smallint NOT NULL DEFAULT 1 CHECK (week_start BETWEEN 1 AND 7),
    month_start_day smallint NOT NULL DEFAULT 1 CHECK (month_start_day BETWEEN 1 AND 28)
);
INSERT INTO captiva_quota_settings DEFAULT VALUES;

-- First instant of local day p_day. PostgreSQL resolves a repeated wall time to the later
-- instant; the day starts at the earlier one (Python's fold=0), so look for an instant that
-- shows the same midnight under the offset in force a day earlier. A skipped midnight already
-- resolves to the moment of the jump.
CREATE FUNCTION captiva_local_midnight(p_day date, p_tz text) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE STRICT AS $$
    WITH c AS (
        SELECT p_day::timestamp AS wall, p_day::timestamp AT TIME ZONE p_tz AS later
    ), e AS (
        SELECT wall, later,
               (wall - (((later - interval '1 day') AT TIME ZONE p_tz)
                        - ((later - interval '1 day') AT TIME ZONE 'UTC'))) AT TIME ZONE 'UTC'
                   AS earlier
        FROM c
    )
    SELECT CASE WHEN earlier < later AND (earlier AT TIME ZONE p_tz) = wall
                THEN earlier ELSE later END
    FROM e
$$;

-- [first_day, end_day) of period p_period ('daily', 'weekly', 'monthly') holding local p_day;
-- NULLs for 'total'.
CREATE FUNCTION captiva_period_days(
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
CREATE FUNCTION captiva_period(
    p_period text, p_at timestamptz, p_tz text, p_week_start integer, p_month_start_day integer,
    OUT first_day date, OUT end_day date, OUT starts_at timestamptz, OUT ends_at timestamptz
) LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT d.first_day, d.end_day,
           captiva_local_midnight(d.first_day, p_tz), captiva_local_midnight(d.end_day, p_tz)
    FROM captiva_period_days(p_period, (p_at AT TIME ZONE p_tz)::date,
                             p_week_start, p_month_start_day) AS d
$$;

-- The calendar of a NAS (its site's), else the campus default.
CREATE FUNCTION captiva_calendar(
    p_nas inet, OUT timezone text, OUT week_start integer, OUT month_start_day integer
) LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT c.timezone, c.week_start, c.month_start_day FROM (
        SELECT 1 AS rank, s.timezone, s.week_start::integer, s.month_start_day::integer
        FROM captiva_router AS r JOIN captiva_site AS s ON s.name = r.site
        WHERE p_nas IS NOT NULL AND r.nasipaddress = p_nas
        UNION ALL
        SELECT 2, d.timezone, d.week_start::integer, d.month_start_day::integer
        FROM captiva_quota_settings AS d
        UNION ALL
        SELECT 3, 'UTC', 1, 1
    ) AS c (rank, timezone, week_start, month_start_day)
    ORDER BY c.rank
    LIMIT 1
$$;

GRANT SELECT ON captiva_quota_settings TO captiva_freeradius, captiva_portal, captiva_jobs;
GRANT SELECT, UPDATE ON captiva_quota_settings TO captiva_reconcile;
-- The accounting trigger (0051) looks up the NAS's timezone as the writing role.
GRANT SELECT ON captiva_site, captiva_router TO captiva_freeradius;
