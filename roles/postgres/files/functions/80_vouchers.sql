-- Vouchers (docs/vouchers.md): the login decision FreeRADIUS asks for at post-auth
-- (policy.d/captiva_voucher) and the sessions a job must end.
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

-- A login of p_code on NAS p_nas: the judgement. It writes nothing, so any member (a
-- replica) answers it: an accepted login's first use reaches the database through
-- FreeRADIUS's login buffer (captiva_voucher_first_use_record, via captiva_login_replay).
CREATE OR REPLACE FUNCTION captiva_voucher_login(
    p_code text, p_nas inet DEFAULT NULL, p_at timestamptz DEFAULT now()
) RETURNS TABLE (reject_message text, remaining_bytes bigint, session_timeout bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    -- no row: not a voucher, the other policies decide
    RETURN QUERY SELECT j.message, j.remaining_bytes, j.seconds_left
        FROM captiva_voucher_judgements(p_nas, p_at, true) AS j WHERE j.code = p_code;
END
$$;

-- The first use of p_code: an accepted login at p_at on NAS p_nas. Idempotent, and the
-- earliest login wins whatever order the logins' records arrive in (two RADIUS servers'
-- buffers replay independently): the window starts at the first login.
CREATE OR REPLACE FUNCTION captiva_voucher_first_use_record(
    p_code text, p_at timestamptz, p_nas inet
) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    INSERT INTO captiva_voucher_first_use AS f (code, first_used_at, nasipaddress)
    SELECT v.code, p_at, p_nas FROM captiva_voucher AS v WHERE v.code = p_code
    ON CONFLICT (code) DO UPDATE
        SET first_used_at = excluded.first_used_at, nasipaddress = excluded.nasipaddress
        WHERE excluded.first_used_at < f.first_used_at
$$;

-- Open voucher sessions that must end now (revoked, expired, window over, credit or data
-- used up), in the columns of captiva_sessions_to_disconnect so the enforce job can take
-- both; detail is the bilingual message.
CREATE OR REPLACE FUNCTION captiva_voucher_sessions_to_disconnect(p_at timestamptz DEFAULT now())
RETURNS TABLE (
    radacctid bigint, acctuniqueid text, acctsessionid text, username text,
    nasipaddress inet, framedipaddress inet, reason text, detail text
) LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT a.radacctid, a.acctuniqueid, a.acctsessionid, a.username, a.nasipaddress,
           a.framedipaddress, 'voucher-' || j.reason, j.message
    FROM radacct AS a
    JOIN captiva_voucher AS v ON v.code = a.username
    CROSS JOIN LATERAL captiva_voucher_judge(a.username, a.nasipaddress, p_at, false) AS j
    WHERE a.acctstoptime IS NULL AND j.reason IS NOT NULL
    ORDER BY a.nasipaddress, a.radacctid
$$;

-- What the portal shows a voucher holder (docs/vouchers.md, "Portal"): the judgement of the
-- code now (reason, time left, data left: what a login would get), its batch's limits and
-- its validity: valid_until is the end of the batch or of the window, whichever is first.
CREATE OR REPLACE FUNCTION captiva_voucher_status(p_code text, p_at timestamptz DEFAULT now())
RETURNS TABLE (
    batch text, index integer, language text, reason text, message text,
    seconds_left bigint, remaining_bytes bigint, time_credit integer, data_cap bigint,
    window_after_first_use integer, first_used_at timestamptz, valid_from timestamptz,
    valid_until timestamptz
) LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT j.batch, j.index, b.language, j.reason, j.message, j.seconds_left,
           j.remaining_bytes, b.time_credit, b.data_cap, b.window_after_first_use,
           j.first_used_at, b.starts_at,
           LEAST(b.ends_at, j.first_used_at + make_interval(secs => b.window_after_first_use))
    FROM captiva_voucher_judgements(NULL, p_at, false) AS j
    JOIN captiva_voucher_batch AS b ON b.name = j.batch
    WHERE j.code = p_code
$$;

-- The state of every code at p_at, for the admins' batch view and its CSV (never the code):
-- revoked, expired, exhausted (time or data used up), in-use (used, with time left) or
-- unused, from the judgements of every code in one pass (captiva_voucher_judgements, the
-- rule FreeRADIUS applies); online: its open sessions. Unordered: the page only counts.
CREATE OR REPLACE FUNCTION captiva_voucher_states(p_at timestamptz DEFAULT now())
RETURNS TABLE (
    batch text, index integer, state text, reason text, first_used_at timestamptz,
    online integer, last_login_at timestamptz, used_seconds bigint, used_bytes bigint
) LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT j.batch, j.index,
           CASE WHEN j.reason = 'revoked' THEN 'revoked'
                WHEN j.reason = 'expired' THEN 'expired'
                WHEN j.reason IN ('time-used', 'data-used') THEN 'exhausted'
                WHEN j.first_used_at IS NOT NULL THEN 'in-use'
                ELSE 'unused' END,
           j.reason, j.first_used_at, j.open_sessions, j.last_login_at, j.used_seconds,
           j.used_bytes
    FROM captiva_voucher_judgements(NULL, p_at, false) AS j
$$;

