-- Urgent revocations (docs/vouchers.md, "Revoking a code at once"; migrations 0140, 0141):
-- append-only for the portal and the jobs. They record one through this function and can
-- neither read the revoked codes nor lift a revocation; only the reconcile, from the roster,
-- removes a roster revocation (it keeps urgent ones). Owned by captiva_definer, search_path
-- with pg_temp last (see 40_quota_login).

-- Revoke the compact code p_code now (source 'urgent'): true when it was not revoked yet.
-- The caller checks that the code exists (captiva_voucher_status, captiva_voucher_judge).
CREATE OR REPLACE FUNCTION captiva_voucher_revoke(p_code text, p_reason text)
RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    WITH added AS (
        INSERT INTO captiva_voucher_revocation (code, source, reason)
        VALUES (p_code, 'urgent', COALESCE(p_reason, ''))
        ON CONFLICT (code) DO NOTHING
        RETURNING 1)
    SELECT EXISTS (SELECT FROM added)
$$;

ALTER FUNCTION captiva_voucher_revoke(text, text) OWNER TO captiva_definer;
REVOKE ALL ON FUNCTION captiva_voucher_revoke(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION captiva_voucher_revoke(text, text) TO captiva_portal, captiva_jobs;
