-- Vouchers (docs/vouchers.md), 80-83 and 87_voucher_*.sql by concern: the rule here; the
-- logins FreeRADIUS asks about (81_voucher_login), the sessions a job must end
-- (82_voucher_ends), the portal's pages (83_voucher_pages), urgent revocations
-- (87_voucher_revocation).
-- SECURITY DEFINER, owned by captiva_definer, pg_temp last in search_path (see 40_quota_login).
--
-- The rule, in one place (captiva_voucher_judgements): a code is refused when it is revoked,
-- before valid_from, from the end of valid_until, after its window (from the first use), or
-- with its time credit or data cap used up; at login also on a router of a site the batch
-- does not list, or with simultaneous_use sessions already open. Otherwise the session may
-- last the smallest of the remaining credit, the rest of the window and the rest of the
-- validity. Used time and data come from radacct and radacct_history (open sessions count up
-- to p_at).

-- 'French / English', the batch's language first (cards and the login page show both).
CREATE OR REPLACE FUNCTION captiva_voucher_message(p_language text, p_fr text, p_en text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_language = 'en' THEN p_en || ' / ' || p_fr ELSE p_fr || ' / ' || p_en END
$$;

CREATE OR REPLACE FUNCTION captiva_voucher_time(p_at timestamptz, p_tz text)
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT to_char(p_at AT TIME ZONE p_tz, 'YYYY-MM-DD HH24:MI') || ' ' || p_tz
$$;

-- The rule itself, over every code at once: one row per code with its judgement at p_at,
-- judged on NAS p_nas (its site's timezone for the dates in messages; at login, the site
-- check). Every caller filters it: the login and the holder's page by code (the planner
-- pushes the code down to the indexes, radacct included), the admins' counts not at all (one
-- pass, radacct aggregated per code and joined once). It is plain SQL, STABLE, not SECURITY
-- DEFINER and without SET, so PostgreSQL inlines it into its callers (all SECURITY DEFINER,
-- search_path set); called directly it has only its caller's rights, and nobody else's.
-- reason: NULL (allowed), revoked, not-yet-valid, expired, wrong-site, time-used, data-used,
-- in-use; message: why, 'French / English' in the batch's language order;
-- remaining_bytes: NULL without a data cap; seconds_left: how long a session may last;
-- used_seconds counts open sessions up to p_at.
-- p_login: judge a new login (site and simultaneous use count) rather than an open session.
CREATE OR REPLACE FUNCTION captiva_voucher_judgements(
    p_nas inet, p_at timestamptz, p_login boolean
) RETURNS TABLE (
    code text, batch text, index integer, reason text, message text, remaining_bytes bigint,
    seconds_left bigint, first_used_at timestamptz, open_sessions integer,
    last_login_at timestamptz, used_seconds bigint, used_bytes bigint
) LANGUAGE sql STABLE AS $$
    SELECT j.code, j.batch, j.index, j.reason,
           CASE j.reason
               WHEN 'revoked' THEN public.captiva_voucher_message(j.language,
                   'Code révoqué', 'Code revoked')
               WHEN 'not-yet-valid' THEN public.captiva_voucher_message(j.language,
                   'Code pas encore valable (à partir du '
                       || public.captiva_voucher_time(j.starts_at, j.tz) || ')',
                   'Code not valid yet (from '
                       || public.captiva_voucher_time(j.starts_at, j.tz) || ')')
               WHEN 'expired' THEN public.captiva_voucher_message(j.language,
                   'Code expiré le ' || public.captiva_voucher_time(j.valid_end, j.tz),
                   'Code expired on ' || public.captiva_voucher_time(j.valid_end, j.tz))
               WHEN 'wrong-site' THEN public.captiva_voucher_message(j.language,
                   'Code non valable sur ce site', 'Code not valid on this site')
               WHEN 'time-used' THEN public.captiva_voucher_message(j.language,
                   'Crédit de temps épuisé', 'Time credit used up')
               WHEN 'data-used' THEN public.captiva_voucher_message(j.language,
                   'Données épuisées', 'Data allowance used up')
               WHEN 'in-use' THEN public.captiva_voucher_message(j.language,
                   'Code déjà utilisé sur un autre appareil',
                   'Code already in use on another device')
           END,
           CASE WHEN j.reason IS NOT NULL THEN 0::bigint
                WHEN j.data_cap IS NOT NULL THEN j.data_cap - j.used_bytes END,
           CASE WHEN j.reason IS NOT NULL THEN 0::bigint
                ELSE GREATEST(LEAST(floor(extract(epoch FROM j.valid_end - p_at))::bigint,
                                    j.time_credit - j.used_seconds), 1) END,
           j.first_used_at, j.open_sessions, j.last_login_at, j.used_seconds, j.used_bytes
    FROM (
        SELECT f.*,
               CASE WHEN f.revoked THEN 'revoked'
                    WHEN p_at < f.starts_at THEN 'not-yet-valid'
                    WHEN p_at >= f.valid_end THEN 'expired'
                    WHEN p_login AND f.sites <> '{}' AND NOT EXISTS (
                        SELECT FROM public.captiva_router AS r
                        WHERE r.nasipaddress = p_nas AND r.site = ANY (f.sites))
                        THEN 'wrong-site'
                    WHEN f.used_seconds >= f.time_credit THEN 'time-used'
                    WHEN f.used_bytes >= f.data_cap THEN 'data-used'
                    WHEN p_login AND f.open_sessions >= f.simultaneous_use THEN 'in-use'
               END AS reason
        FROM (
            SELECT v.code, v.batch, v.index, b.language, b.starts_at, b.sites, b.time_credit,
                   b.data_cap, b.simultaneous_use, fu.first_used_at,
                   rv.code IS NOT NULL AS revoked,
                   -- LEAST ignores NULL: without a window, the batch's end.
                   LEAST(b.ends_at, COALESCE(fu.first_used_at, p_at)
                                    + make_interval(secs => b.window_after_first_use))
                       AS valid_end,
                   COALESCE(u.open_sessions, 0) AS open_sessions, u.last_login_at,
                   COALESCE(u.seconds, 0) AS used_seconds, COALESCE(u.bytes, 0) AS used_bytes,
                   -- Dates are shown in the timezone of the router's site, else the campus's.
                   COALESCE((SELECT s.timezone FROM public.captiva_router AS r
                             JOIN public.captiva_site AS s ON s.name = r.site
                             WHERE r.nasipaddress = p_nas),
                            (SELECT q.timezone FROM public.captiva_quota_settings AS q LIMIT 1),
                            'UTC') AS tz
            FROM public.captiva_voucher AS v
            JOIN public.captiva_voucher_batch AS b ON b.name = v.batch
            LEFT JOIN public.captiva_voucher_first_use AS fu ON fu.code = v.code
            LEFT JOIN public.captiva_voucher_revocation AS rv ON rv.code = v.code
            LEFT JOIN (
                SELECT a.username,
                       count(*) FILTER (WHERE a.acctstoptime IS NULL)::integer
                           AS open_sessions,
                       max(a.acctstarttime) AS last_login_at,
                       sum(CASE WHEN a.acctstoptime IS NULL
                                THEN GREATEST(COALESCE(a.acctsessiontime, 0),
                                              floor(extract(epoch FROM p_at - a.acctstarttime)))
                                ELSE COALESCE(a.acctsessiontime, 0) END)::bigint AS seconds,
                       sum(COALESCE(a.acctinputoctets, 0)
                           + COALESCE(a.acctoutputoctets, 0))::bigint AS bytes
                -- the sessions retention archived count too (closed: their own totals)
                FROM (SELECT r.username, r.acctstarttime, r.acctstoptime, r.acctsessiontime,
                             r.acctinputoctets, r.acctoutputoctets
                      FROM public.radacct AS r
                      UNION ALL
                      SELECT h.username, h.acctstarttime, h.acctstoptime, h.acctsessiontime,
                             h.acctinputoctets, h.acctoutputoctets
                      FROM public.radacct_history AS h) AS a
                GROUP BY a.username
            ) AS u ON u.username = v.code
        ) AS f
    ) AS j
