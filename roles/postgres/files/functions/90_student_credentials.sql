-- Student-set passwords (migration 0190; docs/portal.md, "For students"): the rule that keeps
-- one current, and its readers. The portal's side (setting a password, reset links) is in
-- 90_student_passwords.sql. Owned by captiva_definer, search_path with pg_temp last (see
-- 40_quota_login).
--
--   captiva_roster_credential_digest   THE rule "is this still the roster row it was set over"
--   captiva_roster_credential          the roster's password row of a user
--   captiva_student_credential_current captiva_radcheck: the credential, if still current
--   captiva_radcheck                   freeradius: radcheck, the student's credential first
--   captiva_student_credentials_roster reconcile: keep, or delete after an admin reset

-- The digest of a roster password row, salted per credential (a cleartext roster password
-- must not be guessable from it).
CREATE OR REPLACE FUNCTION captiva_roster_credential_digest(
    p_salt bytea, p_attribute text, p_value text
) RETURNS bytea
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT sha256(p_salt || convert_to(p_attribute || ':' || p_value, 'UTF8'))
$$;

-- The roster's password row of a user (Captiva's own: managed_by 'captiva'), or nothing.
CREATE OR REPLACE FUNCTION captiva_roster_credential(p_username text)
RETURNS TABLE (attribute text, value text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT r.attribute, r.value FROM radcheck AS r
    WHERE r.username = p_username AND r.managed_by = 'captiva'
      AND r.attribute IN ('Crypt-Password', 'Cleartext-Password')
      AND EXISTS (SELECT FROM captiva_user AS u WHERE u.username = p_username)
    ORDER BY r.attribute = 'Crypt-Password' DESC
    LIMIT 1
$$;

-- The student's credential while the roster's row is still the one it was set over (an
-- admin's reset in the roster wins at once); no row otherwise. Only captiva_radcheck asks.
DROP FUNCTION IF EXISTS captiva_student_credential_xlat(text);
CREATE OR REPLACE FUNCTION captiva_student_credential_current(p_username text)
RETURNS TABLE (attribute text, value text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    RETURN QUERY
    SELECT c.attribute, c.value
    FROM captiva_student_credential AS c
    JOIN radcheck AS r ON r.username = c.username AND r.managed_by = 'captiva'
                      AND r.attribute = c.attribute
    WHERE c.username = p_username
      AND c.roster_digest = captiva_roster_credential_digest(c.roster_salt, r.attribute, r.value)
    LIMIT 1;
END
$$;

-- The user's radcheck rows, with the student's current credential in place of the roster's
-- password rows, so the old password no longer logs in: the first rows of FreeRADIUS's
-- radcheck query (captiva_authorize_check, 41_authorize.sql), so a login pays no round trip
-- for it. Runs as FreeRADIUS's role, which reads
-- radcheck; only the credential is read as captiva_definer. plpgsql: plans kept per connection.
CREATE OR REPLACE FUNCTION captiva_radcheck(p_username text)
RETURNS SETOF captiva_radius_row
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    own record;
BEGIN
    SELECT * INTO own FROM captiva_student_credential_current(p_username);
    IF own.attribute IS NULL THEN
        RETURN QUERY SELECT r.id, r.username, r.attribute, r.value, r.op::text
                     FROM radcheck AS r WHERE r.username = p_username ORDER BY r.id;
    ELSE
        RETURN QUERY SELECT s.id, s.username, s.attribute, s.value, s.op FROM (
            SELECT r.id, r.username, r.attribute, r.value, r.op::text AS op
            FROM radcheck AS r
            WHERE r.username = p_username
              AND r.attribute NOT IN ('Crypt-Password', 'Cleartext-Password')
            UNION ALL
            SELECT min(r.id), p_username, own.attribute, own.value, ':='
            FROM radcheck AS r
            WHERE r.username = p_username AND r.managed_by = 'captiva'
              AND r.attribute = own.attribute) AS s
        ORDER BY s.id;
    END IF;
END
$$;

-- The reconcile, with the roster's password rows as they will be after the apply: a
-- credential set over the same row is kept; one whose roster row changed (an admin reset:
-- a new password or password_hash) is deleted and audited, as are those of users whose
-- row is gone from the roster's list. Returns both counts; in check mode the caller rolls
-- the transaction back.
DROP FUNCTION IF EXISTS captiva_student_credentials_roster(text[], text[], text[], text);
CREATE OR REPLACE FUNCTION captiva_student_credentials_roster(
    p_usernames text[], p_attributes text[], p_values text[], p_actor text
) RETURNS TABLE (kept integer, replaced integer)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    gone record;
BEGIN
    replaced := 0;
    FOR gone IN
        DELETE FROM captiva_student_credential AS c
        WHERE NOT EXISTS (
            SELECT FROM unnest(p_usernames, p_attributes, p_values) AS d (u, a, v)
            WHERE d.u = c.username AND d.a = c.attribute
              AND c.roster_digest = captiva_roster_credential_digest(c.roster_salt, d.a, d.v))
        RETURNING c.username, c.set_via
    LOOP
        replaced := replaced + 1;
        PERFORM captiva_audit_record(COALESCE(p_actor, 'roster'), 'password-roster-reset',
            gone.username, NULL, jsonb_build_object('student_password_set_via', gone.set_via));
    END LOOP;
    SELECT count(*)::integer INTO kept FROM captiva_student_credential;
    RETURN NEXT;
END
$$;

ALTER FUNCTION captiva_roster_credential_digest(bytea, text, text) OWNER TO captiva_definer;
ALTER FUNCTION captiva_roster_credential(text) OWNER TO captiva_definer;
ALTER FUNCTION captiva_student_credential_current(text) OWNER TO captiva_definer;
ALTER FUNCTION captiva_student_credentials_roster(text[], text[], text[], text)
    OWNER TO captiva_definer;
REVOKE ALL ON FUNCTION captiva_roster_credential_digest(bytea, text, text),
    captiva_roster_credential(text),
    captiva_student_credential_current(text),
    captiva_radcheck(text),
    captiva_student_credentials_roster(text[], text[], text[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION captiva_student_credential_current(text), captiva_radcheck(text)
    TO captiva_freeradius;
GRANT EXECUTE ON FUNCTION captiva_student_credentials_roster(text[], text[], text[], text)
    TO captiva_reconcile;
