-- Students help themselves (docs/portal.md, "For students"): a password a student sets on
-- the portal, and the single-use links that reset a forgotten one.
--
-- A student-set credential is preferred by FreeRADIUS over the roster's radcheck row
-- (policy.d/captiva_student_credential) while the roster's row is the one it was set over:
-- roster_digest is sha256(roster_salt || attribute || ':' || value) of that row, so an admin's
-- new `password` or `password_hash` in the roster (an admin reset) makes the student's
-- credential stale, and the reconcile deletes it (functions/90_student_credentials.sql).
-- value is a sha512-crypt hash (Crypt-Password), or the password itself (Cleartext-Password)
-- where the roster stores cleartext for CHAP (captiva_password_storage: cleartext).
-- No login role reads or writes these tables: only the SECURITY DEFINER functions do, and
-- only captiva_freeradius may call the one that returns a value.
CREATE TABLE captiva_student_credential (
    username text PRIMARY KEY REFERENCES captiva_user (username) ON DELETE CASCADE,
    attribute text NOT NULL CHECK (attribute IN ('Crypt-Password', 'Cleartext-Password')),
    value text NOT NULL,
    roster_salt bytea NOT NULL,
    roster_digest bytea NOT NULL,
    set_at timestamptz NOT NULL DEFAULT now(),
    -- 'change' (current password given) or 'reset-link' (a forgotten-password link)
    set_via text NOT NULL CHECK (set_via IN ('change', 'reset-link'))
);

-- Forgotten-password links: only the sha256 of the token is kept; single-use (used_at),
-- valid until expires_at; requested_at counts the requests per account.
CREATE TABLE captiva_password_reset (
    id bigserial PRIMARY KEY,
    token_hash bytea NOT NULL UNIQUE,
    username text NOT NULL REFERENCES captiva_user (username) ON DELETE CASCADE,
    requested_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX captiva_password_reset_username_idx
    ON captiva_password_reset (username, requested_at);

REVOKE ALL ON captiva_student_credential, captiva_password_reset FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON captiva_student_credential, captiva_password_reset
    TO captiva_definer;
GRANT USAGE ON SEQUENCE captiva_password_reset_id_seq TO captiva_definer;
-- What the functions compare a credential with: the roster's password row of the user
-- (never returned to a caller), and the open sessions a student may end ("Disconnect" through
-- the console's path: the enforce job sends the Disconnect-Request).
GRANT SELECT (username, attribute, value, managed_by) ON radcheck TO captiva_definer;
GRANT INSERT ON captiva_console_disconnect TO captiva_definer;
GRANT USAGE ON SEQUENCE captiva_console_disconnect_id_seq TO captiva_definer;
