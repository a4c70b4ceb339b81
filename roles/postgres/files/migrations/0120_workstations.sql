-- Public workstations (docs/workstations.md): the roster's PCs and each site's session rules
-- (reconciled by captiva_radius), and the runtime data of the console: sessions, guests,
-- maintenance set from the console, heartbeats of the kiosk page, the audit trail.
-- The portal writes only through the SECURITY DEFINER functions of 70_workstations.sql,
-- but for the audit, where it may INSERT (never UPDATE or DELETE).

CREATE TABLE captiva_workstation (
    name text PRIMARY KEY,
    site text NOT NULL REFERENCES captiva_site (name),
    -- upper case AA:BB:CC:DD:EE:FF, as RouterOS sends Calling-Station-Id
    mac text NOT NULL UNIQUE CHECK (mac ~ '^([0-9A-F]{2}:){5}[0-9A-F]{2}$'),
    -- text (compared as inet): the reconcile compares roster values as strings
    ip text NOT NULL UNIQUE CHECK (ip::inet IS NOT NULL),
    room text NOT NULL DEFAULT '',
    -- set in the roster; the console sets its own in captiva_workstation_maintenance
    maintenance boolean NOT NULL DEFAULT false
);
CREATE INDEX captiva_workstation_site_idx ON captiva_workstation (site);

