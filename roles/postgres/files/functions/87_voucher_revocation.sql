-- Urgent revocations (docs/vouchers.md, "Revoking a code at once"; migrations 0140, 0141):
-- one path for the console's form and `captiva-vouchers revoke` on the jobs' host. The
-- policy decides who may (15_authz.sql: an admin, or os:<login> through the jobs' login),
-- and the revocation and its audit row are written together. Append-only for the portal and
-- the jobs: they can neither read the revoked codes nor lift a revocation; only the
-- reconcile, from the roster, removes a roster revocation (it keeps urgent ones). Owned by
-- captiva_definer, search_path with pg_temp last (see 40_quota_login).

-- Before issue 24 anyone with EXECUTE could revoke, with no actor and no audit row.
DROP FUNCTION IF EXISTS captiva_voucher_revoke(text, text);

-- p_actor revokes the compact code p_code now (source 'urgent'). No row: not a voucher code.
-- One row: its card (batch, index), and revoked = true when it was not revoked yet (then
-- the audit has its voucher-revoke row, naming the card, never the code). An actor the
-- policy refuses: insufficient_privilege, before the code is looked at.
CREATE OR REPLACE FUNCTION captiva_voucher_revoke(p_actor text, p_code text, p_reason text)
RETURNS TABLE (batch text, index integer, revoked boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    card record;
    added boolean;
BEGIN
    IF captiva_authz_role(p_actor, 'voucher-revoke', NULL) IS NULL THEN
        RAISE EXCEPTION 'captiva_voucher_revoke: % may not revoke a code', p_actor
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT j.batch, j.index INTO card
    FROM captiva_voucher_judgements(NULL, now(), false) AS j WHERE j.code = p_code;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    WITH new_row AS (
        INSERT INTO captiva_voucher_revocation (code, source, reason)
        VALUES (p_code, 'urgent', concat_ws(' ', NULLIF(btrim(p_reason), ''),
                                            '(by ' || p_actor || ')'))
        ON CONFLICT (code) DO NOTHING
        RETURNING 1)
    SELECT EXISTS (SELECT FROM new_row) INTO added;
    IF added THEN
        PERFORM captiva_audit_record(p_actor, 'voucher-revoke', card.batch || '#' || card.index,
            NULLIF(btrim(COALESCE(p_reason, '')), ''),
            jsonb_build_object('batch', card.batch, 'index', card.index));
    END IF;
    RETURN QUERY SELECT card.batch, card.index, added;
END
$$;

ALTER FUNCTION captiva_voucher_revoke(text, text, text) OWNER TO captiva_definer;
REVOKE ALL ON FUNCTION captiva_voucher_revoke(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION captiva_voucher_revoke(text, text, text)
    TO captiva_portal, captiva_jobs;
