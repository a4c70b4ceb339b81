-- Student-set passwords and forgotten-password links (migration 0190; docs/portal.md, "For
-- students"). Owned by captiva_definer, search_path with pg_temp last (see 40_quota_login).
--
--   captiva_roster_credential_digest   THE rule "is this still the roster row it was set over"
--   captiva_student_password_storage   portal: what a new password is stored as (or NULL: none)
--   captiva_student_password_set       portal: store a student's new password (audited)
--   captiva_password_reset_issue       portal: a reset link for an account, if allowed (audited)
--   captiva_password_reset_redeem      portal: a link's new password (single use, audited)
--   captiva_radcheck                   freeradius: radcheck, the student's credential first
--   captiva_student_credential_current captiva_radcheck: the credential, if still current
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

-- What a new password of this student is stored as: 'Crypt-Password' (sha512-crypt) or
-- 'Cleartext-Password' (the roster stores cleartext for CHAP: the student's password is then
-- stored as it is, as the roster's is). NULL: not a roster user with a password of the
-- roster (vouchers, workstations, manual RADIUS users): no change on the portal.
CREATE OR REPLACE FUNCTION captiva_student_password_storage(p_username text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT attribute FROM captiva_roster_credential(p_username)
$$;

-- Open sessions of a user: one "Disconnect now" request each, as the console records them
-- (the enforce job sends the Disconnect-Requests). Returns how many.
CREATE OR REPLACE FUNCTION captiva_student_end_sessions(p_username text) RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    WITH asked AS (
        INSERT INTO captiva_console_disconnect (radacctid, username, requested_by)
        SELECT a.radacctid, a.username, a.username FROM radacct AS a
        WHERE a.username = p_username AND a.acctstoptime IS NULL
        RETURNING 1)
    SELECT count(*)::integer FROM asked
$$;

-- Store a credential over the roster's current row (internal: the portal calls the two
-- functions below). The value's kind must be the roster's: a hash where the roster hashes,
-- cleartext where CHAP needs it.
CREATE OR REPLACE FUNCTION captiva_student_credential_store(
    p_username text, p_attribute text, p_value text, p_via text
) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    roster record;
    salt bytea := uuid_send(gen_random_uuid());
BEGIN
    SELECT * INTO roster FROM captiva_roster_credential(p_username);
    IF roster.attribute IS NULL THEN
        RAISE EXCEPTION 'captiva_student_credential_store: % has no roster password', p_username
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_attribute IS DISTINCT FROM roster.attribute THEN
        RAISE EXCEPTION 'captiva_student_credential_store: % is stored as %, not %',
            p_username, roster.attribute, p_attribute USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_attribute = 'Crypt-Password' AND p_value !~ '^\$6\$[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{86}$'
       AND p_value !~ '^\$6\$rounds=[0-9]+\$[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{86}$' THEN
        RAISE EXCEPTION 'captiva_student_credential_store: not a sha512-crypt hash'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF length(p_value) = 0 OR length(p_value) > 253 THEN
        RAISE EXCEPTION 'captiva_student_credential_store: empty or too long'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO captiva_student_credential AS c (username, attribute, value, roster_salt,
                                                 roster_digest, set_at, set_via)
    VALUES (p_username, p_attribute, p_value, salt,
            captiva_roster_credential_digest(salt, roster.attribute, roster.value), now(), p_via)
    ON CONFLICT (username) DO UPDATE
        SET attribute = EXCLUDED.attribute, value = EXCLUDED.value,
            roster_salt = EXCLUDED.roster_salt, roster_digest = EXCLUDED.roster_digest,
            set_at = EXCLUDED.set_at, set_via = EXCLUDED.set_via;
    -- A new password ends every reset link still open.
    UPDATE captiva_password_reset SET used_at = now()
    WHERE username = p_username AND used_at IS NULL;
END
$$;

-- The portal, once RADIUS has accepted the student's current password: store the new one,
-- end their open sessions if they asked, audit. Returns the sessions asked to end.
DROP FUNCTION IF EXISTS captiva_student_password_set(text, text, text, boolean, text);
CREATE OR REPLACE FUNCTION captiva_student_password_set(
    p_username text, p_attribute text, p_value text, p_end_sessions boolean, p_client text
) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    ended integer := 0;
BEGIN
    PERFORM captiva_student_credential_store(p_username, p_attribute, p_value, 'change');
    IF p_end_sessions THEN
        ended := captiva_student_end_sessions(p_username);
    END IF;
    PERFORM captiva_audit_record(p_username, 'password-change', p_username, NULL,
        jsonb_build_object('stored_as', p_attribute, 'other_sessions_ended', p_end_sessions,
                           'router_sessions', ended, 'client', p_client));
    RETURN ended;
END
$$;

-- A forgotten-password link for an account, if one may be sent: the account exists, is
-- enabled, has a roster password and an e-mail address, and asked fewer than p_per_hour
-- links in the last hour. Returns where and how to write, or no row (the caller answers the
-- same either way). Only the token's sha256 is stored.
DROP FUNCTION IF EXISTS captiva_password_reset_issue(text, bytea, text, integer, integer);
CREATE OR REPLACE FUNCTION captiva_password_reset_issue(
    p_username text, p_token_hash bytea, p_client text, p_valid_minutes integer DEFAULT 30,
    p_per_hour integer DEFAULT 3
) RETURNS TABLE (username text, email text, language text, first_name text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    found record;
BEGIN
    SELECT u.username, u.email, u.language, u.first_name INTO found
    FROM captiva_user AS u
    WHERE lower(u.username) = lower(p_username) AND u.enabled
      AND COALESCE(u.email, '') <> ''
      AND EXISTS (SELECT FROM captiva_roster_credential(u.username));
    IF found.username IS NULL THEN
        RETURN;
    END IF;
    -- One account at a time: two requests cannot both pass the count.
    PERFORM pg_advisory_xact_lock(hashtext('captiva_password_reset:' || found.username));
    IF (SELECT count(*) FROM captiva_password_reset AS r
        WHERE r.username = found.username
          AND r.requested_at > now() - interval '1 hour') >= p_per_hour THEN
        RETURN;
    END IF;
    INSERT INTO captiva_password_reset (token_hash, username, requested_at, expires_at)
    VALUES (p_token_hash, found.username, now(),
            now() + make_interval(mins => LEAST(GREATEST(p_valid_minutes, 1), 30)));
    PERFORM captiva_audit_record(found.username, 'password-reset-request', found.username,
        NULL, jsonb_build_object('client', p_client));
    username := found.username;
    email := found.email;
    language := found.language;
    first_name := found.first_name;
    RETURN NEXT;
END
$$;

-- Whether a link is still good (the reset page shows its form, or says it is not).
CREATE OR REPLACE FUNCTION captiva_password_reset_valid(p_token_hash bytea) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT r.username FROM captiva_password_reset AS r
    WHERE r.token_hash = p_token_hash AND r.used_at IS NULL AND r.expires_at > now()
$$;

-- A link's new password: the link must be unused and unexpired; it is used up, every other
-- link of the account too, and the account's open sessions are ended (whoever knew the old
-- password is out). Returns the username, or NULL (the link is not good).
DROP FUNCTION IF EXISTS captiva_password_reset_redeem(bytea, text, text, text);
CREATE OR REPLACE FUNCTION captiva_password_reset_redeem(
    p_token_hash bytea, p_attribute text, p_value text, p_client text
) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    link record;
    ended integer;
BEGIN
    UPDATE captiva_password_reset AS r SET used_at = now()
    WHERE r.token_hash = p_token_hash AND r.used_at IS NULL AND r.expires_at > now()
    RETURNING r.id, r.username INTO link;
    IF link.username IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM captiva_student_credential_store(link.username, p_attribute, p_value,
                                             'reset-link');
    ended := captiva_student_end_sessions(link.username);
    PERFORM captiva_audit_record(link.username, 'password-reset', link.username, NULL,
        jsonb_build_object('stored_as', p_attribute, 'link', link.id,
                           'router_sessions', ended, 'client', p_client));
    RETURN link.username;
END
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

-- FreeRADIUS's radcheck query (authorize_check_query, mods-config/sql/main/postgresql/
-- captiva-queries.conf): the user's radcheck rows, with the student's current credential in
-- place of the roster's password rows, so the old password no longer logs in. In the query
-- sql sends anyway: a login pays no round trip for it. Runs as FreeRADIUS's role, which reads
-- radcheck; only the credential is read as captiva_definer. plpgsql: plans kept per connection.
CREATE OR REPLACE FUNCTION captiva_radcheck(p_username text)
RETURNS TABLE (id integer, username text, attribute text, value text, op text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
#variable_conflict use_column
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
ALTER FUNCTION captiva_student_password_storage(text) OWNER TO captiva_definer;
ALTER FUNCTION captiva_student_end_sessions(text) OWNER TO captiva_definer;
ALTER FUNCTION captiva_student_credential_store(text, text, text, text)
    OWNER TO captiva_definer;
ALTER FUNCTION captiva_student_password_set(text, text, text, boolean, text)
    OWNER TO captiva_definer;
ALTER FUNCTION captiva_password_reset_issue(text, bytea, text, integer, integer)
    OWNER TO captiva_definer;
ALTER FUNCTION captiva_password_reset_valid(bytea) OWNER TO captiva_definer;
ALTER FUNCTION captiva_password_reset_redeem(bytea, text, text, text) OWNER TO captiva_definer;
ALTER FUNCTION captiva_student_credential_current(text) OWNER TO captiva_definer;
ALTER FUNCTION captiva_student_credentials_roster(text[], text[], text[], text)
    OWNER TO captiva_definer;
REVOKE ALL ON FUNCTION captiva_roster_credential_digest(bytea, text, text),
    captiva_roster_credential(text),
    captiva_student_password_storage(text),
    captiva_student_end_sessions(text),
    captiva_student_credential_store(text, text, text, text),
    captiva_student_password_set(text, text, text, boolean, text),
    captiva_password_reset_issue(text, bytea, text, integer, integer),
    captiva_password_reset_valid(bytea),
    captiva_password_reset_redeem(bytea, text, text, text),
    captiva_student_credential_current(text),
    captiva_radcheck(text),
    captiva_student_credentials_roster(text[], text[], text[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION captiva_student_password_storage(text),
    captiva_student_password_set(text, text, text, boolean, text),
    captiva_password_reset_issue(text, bytea, text, integer, integer),
    captiva_password_reset_valid(bytea),
    captiva_password_reset_redeem(bytea, text, text, text) TO captiva_portal;
GRANT EXECUTE ON FUNCTION captiva_student_credential_current(text), captiva_radcheck(text)
    TO captiva_freeradius;
GRANT EXECUTE ON FUNCTION captiva_student_credentials_roster(text[], text[], text[], text)
    TO captiva_reconcile;
