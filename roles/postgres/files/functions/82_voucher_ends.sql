-- Vouchers: the open sessions the enforce job must end, by the rule (80_voucher_rules.sql).
-- SECURITY DEFINER, owned by captiva_definer, pg_temp last in search_path (see 40_quota_login).

-- Open voucher sessions that must end now (revoked, expired, window over, credit or data
-- used up), in the columns of captiva_sessions_to_disconnect so the enforce job can take
-- both; detail is the bilingual message.
CREATE OR REPLACE FUNCTION captiva_voucher_sessions_to_disconnect(p_at timestamptz DEFAULT now())
RETURNS SETOF captiva_session_end LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT a.radacctid, a.acctuniqueid, a.acctsessionid, a.username, a.nasipaddress,
           a.framedipaddress, 'voucher-' || j.reason, j.message
    FROM radacct AS a
    JOIN captiva_voucher AS v ON v.code = a.username
    CROSS JOIN LATERAL captiva_voucher_judge(a.username, a.nasipaddress, p_at, false) AS j
    WHERE a.acctstoptime IS NULL AND j.reason IS NOT NULL
    ORDER BY a.nasipaddress, a.radacctid
$$;

ALTER FUNCTION captiva_voucher_sessions_to_disconnect(timestamptz) OWNER TO captiva_definer;
REVOKE ALL ON FUNCTION captiva_voucher_sessions_to_disconnect(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION captiva_voucher_sessions_to_disconnect(timestamptz) TO captiva_jobs;
