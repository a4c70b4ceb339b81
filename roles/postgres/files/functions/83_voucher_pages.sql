-- Vouchers: what the portal shows, by the rule (80_voucher_rules.sql): a holder's status, the
-- admins' batch view (every code's state, the recent logins; never a code).
-- SECURITY DEFINER, owned by captiva_definer, pg_temp last in search_path (see 40_quota_login).

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
