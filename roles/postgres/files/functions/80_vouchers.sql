-- Vouchers (docs/vouchers.md): the login decision FreeRADIUS asks for at post-auth
-- (policy.d/captiva_voucher) and the sessions a job must end.
-- SECURITY DEFINER, owned by captiva_definer, pg_temp last in search_path (see 40_quota_login).
--
-- The rule, in one place (captiva_voucher_judge): a code is refused when it is revoked,
-- before valid_from, from the end of valid_until, after its window (from the first use), or
-- with its time credit or data cap used up; at login also on a router of a site the batch
-- does not list, or with simultaneous_use sessions already open. Otherwise the session may
-- last the smallest of the remaining credit, the rest of the window and the rest of the
-- validity. Used time and data come from radacct (open sessions count up to p_at).

-- The judgement of p_code at p_at on NAS p_nas; no row when p_code is not a voucher.
-- reason: NULL (allowed), revoked, not-yet-valid, expired, wrong-site, time-used, data-used,
-- in-use; message: why, 'French / English' in the batch's language order;
-- remaining_bytes: NULL without a data cap; seconds_left: how long a session may last.
-- p_login: judge a new login (site and simultaneous use count) rather than an open session.
CREATE OR REPLACE FUNCTION captiva_voucher_judge(
    p_code text, p_nas inet, p_at timestamptz, p_login boolean
) RETURNS TABLE (reason text, message text, remaining_bytes bigint, seconds_left bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    b record;
    first_use timestamptz;
    window_end timestamptz;
    used record;
    tz text;
    left_seconds bigint;
BEGIN
    SELECT vb.* INTO b
    FROM captiva_voucher AS v JOIN captiva_voucher_batch AS vb ON vb.name = v.batch
    WHERE v.code = p_code;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- Dates are shown in the timezone of the router's site, else the campus default.
    SELECT s.timezone INTO tz
    FROM captiva_router AS r JOIN captiva_site AS s ON s.name = r.site
    WHERE r.nasipaddress = p_nas;
    tz := COALESCE(tz, (SELECT q.timezone FROM captiva_quota_settings AS q LIMIT 1), 'UTC');
    SELECT f.first_used_at INTO first_use
    FROM captiva_voucher_first_use AS f WHERE f.code = p_code;
    IF b.window_after_first_use IS NOT NULL THEN
        window_end := COALESCE(first_use, p_at)
                      + make_interval(secs => b.window_after_first_use);
    END IF;

    IF EXISTS (SELECT FROM captiva_voucher_revocation AS rv WHERE rv.code = p_code) THEN
        RETURN QUERY SELECT 'revoked', captiva_voucher_message(b.language,
            'Code révoqué', 'Code revoked'), 0::bigint, 0::bigint;
        RETURN;
    END IF;
    IF p_at < b.starts_at THEN
        RETURN QUERY SELECT 'not-yet-valid', captiva_voucher_message(b.language,
            'Code pas encore valable (à partir du ' || captiva_voucher_time(b.starts_at, tz) || ')',
            'Code not valid yet (from ' || captiva_voucher_time(b.starts_at, tz) || ')'),
            0::bigint, 0::bigint;
        RETURN;
    END IF;
    IF p_at >= LEAST(b.ends_at, window_end) THEN
        RETURN QUERY SELECT 'expired', captiva_voucher_message(b.language,
            'Code expiré le ' || captiva_voucher_time(LEAST(b.ends_at, window_end), tz),
            'Code expired on ' || captiva_voucher_time(LEAST(b.ends_at, window_end), tz)),
            0::bigint, 0::bigint;
        RETURN;
    END IF;
    IF p_login AND b.sites <> '{}' AND NOT EXISTS (
        SELECT FROM captiva_router AS r WHERE r.nasipaddress = p_nas AND r.site = ANY (b.sites)
    ) THEN
        RETURN QUERY SELECT 'wrong-site', captiva_voucher_message(b.language,
            'Code non valable sur ce site', 'Code not valid on this site'), 0::bigint, 0::bigint;
        RETURN;
    END IF;

    SELECT count(*) FILTER (WHERE a.acctstoptime IS NULL) AS open_sessions,
           COALESCE(sum(CASE WHEN a.acctstoptime IS NULL
                             THEN GREATEST(COALESCE(a.acctsessiontime, 0),
                                           floor(extract(epoch FROM p_at - a.acctstarttime)))
                             ELSE COALESCE(a.acctsessiontime, 0) END), 0)::bigint AS seconds,
           COALESCE(sum(COALESCE(a.acctinputoctets, 0) + COALESCE(a.acctoutputoctets, 0)),
                    0)::bigint AS bytes
    INTO used
    FROM radacct AS a WHERE a.username = p_code;
    IF b.time_credit IS NOT NULL AND used.seconds >= b.time_credit THEN
        RETURN QUERY SELECT 'time-used', captiva_voucher_message(b.language,
            'Crédit de temps épuisé', 'Time credit used up'), 0::bigint, 0::bigint;
        RETURN;
    END IF;
    IF b.data_cap IS NOT NULL AND used.bytes >= b.data_cap THEN
        RETURN QUERY SELECT 'data-used', captiva_voucher_message(b.language,
            'Données épuisées', 'Data allowance used up'), 0::bigint, 0::bigint;
        RETURN;
    END IF;
    IF p_login AND b.simultaneous_use IS NOT NULL AND used.open_sessions >= b.simultaneous_use
    THEN
        RETURN QUERY SELECT 'in-use', captiva_voucher_message(b.language,
            'Code déjà utilisé sur un autre appareil', 'Code already in use on another device'),
            0::bigint, 0::bigint;
        RETURN;
    END IF;

    left_seconds := floor(extract(epoch FROM LEAST(b.ends_at, window_end) - p_at))::bigint;
    IF b.time_credit IS NOT NULL THEN
        left_seconds := LEAST(left_seconds, b.time_credit - used.seconds);
    END IF;
    RETURN QUERY SELECT NULL::text, NULL::text,
        CASE WHEN b.data_cap IS NULL THEN NULL ELSE b.data_cap - used.bytes END,
        GREATEST(left_seconds, 1);
END
$$;

-- A login of p_code on NAS p_nas: the judgement, and the first use recorded when accepted.
CREATE OR REPLACE FUNCTION captiva_voucher_login(
    p_code text, p_nas inet DEFAULT NULL, p_at timestamptz DEFAULT now()
) RETURNS TABLE (reject_message text, remaining_bytes bigint, session_timeout bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    j record;
BEGIN
    SELECT * INTO j FROM captiva_voucher_judge(p_code, p_nas, p_at, true);
    IF NOT FOUND THEN
        RETURN;  -- no row: not a voucher, the other policies decide
    END IF;
    IF j.reason IS NULL THEN
        INSERT INTO captiva_voucher_first_use (code, first_used_at, nasipaddress)
        VALUES (p_code, p_at, p_nas)
        ON CONFLICT (code) DO NOTHING;
    END IF;
    RETURN QUERY SELECT j.message, j.remaining_bytes, j.seconds_left;
END
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
    SELECT v.batch, v.index, b.language, j.reason, j.message, j.seconds_left,
           j.remaining_bytes, b.time_credit, b.data_cap, b.window_after_first_use,
           f.first_used_at, b.starts_at,
           LEAST(b.ends_at, f.first_used_at + make_interval(secs => b.window_after_first_use))
    FROM captiva_voucher AS v
    JOIN captiva_voucher_batch AS b ON b.name = v.batch
    LEFT JOIN captiva_voucher_first_use AS f ON f.code = v.code
    CROSS JOIN LATERAL captiva_voucher_judge(v.code, NULL, p_at, false) AS j
    WHERE v.code = p_code
$$;

-- The state of every code at p_at, for the admins' batch view and its CSV (never the code):
-- revoked, expired, exhausted (time or data used up), in-use (used, with time left) or
-- unused, from captiva_voucher_judge; online: its open sessions. The codes nobody touched
-- (no first use, revocation nor accounting) of one batch all have the same judgement: one
-- of them is judged for all, so the page costs one judgement per used code and per batch.
CREATE OR REPLACE FUNCTION captiva_voucher_states(p_at timestamptz DEFAULT now())
RETURNS TABLE (
    batch text, index integer, state text, reason text, first_used_at timestamptz,
    online integer, last_login_at timestamptz, used_seconds bigint, used_bytes bigint
) LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    WITH touched AS MATERIALIZED (
        SELECT v.code, v.batch, v.index, f.first_used_at
        FROM captiva_voucher AS v
        LEFT JOIN captiva_voucher_first_use AS f ON f.code = v.code
        WHERE f.code IS NOT NULL
           OR EXISTS (SELECT FROM captiva_voucher_revocation AS r WHERE r.code = v.code)
           OR EXISTS (SELECT FROM radacct AS a WHERE a.username = v.code)
    ), usage AS (
        SELECT a.username,
               count(*) FILTER (WHERE a.acctstoptime IS NULL)::integer AS online,
               max(a.acctstarttime) AS last_login_at,
               COALESCE(sum(COALESCE(a.acctsessiontime, 0)), 0)::bigint AS seconds,
               COALESCE(sum(COALESCE(a.acctinputoctets, 0) + COALESCE(a.acctoutputoctets, 0)),
                        0)::bigint AS bytes
        FROM radacct AS a JOIN touched AS t ON t.code = a.username
        GROUP BY a.username
    ), stand_in AS MATERIALIZED (
        SELECT s.batch, j.reason
        FROM (SELECT DISTINCT ON (v.batch) v.batch, v.code
              FROM captiva_voucher AS v
              WHERE NOT EXISTS (SELECT FROM touched AS t WHERE t.code = v.code)
              ORDER BY v.batch, v.index) AS s
        CROSS JOIN LATERAL captiva_voucher_judge(s.code, NULL, p_at, false) AS j
    ), judged AS (
        SELECT t.batch, t.index, j.reason, t.first_used_at, COALESCE(u.online, 0) AS online,
               u.last_login_at, COALESCE(u.seconds, 0) AS seconds, COALESCE(u.bytes, 0) AS bytes
        FROM touched AS t
        CROSS JOIN LATERAL captiva_voucher_judge(t.code, NULL, p_at, false) AS j
        LEFT JOIN usage AS u ON u.username = t.code
        UNION ALL
        SELECT v.batch, v.index, s.reason, NULL, 0, NULL, 0, 0
        FROM captiva_voucher AS v JOIN stand_in AS s ON s.batch = v.batch
        WHERE NOT EXISTS (SELECT FROM touched AS t WHERE t.code = v.code)
    )
    SELECT batch, index,
           CASE WHEN reason = 'revoked' THEN 'revoked'
                WHEN reason = 'expired' THEN 'expired'
                WHEN reason IN ('time-used', 'data-used') THEN 'exhausted'
                WHEN first_used_at IS NOT NULL THEN 'in-use'
                ELSE 'unused' END,
           reason, first_used_at, online, last_login_at, seconds, bytes
    FROM judged
    ORDER BY batch, index
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

-- 'French / English', the batch's language first (cards and the login page show both).
CREATE OR REPLACE FUNCTION captiva_voucher_message(p_language text, p_fr text, p_en text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_language = 'en' THEN p_en || ' / ' || p_fr ELSE p_fr || ' / ' || p_en END
$$;

CREATE OR REPLACE FUNCTION captiva_voucher_time(p_at timestamptz, p_tz text)
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT to_char(p_at AT TIME ZONE p_tz, 'YYYY-MM-DD HH24:MI') || ' ' || p_tz
$$;

-- One string for unlang's %{sql:...}: 'none' (not a voucher), 'reject|<message>' or
-- 'accept|<gigawords>|<low 32 bits>|<session timeout>' (empty byte fields: no data cap).
CREATE OR REPLACE FUNCTION captiva_voucher_login_xlat(p_code text, p_nas text DEFAULT '')
RETURNS text
-- plpgsql, not sql: its plan is kept per connection (10_calendar.sql, captiva_local_midnight).
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
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

ALTER FUNCTION captiva_voucher_judge(text, inet, timestamptz, boolean) OWNER TO captiva_definer;
ALTER FUNCTION captiva_voucher_login(text, inet, timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_voucher_login_xlat(text, text) OWNER TO captiva_definer;
ALTER FUNCTION captiva_voucher_sessions_to_disconnect(timestamptz) OWNER TO captiva_definer;
REVOKE ALL ON FUNCTION captiva_voucher_judge(text, inet, timestamptz, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION captiva_voucher_login(text, inet, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION captiva_voucher_login_xlat(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION captiva_voucher_sessions_to_disconnect(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION captiva_voucher_login_xlat(text, text) TO captiva_freeradius;
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
