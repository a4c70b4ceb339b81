-- Voucher logins, called by FreeRADIUS at post-auth (policy.d/captiva_voucher; docs/vouchers.md).
-- SECURITY DEFINER, owned by captiva_definer, pg_temp last in search_path (see 40_quota_login).
--
-- The rule, in one place: a code is refused when it is revoked, before valid_from, from the
-- end of valid_until, on a router of a site the batch does not list, after its window (from
-- the first use), with its time credit or data cap used up, or with simultaneous_use sessions
-- already open. Otherwise the Session-Timeout is the smallest of the remaining credit, the
-- rest of the window and the rest of the validity, and the first use is recorded.
-- Used time and data come from radacct (open sessions count up to p_at).

CREATE OR REPLACE FUNCTION captiva_voucher_login(
    p_code text, p_nas inet DEFAULT NULL, p_at timestamptz DEFAULT now()
) RETURNS TABLE (reject_message text, remaining_bytes bigint, session_timeout bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    b record;
    first_use timestamptz;
    used record;
    tz text;
    timeout bigint;
BEGIN
    SELECT vb.*, v.index INTO b
    FROM captiva_voucher AS v JOIN captiva_voucher_batch AS vb ON vb.name = v.batch
    WHERE v.code = p_code;
    IF NOT FOUND THEN
        RETURN;  -- no row: not a voucher, the other policies decide
    END IF;
    -- Dates are shown in the site's timezone (the router's), else the default one.
    SELECT s.timezone INTO tz
    FROM captiva_router AS r JOIN captiva_site AS s ON s.name = r.site
    WHERE r.nasipaddress = p_nas;
    tz := COALESCE(tz, (SELECT q.timezone FROM captiva_quota_settings AS q LIMIT 1), 'UTC');

    IF EXISTS (SELECT FROM captiva_voucher_revocation AS rv WHERE rv.code = p_code) THEN
        RETURN QUERY SELECT captiva_voucher_message(b.language,
            'Code révoqué', 'Code revoked'), 0::bigint, 0::bigint;
        RETURN;
    END IF;
    IF p_at < b.starts_at THEN
        RETURN QUERY SELECT captiva_voucher_message(b.language,
            'Code pas encore valable (à partir du ' || captiva_voucher_time(b.starts_at, tz) || ')',
            'Code not valid yet (from ' || captiva_voucher_time(b.starts_at, tz) || ')'),
            0::bigint, 0::bigint;
        RETURN;
    END IF;
    IF p_at >= b.ends_at THEN
        RETURN QUERY SELECT captiva_voucher_message(b.language,
            'Code expiré le ' || captiva_voucher_time(b.ends_at, tz),
            'Code expired on ' || captiva_voucher_time(b.ends_at, tz)), 0::bigint, 0::bigint;
        RETURN;
    END IF;
    IF b.sites <> '{}' AND NOT EXISTS (
        SELECT FROM captiva_router AS r WHERE r.nasipaddress = p_nas AND r.site = ANY (b.sites)
    ) THEN
        RETURN QUERY SELECT captiva_voucher_message(b.language,
            'Code non valable sur ce site', 'Code not valid on this site'), 0::bigint, 0::bigint;
        RETURN;
    END IF;
    SELECT f.first_used_at INTO first_use FROM captiva_voucher_first_use AS f
    WHERE f.code = p_code;
    IF b.window_after_first_use IS NOT NULL AND first_use IS NOT NULL
       AND p_at >= first_use + make_interval(secs => b.window_after_first_use) THEN
        RETURN QUERY SELECT captiva_voucher_message(b.language,
            'Code expiré le ' || captiva_voucher_time(
                first_use + make_interval(secs => b.window_after_first_use), tz),
            'Code expired on ' || captiva_voucher_time(
                first_use + make_interval(secs => b.window_after_first_use), tz)),
            0::bigint, 0::bigint;
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
        RETURN QUERY SELECT captiva_voucher_message(b.language,
            'Crédit de temps épuisé', 'Time credit used up'), 0::bigint, 0::bigint;
        RETURN;
    END IF;
    IF b.data_cap IS NOT NULL AND used.bytes >= b.data_cap THEN
        RETURN QUERY SELECT captiva_voucher_message(b.language,
            'Données épuisées', 'Data allowance used up'), 0::bigint, 0::bigint;
        RETURN;
    END IF;
    IF b.simultaneous_use IS NOT NULL AND used.open_sessions >= b.simultaneous_use THEN
        RETURN QUERY SELECT captiva_voucher_message(b.language,
            'Code déjà utilisé sur un autre appareil', 'Code already in use on another device'),
            0::bigint, 0::bigint;
        RETURN;
    END IF;

    timeout := floor(extract(epoch FROM b.ends_at - p_at))::bigint;
    IF b.time_credit IS NOT NULL THEN
        timeout := LEAST(timeout, b.time_credit - used.seconds);
    END IF;
    IF b.window_after_first_use IS NOT NULL THEN
        timeout := LEAST(timeout, floor(extract(epoch FROM
            COALESCE(first_use, p_at) + make_interval(secs => b.window_after_first_use) - p_at
        ))::bigint);
    END IF;
    INSERT INTO captiva_voucher_first_use (code, first_used_at, nasipaddress)
    VALUES (p_code, p_at, p_nas)
    ON CONFLICT (code) DO NOTHING;
    RETURN QUERY SELECT NULL::text,
        CASE WHEN b.data_cap IS NULL THEN NULL ELSE b.data_cap - used.bytes END,
        GREATEST(timeout, 1);
END
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
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT COALESCE((
        SELECT CASE WHEN l.reject_message IS NOT NULL
                    THEN 'reject|' || replace(l.reject_message, '|', '/')
                    ELSE 'accept|' || COALESCE((l.remaining_bytes >> 32)::text, '')
                         || '|' || COALESCE((l.remaining_bytes & 4294967295)::text, '')
                         || '|' || l.session_timeout::text
               END
        FROM captiva_voucher_login(p_code, NULLIF(p_nas, '')::inet) AS l), 'none')
$$;

ALTER FUNCTION captiva_voucher_login(text, inet, timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_voucher_login_xlat(text, text) OWNER TO captiva_definer;
REVOKE ALL ON FUNCTION captiva_voucher_login(text, inet, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION captiva_voucher_login_xlat(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION captiva_voucher_login_xlat(text, text) TO captiva_freeradius;
GRANT EXECUTE ON FUNCTION captiva_voucher_login(text, inet, timestamptz) TO captiva_freeradius;