CREATE TABLE captiva_workstation_rules (
    site text PRIMARY KEY REFERENCES captiva_site (name),
    default_seconds integer NOT NULL CHECK (default_seconds > 0),
    max_seconds integer NOT NULL CHECK (max_seconds >= default_seconds),
    -- per member and day (the site's timezone); NULL: no limit
    daily_sessions integer CHECK (daily_sessions > 0),
    daily_seconds integer CHECK (daily_seconds > 0),
    -- seconds before the end at which the kiosk warns, descending
    warnings integer[] NOT NULL DEFAULT '{300,120,60,30,10}',
    guest_retention_days integer NOT NULL CHECK (guest_retention_days > 0)
);

-- Opening hours: ISO weekday 1-7, minutes from local midnight; a missing day is closed.
CREATE TABLE captiva_workstation_hours (
    site text NOT NULL REFERENCES captiva_site (name),
    weekday smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    opens_minute integer NOT NULL CHECK (opens_minute BETWEEN 0 AND 1439),
    closes_minute integer NOT NULL CHECK (closes_minute BETWEEN 1 AND 1440),
    PRIMARY KEY (site, weekday),
    CHECK (closes_minute > opens_minute)
);

GRANT SELECT, INSERT, UPDATE, DELETE
    ON captiva_workstation, captiva_workstation_rules, captiva_workstation_hours
    TO captiva_reconcile;
GRANT SELECT ON captiva_workstation, captiva_workstation_rules, captiva_workstation_hours
    TO captiva_portal, captiva_jobs, captiva_definer;

-- Maintenance set from the console (the roster's flag is the other source: either one puts
-- the workstation in maintenance).
CREATE TABLE captiva_workstation_maintenance (
    workstation text PRIMARY KEY,
    set_by text NOT NULL,
    set_at timestamptz NOT NULL DEFAULT now()
);

-- Walk-in guests registered by an operator. Revoking consent or the end of the retention
-- period erases the personal data (full_name, id_type, id_number): erased_at is then set
-- and the row stays, anonymous, for the reports' counts.
CREATE TABLE captiva_workstation_guest (
    id bigserial PRIMARY KEY,
    site text NOT NULL,
    full_name text,
    id_type text,
    id_number text,
    language text NOT NULL DEFAULT 'fr' CHECK (language IN ('fr', 'en')),
    consent_on date,
    consent_revoked_at timestamptz,
    registered_by text NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NOT NULL DEFAULT now(),
    erased_at timestamptz,
    CHECK (erased_at IS NOT NULL OR (full_name IS NOT NULL AND id_number IS NOT NULL))
);

-- A session on a workstation. The clock runs from the first Access-Accept (running_since);
-- used_seconds holds the time of the runs before (suspend adds the run to it).
-- remaining = granted_seconds - used_seconds - (now - running_since).
CREATE TABLE captiva_workstation_session (
    id bigserial PRIMARY KEY,
    -- the RADIUS username and password: P + 8 digits
    code text NOT NULL CHECK (code ~ '^P[0-9]{8}$'),
    workstation text NOT NULL,
    site text NOT NULL,
    username text,
    guest_id bigint REFERENCES captiva_workstation_guest (id),
    language text NOT NULL DEFAULT 'fr',
    state text NOT NULL CHECK (state IN ('issued', 'running', 'suspended', 'ended')),
    granted_seconds integer NOT NULL CHECK (granted_seconds >= 0),
    used_seconds integer NOT NULL DEFAULT 0 CHECK (used_seconds >= 0),
    running_since timestamptz,
    -- when the router ends its session (the Session-Timeout of the last Access-Accept)
    router_until timestamptz,
    issued_by text NOT NULL,
    issued_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz,
    end_reason text,
    CHECK ((username IS NULL) <> (guest_id IS NULL)),
    CHECK ((state = 'running') = (running_since IS NOT NULL))
);
-- One live session per workstation and live codes unique: "already in use" cannot race.
CREATE UNIQUE INDEX captiva_workstation_session_live_idx
    ON captiva_workstation_session (workstation) WHERE state <> 'ended';
CREATE UNIQUE INDEX captiva_workstation_session_code_idx
    ON captiva_workstation_session (code) WHERE state <> 'ended';
CREATE INDEX captiva_workstation_session_member_idx
    ON captiva_workstation_session (site, username, guest_id, issued_at);
CREATE INDEX captiva_workstation_session_issued_idx
    ON captiva_workstation_session (issued_at);

-- The kiosk page's connection is the workstation's heartbeat.
CREATE TABLE captiva_workstation_heartbeat (
    workstation text PRIMARY KEY,
    seen_at timestamptz NOT NULL
);

-- Every operator action, refusal and automatic end: append-only.
CREATE TABLE captiva_workstation_audit (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    -- the staff member ('system' for automatic ends) and their role
    actor text NOT NULL,
    actor_role text NOT NULL,
    -- issue, add-time, suspend, resume, terminate, maintenance-on, maintenance-off,
    -- register-guest, revoke-consent, time-up, closing, refused
    action text NOT NULL,
    site text NOT NULL,
    workstation text,
    session_id bigint,
    before jsonb,
    after jsonb,
    detail jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX captiva_workstation_audit_site_at_idx ON captiva_workstation_audit (site, at);
CREATE INDEX captiva_workstation_audit_session_idx ON captiva_workstation_audit (session_id);

GRANT SELECT ON captiva_workstation_maintenance, captiva_workstation_session,
    captiva_workstation_heartbeat, captiva_workstation_audit TO captiva_portal, captiva_jobs;
GRANT SELECT (id, site, language, consent_on, consent_revoked_at, registered_at, erased_at,
              full_name)
    ON captiva_workstation_guest TO captiva_portal;
GRANT INSERT ON captiva_workstation_audit TO captiva_portal;
GRANT USAGE ON SEQUENCE captiva_workstation_audit_id_seq TO captiva_portal;
-- The jobs: retention (guests' erasure, old sessions and audit rows), reports.
GRANT SELECT, UPDATE ON captiva_workstation_guest TO captiva_jobs;
GRANT DELETE ON captiva_workstation_session, captiva_workstation_audit,
    captiva_workstation_heartbeat TO captiva_jobs;
-- The functions' owner.
GRANT SELECT, INSERT, UPDATE, DELETE ON captiva_workstation_maintenance,
    captiva_workstation_guest, captiva_workstation_session, captiva_workstation_heartbeat
    TO captiva_definer;
GRANT SELECT, INSERT ON captiva_workstation_audit TO captiva_definer;
GRANT USAGE ON SEQUENCE captiva_workstation_guest_id_seq, captiva_workstation_session_id_seq,
    captiva_workstation_audit_id_seq TO captiva_definer;
-- Who may act is read by the functions themselves, never taken from the caller.
GRANT SELECT ON captiva_staff TO captiva_definer;
