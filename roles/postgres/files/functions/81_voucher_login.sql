-- Vouchers: the login decision FreeRADIUS asks for at post-auth (policy.d/captiva_voucher),
-- the status portal's login, and a login's first use (the window starts there), from the
-- rule's judgement (80_voucher_rules.sql).
-- SECURITY DEFINER, owned by captiva_definer, pg_temp last in search_path (see 40_quota_login).

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

ALTER FUNCTION captiva_voucher_login(text, inet, timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_voucher_first_use_record(text, timestamptz, inet) OWNER TO captiva_definer;
ALTER FUNCTION captiva_voucher_login_xlat(text, text) OWNER TO captiva_definer;
ALTER FUNCTION captiva_voucher_portal_xlat(text) OWNER TO captiva_definer;
REVOKE ALL ON FUNCTION captiva_voucher_login(text, inet, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION captiva_voucher_first_use_record(text, timestamptz, inet) FROM PUBLIC;
REVOKE ALL ON FUNCTION captiva_voucher_login_xlat(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION captiva_voucher_portal_xlat(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION captiva_voucher_login_xlat(text, text) TO captiva_freeradius;
GRANT EXECUTE ON FUNCTION captiva_voucher_portal_xlat(text) TO captiva_freeradius;
GRANT EXECUTE ON FUNCTION captiva_voucher_login(text, inet, timestamptz) TO captiva_freeradius;
