-- The admin console (docs/portal.md, "The helpdesk's console"): staff roles from the roster,
-- the audit trail of console actions, quota grants, disconnect requests, search indexes.

-- Staff of the portal, reconciled from the roster's captiva_staff. admin acts; operator and
-- viewer read (operators will act on their sites' public workstations). sites: empty = all.
CREATE TABLE captiva_staff (
    username text PRIMARY KEY,
    role text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    sites text[] NOT NULL DEFAULT '{}'
);
GRANT SELECT, INSERT, UPDATE, DELETE ON captiva_staff TO captiva_reconcile;
GRANT SELECT ON captiva_staff TO captiva_portal;

-- Every console action, append-only: the portal may insert and read, never update or delete;
-- the quota jobs' retention may delete old rows (and read them to choose).
CREATE TABLE captiva_audit (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    -- the staff member, and their role when they acted
    actor text NOT NULL,
    actor_role text NOT NULL,
    -- 'grant', 'reset', 'disconnect'
    action text NOT NULL,
    -- the student acted on
    username text NOT NULL,
    reason text,
    -- what was done: period, bytes, expiry, session ...
    detail jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX captiva_audit_username_at_idx ON captiva_audit (username, at);
CREATE INDEX captiva_audit_at_idx ON captiva_audit (at);
GRANT SELECT, INSERT ON captiva_audit TO captiva_portal;
GRANT USAGE ON SEQUENCE captiva_audit_id_seq TO captiva_portal;
GRANT SELECT, DELETE ON captiva_audit TO captiva_jobs;

-- Quota grants: runtime data, not roster. While starts_at <= t < expires_at, a grant adds
-- bytes to the user's quota of one period in the one usage definition (30_usage.sql,
-- captiva_granted_bytes): the login check, enforcement, alerts and the portal all see it.
-- kind 'reset' sets a period's counter back to zero: its bytes are what the period had used
-- when it was granted, and it expires when the period resets.
CREATE TABLE captiva_quota_grant (
    id bigserial PRIMARY KEY,
    username text NOT NULL,
    period text NOT NULL CHECK (period IN ('daily', 'weekly', 'monthly', 'total')),
    kind text NOT NULL CHECK (kind IN ('extra', 'reset')),
    bytes bigint NOT NULL CHECK (bytes >= 0),
    reason text NOT NULL CHECK (reason <> ''),
    granted_by text NOT NULL,
    starts_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    CHECK (expires_at > starts_at)
);
CREATE INDEX captiva_quota_grant_user_idx ON captiva_quota_grant (username, period, expires_at);
CREATE INDEX captiva_quota_grant_expires_idx ON captiva_quota_grant (expires_at);
GRANT SELECT, INSERT ON captiva_quota_grant TO captiva_portal;
GRANT USAGE ON SEQUENCE captiva_quota_grant_id_seq TO captiva_portal;
GRANT SELECT ON captiva_quota_grant TO captiva_jobs, captiva_definer, captiva_reconcile;
GRANT DELETE ON captiva_quota_grant TO captiva_jobs;

-- "Disconnect now" from the console. The portal host is no RADIUS client of the routers
-- (docs/threat-model.md): it records the request, and the enforce job on the RADIUS host
-- (captiva_sessions_to_disconnect, every minute) sends the Disconnect-Request from its own
-- address and records the NAS's answer in captiva_disconnect, which the console shows.
CREATE TABLE captiva_console_disconnect (
    id bigserial PRIMARY KEY,
    radacctid bigint NOT NULL,
    username text NOT NULL,
    requested_by text NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX captiva_console_disconnect_radacctid_idx
    ON captiva_console_disconnect (radacctid, requested_at);
GRANT SELECT, INSERT ON captiva_console_disconnect TO captiva_portal;
GRANT USAGE ON SEQUENCE captiva_console_disconnect_id_seq TO captiva_portal;
GRANT SELECT ON captiva_console_disconnect TO captiva_jobs, captiva_definer;
GRANT DELETE ON captiva_console_disconnect TO captiva_jobs;
-- The console shows the answer to its request.
GRANT SELECT ON captiva_disconnect TO captiva_portal;

-- Search as you type: substrings of username, name and email (trigrams, pg_trgm ships with
-- Debian's postgresql-15), prefixes of a MAC (Calling-Station-Id) and addresses in radacct.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX captiva_user_search_username_idx ON captiva_user
    USING gin (lower(username) gin_trgm_ops);
CREATE INDEX captiva_user_search_name_idx ON captiva_user
    USING gin (lower(COALESCE(first_name, '') || ' ' || COALESCE(last_name, '')) gin_trgm_ops);
CREATE INDEX captiva_user_search_email_idx ON captiva_user
    USING gin (lower(COALESCE(email, '')) gin_trgm_ops);
CREATE INDEX captiva_user_username_prefix_idx ON captiva_user (lower(username) text_pattern_ops);
CREATE INDEX radacct_callingstationid_prefix_idx ON radacct
    (upper(callingstationid) text_pattern_ops);
CREATE INDEX radacct_framedipaddress_idx ON radacct (framedipaddress);
-- The last failures of one user.
CREATE INDEX radpostauth_username_authdate_idx ON radpostauth (username, authdate);

-- "Why can't I connect?" names the Reply-Message of the user's status group, as FreeRADIUS
-- sends it; group rows hold no secret.
GRANT SELECT (id, groupname, attribute, value) ON radgroupreply TO captiva_portal;