-- The last p_per_batch sessions of each batch's codes (never the code: batch and index).
CREATE OR REPLACE FUNCTION captiva_voucher_recent_logins(p_per_batch integer DEFAULT 10)
RETURNS TABLE (
    batch text, index integer, nasipaddress inet, started_at timestamptz,
    stopped_at timestamptz, seconds bigint, bytes bigint
) LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT r.batch, r.index, r.nasipaddress, r.acctstarttime, r.acctstoptime, r.seconds,
           r.bytes
    FROM (
        SELECT v.batch, v.index, a.nasipaddress, a.acctstarttime, a.acctstoptime,
               COALESCE(a.acctsessiontime, 0)::bigint AS seconds,
               (COALESCE(a.acctinputoctets, 0) + COALESCE(a.acctoutputoctets, 0))::bigint
                   AS bytes,
               row_number() OVER (PARTITION BY v.batch ORDER BY a.acctstarttime DESC) AS n
        FROM radacct AS a JOIN captiva_voucher AS v ON v.code = a.username
    ) AS r
    WHERE r.n <= p_per_batch
    ORDER BY r.batch, r.acctstarttime DESC
$$;

-- One string for unlang's %{sql:...}: 'none' (not a voucher), 'reject|<message>' or
-- 'accept|<gigawords>|<low 32 bits>|<session timeout>' (empty byte fields: no data cap).
CREATE OR REPLACE FUNCTION captiva_voucher_login_xlat(p_code text, p_nas text DEFAULT '')
RETURNS text
-- plpgsql, not sql: its plan is kept per connection (10_calendar.sql, captiva_local_midnight).
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    RETURN COALESCE((
        SELECT CASE WHEN l.reject_message IS NOT NULL
                    THEN 'reject|' || replace(l.reject_message, '|', '/')
                    ELSE 'accept|' || COALESCE((l.remaining_bytes >> 32)::text, '')
                         || '|' || COALESCE((l.remaining_bytes & 4294967295)::text, '')
                         || '|' || l.session_timeout::text
               END
        FROM captiva_voucher_login(p_code, NULLIF(p_nas, '')::inet) AS l), 'none');
END
$$;

-- The status portal's login of p_code (policy.d/captiva_voucher): 'none' (not a voucher),
-- 'reject|<message>' for a revoked or expired code (nor one not valid yet), else 'accept'.
-- A used-up code may sign in to read why; nothing is recorded, no window starts.
CREATE OR REPLACE FUNCTION captiva_voucher_portal_xlat(p_code text) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    RETURN COALESCE((
        SELECT CASE WHEN j.reason IN ('revoked', 'expired', 'not-yet-valid')
                    THEN 'reject|' || replace(j.message, '|', '/')
                    ELSE 'accept' END
        FROM captiva_voucher_judge(p_code, NULL, now(), false) AS j), 'none');
END
$$;

ALTER FUNCTION captiva_voucher_judgements(inet, timestamptz, boolean) OWNER TO captiva_definer;
REVOKE ALL ON FUNCTION captiva_voucher_judgements(inet, timestamptz, boolean) FROM PUBLIC;
ALTER FUNCTION captiva_voucher_judge(text, inet, timestamptz, boolean) OWNER TO captiva_definer;
ALTER FUNCTION captiva_voucher_login(text, inet, timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_voucher_first_use_record(text, timestamptz, inet) OWNER TO captiva_definer;
ALTER FUNCTION captiva_voucher_login_xlat(text, text) OWNER TO captiva_definer;
ALTER FUNCTION captiva_voucher_portal_xlat(text) OWNER TO captiva_definer;
ALTER FUNCTION captiva_voucher_sessions_to_disconnect(timestamptz) OWNER TO captiva_definer;
REVOKE ALL ON FUNCTION captiva_voucher_judge(text, inet, timestamptz, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION captiva_voucher_login(text, inet, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION captiva_voucher_first_use_record(text, timestamptz, inet) FROM PUBLIC;
REVOKE ALL ON FUNCTION captiva_voucher_login_xlat(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION captiva_voucher_portal_xlat(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION captiva_voucher_sessions_to_disconnect(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION captiva_voucher_login_xlat(text, text) TO captiva_freeradius;
GRANT EXECUTE ON FUNCTION captiva_voucher_portal_xlat(text) TO captiva_freeradius;
GRANT EXECUTE ON FUNCTION captiva_voucher_login(text, inet, timestamptz) TO captiva_freeradius;
-- The portal shows a voucher holder the same remaining time and data as a login would get.
GRANT EXECUTE ON FUNCTION captiva_voucher_judge(text, inet, timestamptz, boolean)
    TO captiva_portal, captiva_jobs;
GRANT EXECUTE ON FUNCTION captiva_voucher_sessions_to_disconnect(timestamptz) TO captiva_jobs;
-- The portal's voucher pages: the holder's status, the admins' batch view.
ALTER FUNCTION captiva_voucher_status(text, timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_voucher_states(timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_voucher_recent_logins(integer) OWNER TO captiva_definer;
REVOKE ALL ON FUNCTION captiva_voucher_status(text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION captiva_voucher_states(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION captiva_voucher_recent_logins(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION captiva_voucher_status(text, timestamptz) TO captiva_portal;
GRANT EXECUTE ON FUNCTION captiva_voucher_states(timestamptz) TO captiva_portal;
GRANT EXECUTE ON FUNCTION captiva_voucher_recent_logins(integer) TO captiva_portal;