$$;

-- The judgement of p_code at p_at on NAS p_nas; no row when p_code is not a voucher.
-- Columns as in captiva_voucher_judgements.
CREATE OR REPLACE FUNCTION captiva_voucher_judge(
    p_code text, p_nas inet, p_at timestamptz, p_login boolean
) RETURNS TABLE (reason text, message text, remaining_bytes bigint, seconds_left bigint)
-- plpgsql, not sql: its plan is kept per connection (10_calendar.sql, captiva_local_midnight).
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    RETURN QUERY SELECT j.reason, j.message, j.remaining_bytes, j.seconds_left
        FROM captiva_voucher_judgements(p_nas, p_at, p_login) AS j WHERE j.code = p_code;
END
$$;

ALTER FUNCTION captiva_voucher_judgements(inet, timestamptz, boolean) OWNER TO captiva_definer;
REVOKE ALL ON FUNCTION captiva_voucher_judgements(inet, timestamptz, boolean) FROM PUBLIC;
ALTER FUNCTION captiva_voucher_judge(text, inet, timestamptz, boolean) OWNER TO captiva_definer;
REVOKE ALL ON FUNCTION captiva_voucher_judge(text, inet, timestamptz, boolean) FROM PUBLIC;
-- The portal shows a voucher holder the same remaining time and data as a login would get.
GRANT EXECUTE ON FUNCTION captiva_voucher_judge(text, inet, timestamptz, boolean)
    TO captiva_portal, captiva_jobs;
