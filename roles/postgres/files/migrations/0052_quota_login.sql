-- Login-time quota enforcement, called by FreeRADIUS (docs/quota.md has the unlang).
-- Used bytes of a period = SUM(captiva_usage_daily) over its local days; open sessions count
-- with their last interim. A quota of NULL is unlimited.

-- "5 GiB", "1.5 GiB", "512 MiB", "12 B": the same text as captiva.usage.format_bytes.
CREATE FUNCTION captiva_format_bytes(p_bytes bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT COALESCE(
        (SELECT CASE WHEN p_bytes % f = 0 THEN (p_bytes / f)::text
                     ELSE round(p_bytes::numeric / f, 1)::text END || ' ' || unit
         FROM (VALUES (1, 1099511627776::bigint, 'TiB'), (2, 1073741824, 'GiB'),
                      (3, 1048576, 'MiB'), (4, 1024, 'KiB')) AS u (rank, f, unit)
         WHERE p_bytes >= f ORDER BY rank LIMIT 1),
        p_bytes::text || ' B')
$$;

-- Per period: quota, used, remaining (NULLs when unlimited) and bounds, for one user in one
-- calendar. A user without a captiva_user row has no quota.
CREATE FUNCTION captiva_quota_usage(
    p_username text, p_at timestamptz, p_tz text, p_week_start integer, p_month_start_day integer
) RETURNS TABLE (
    period text, quota bigint, used bigint, remaining bigint,
    starts_at timestamptz, resets_at timestamptz
) LANGUAGE sql STABLE AS $$
    WITH b AS (
        SELECT k.period, k.ord, p.first_day, p.end_day, p.starts_at, p.ends_at
        FROM unnest(ARRAY['daily', 'weekly', 'monthly', 'total']) WITH ORDINALITY AS k (period, ord)
        CROSS JOIN LATERAL captiva_period(k.period, p_at, p_tz, p_week_start, p_month_start_day) AS p
    ), q AS (
        SELECT pr.quota_daily, pr.quota_weekly, pr.quota_monthly, pr.quota_total
        FROM captiva_user AS u JOIN captiva_profile AS pr ON pr.name = u.profile
        WHERE u.username = p_username
    ), used AS (
        SELECT b.period, COALESCE(sum(d.bytes_in + d.bytes_out), 0)::bigint AS used
        FROM b LEFT JOIN captiva_usage_daily AS d
          ON d.username = p_username
         AND (b.first_day IS NULL OR (d.day >= b.first_day AND d.day < b.end_day))
        GROUP BY b.period
    )
    SELECT b.period, x.quota, used.used,
           CASE WHEN x.quota IS NULL THEN NULL ELSE GREATEST(x.quota - used.used, 0) END,
           b.starts_at, b.ends_at
    FROM b
    JOIN used ON used.period = b.period
    LEFT JOIN q ON true
    CROSS JOIN LATERAL (SELECT CASE b.period WHEN 'daily' THEN q.quota_daily
                                             WHEN 'weekly' THEN q.quota_weekly
                                             WHEN 'monthly' THEN q.quota_monthly
                                             ELSE q.quota_total END AS quota) AS x
    ORDER BY b.ord
$$;

-- The login decision for p_username on NAS p_nas at p_at:
-- - reject_message: why the login must be refused (NULL: accept), in the user's language;
-- - remaining_bytes: the smallest remaining quota of any period (NULL: unlimited);
-- - seconds_to_expiry: seconds until the account expires (NULL: never), for Session-Timeout.
CREATE FUNCTION captiva_quota_login(
    p_username text, p_nas inet DEFAULT NULL, p_at timestamptz DEFAULT now()
) RETURNS TABLE (reject_message text, remaining_bytes bigint, seconds_to_expiry bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    cal record;
    usr record;
    hit record;
    french boolean;
BEGIN
    SELECT u.language, u.expires_at INTO usr FROM captiva_user AS u WHERE u.username = p_username;
    IF NOT FOUND THEN
        RETURN QUERY SELECT NULL::text, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;
    cal := captiva_calendar(p_nas);
    french := usr.language = 'fr';
    IF usr.expires_at IS NOT NULL AND usr.expires_at <= p_at THEN
        RETURN QUERY SELECT
            CASE WHEN french THEN 'Compte expiré le ' ELSE 'Account expired on ' END
                || to_char(usr.expires_at AT TIME ZONE cal.timezone, 'YYYY-MM-DD HH24:MI')
                || ' ' || cal.timezone,
            0::bigint, 0::bigint;
        RETURN;
    END IF;
    -- Of the exhausted periods, name the one that frees the user last (total: never).
    SELECT q.period, q.quota, q.resets_at INTO hit
    FROM captiva_quota_usage(p_username, p_at, cal.timezone, cal.week_start,
                             cal.month_start_day) AS q
    WHERE q.quota IS NOT NULL AND q.remaining <= 0
    ORDER BY q.resets_at DESC NULLS FIRST
    LIMIT 1;
    IF FOUND THEN
        RETURN QUERY SELECT
            CASE WHEN french THEN
                'Quota de données ' || CASE hit.period WHEN 'daily' THEN 'journalier'
                    WHEN 'weekly' THEN 'hebdomadaire' WHEN 'monthly' THEN 'mensuel'
                    ELSE 'total' END
                || ' de ' || captiva_format_bytes(hit.quota) || ' atteint ; '
                || CASE WHEN hit.resets_at IS NULL THEN 'il ne se renouvelle pas'
                        ELSE 'renouvelé le ' || to_char(hit.resets_at AT TIME ZONE cal.timezone,
                                                        'YYYY-MM-DD HH24:MI')
                             || ' ' || cal.timezone END
            ELSE
                initcap(hit.period) || ' data quota of ' || captiva_format_bytes(hit.quota)
                || ' reached; '
                || CASE WHEN hit.resets_at IS NULL THEN 'it does not reset'
                        ELSE 'resets ' || to_char(hit.resets_at AT TIME ZONE cal.timezone,
                                                  'YYYY-MM-DD HH24:MI')
                             || ' ' || cal.timezone END
            END,
            0::bigint,
            NULL::bigint;
        RETURN;
    END IF;
    RETURN QUERY SELECT
        NULL::text,
        (SELECT min(q.remaining)
         FROM captiva_quota_usage(p_username, p_at, cal.timezone, cal.week_start,
                                  cal.month_start_day) AS q),
        CASE WHEN usr.expires_at IS NULL THEN NULL
             ELSE floor(extract(epoch FROM usr.expires_at - p_at))::bigint END;
END
$$;

-- One string for unlang's %{sql:...}, which reads a single value:
--   'reject|<message>'  or  'accept|<gigawords>|<low 32 bits>|<seconds to expiry>'
-- with empty fields for "unlimited" / "never". Mikrotik-Total-Limit is a 32-bit attribute:
-- the limit is low + gigawords * 2^32.
CREATE FUNCTION captiva_quota_login_xlat(p_username text, p_nas text DEFAULT '')
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT CASE WHEN l.reject_message IS NOT NULL
                THEN 'reject|' || replace(l.reject_message, '|', '/')
                ELSE 'accept|' || COALESCE((l.remaining_bytes >> 32)::text, '')
                     || '|' || COALESCE((l.remaining_bytes & 4294967295)::text, '')
                     || '|' || COALESCE(l.seconds_to_expiry::text, '')
           END
    FROM captiva_quota_login(p_username, NULLIF(p_nas, '')::inet) AS l
$$;

REVOKE ALL ON FUNCTION captiva_quota_login(text, inet, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION captiva_quota_login_xlat(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION captiva_quota_login(text, inet, timestamptz)
    TO captiva_freeradius, captiva_portal, captiva_jobs;
GRANT EXECUTE ON FUNCTION captiva_quota_login_xlat(text, text) TO captiva_freeradius;
