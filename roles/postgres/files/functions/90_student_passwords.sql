-- Student-set passwords and forgotten-password links, the portal's side (migration 0190;
-- docs/portal.md, "For students"); the rule that keeps a password current is in
-- 90_student_credentials.sql. Owned by captiva_definer, search_path with pg_temp last (see
-- 40_quota_login).
--
--   captiva_student_password_storage   portal: what a new password is stored as (or NULL: none)
--   captiva_student_password_set       portal: store a student's new password (audited)
--   captiva_password_reset_issue       portal: a reset link for an account, if allowed (audited)
--   captiva_password_reset_valid       portal: whether a link is still good
--   captiva_password_reset_redeem      portal: a link's new password (single use, audited)

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
REVOKE ALL ON FUNCTION captiva_student_password_storage(text),
    captiva_student_end_sessions(text),
    captiva_student_credential_store(text, text, text, text),
    captiva_student_password_set(text, text, text, boolean, text),
    captiva_password_reset_issue(text, bytea, text, integer, integer),
    captiva_password_reset_valid(bytea),
    captiva_password_reset_redeem(bytea, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION captiva_student_password_storage(text),
    captiva_student_password_set(text, text, text, boolean, text),
    captiva_password_reset_issue(text, bytea, text, integer, integer),
    captiva_password_reset_valid(bytea),
    captiva_password_reset_redeem(bytea, text, text, text)
    TO captiva_portal;
