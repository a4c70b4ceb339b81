-- Functions whose result became a row type of migration 0220 (docs/postgres.md, "Row
-- types"): CREATE OR REPLACE cannot change a result type, so each is dropped here once, while
-- it still returns a record (RETURNS TABLE), and its file creates it again. Once converted it
-- is replaced in place, never dropped under a login or an enforce run.
DO $$
DECLARE
    signature text;
BEGIN
    FOREACH signature IN ARRAY ARRAY[
        'captiva_authorize_check(text, text, text)', 'captiva_authorize_reply(text)',
        'captiva_radcheck(text)', 'captiva_sessions_to_disconnect(timestamptz)',
        'captiva_workstation_sessions_to_disconnect(timestamptz)',
        'captiva_voucher_sessions_to_disconnect(timestamptz)']
    LOOP
        IF (SELECT p.prorettype = 'record'::regtype
            FROM pg_proc AS p WHERE p.oid = to_regprocedure(signature)) THEN
            EXECUTE 'DROP FUNCTION ' || signature;
        END IF;
    END LOOP;
END
$$;
