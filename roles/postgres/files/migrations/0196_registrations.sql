-- Sign-up with approval (docs/portal.md, "Sign-up"; docs/onboarding.md, import-registrations):
-- a public request for an account, its e-mail address verified by a link, then approved or
-- rejected by an admin or an operator. Approval writes nothing into RADIUS: approved requests
-- become roster entries through `make import-registrations` (read as captiva_reconcile), then
-- review and `make apply`. The password is kept only as a sha512-crypt hash, which only the
-- reconcile role reads. No login role writes this table: the functions of
-- functions/92_registrations.sql do, each decision audited.
CREATE TABLE captiva_registration (
    id bigserial PRIMARY KEY,
    -- the registrar's student number: the username the account will have
    matricule text NOT NULL CHECK (matricule ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    first_name text NOT NULL CHECK (char_length(first_name) BETWEEN 1 AND 100),
    last_name text NOT NULL CHECK (char_length(last_name) BETWEEN 1 AND 100),
    email text NOT NULL CHECK (char_length(email) <= 254 AND email LIKE '%_@_%'),
    promotion text NOT NULL,
    language text NOT NULL CHECK (language IN ('fr', 'en')),
    password_hash text NOT NULL CHECK (password_hash LIKE '$6$%'),
    -- unverified: the e-mail link not followed yet; pending: waiting for staff; approved or
    -- rejected (with a reason) by decided_by. "Imported" is not stored: an approved request
    -- whose matricule is a roster user (captiva_user) is imported.
    status text NOT NULL DEFAULT 'unverified'
        CHECK (status IN ('unverified', 'pending', 'approved', 'rejected')),
    requested_at timestamptz NOT NULL DEFAULT now(),
    verified_at timestamptz,
    decided_at timestamptz,
    decided_by text,
    reason text CHECK (char_length(reason) <= 500),
    -- the client address (an IPv6 /64) the request came from: requests are counted per client
    client text NOT NULL,
    CHECK (status <> 'rejected' OR reason IS NOT NULL)
);
-- One live request per matricule (an unverified one does not hold the matricule: someone
-- typing another's number with their own address cannot lock its owner out).
CREATE UNIQUE INDEX captiva_registration_live_key
    ON captiva_registration (lower(matricule)) WHERE status IN ('pending', 'approved');
CREATE INDEX captiva_registration_status_idx ON captiva_registration (status, requested_at);
CREATE INDEX captiva_registration_client_idx ON captiva_registration (client, requested_at);

REVOKE ALL ON captiva_registration FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON captiva_registration TO captiva_definer;
GRANT USAGE ON SEQUENCE captiva_registration_id_seq TO captiva_definer;
-- A request names one of the roster's promotions.
GRANT SELECT ON captiva_promotion TO captiva_definer;
-- The console lists requests; never the password hash.
GRANT SELECT (id, matricule, first_name, last_name, email, promotion, language, status,
              requested_at, verified_at, decided_at, decided_by, reason)
    ON captiva_registration TO captiva_portal;
-- make import-registrations, from the controller: the approved requests, with their hash.
GRANT SELECT ON captiva_registration TO captiva_reconcile;
