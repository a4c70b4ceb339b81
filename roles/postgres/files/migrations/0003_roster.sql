-- Captiva's roster: the compiled YAML roster, written set-based by the reconcile in one
-- transaction, read by the portal and the quota jobs. NULL limits mean unlimited.
-- No foreign keys between user, promotion and profile: the roster validation guarantees the
-- references and the reconcile replaces the rows in any order within its transaction.

CREATE TABLE captiva_site (
    name text PRIMARY KEY,
    timezone text NOT NULL,
    -- ISO weekday the week starts on: 1 = Monday ... 7 = Sunday.
    week_start smallint NOT NULL CHECK (week_start BETWEEN 1 AND 7),
    -- Day of the month the monthly quota period starts on (28 at most: every month has it).
    month_start_day smallint NOT NULL CHECK (month_start_day BETWEEN 1 AND 28)
);

CREATE TABLE captiva_router (
    name text PRIMARY KEY,
    site text NOT NULL REFERENCES captiva_site (name),
    nasipaddress inet NOT NULL UNIQUE,
    coa_port integer NOT NULL DEFAULT 3799 CHECK (coa_port BETWEEN 1 AND 65535)
);
CREATE INDEX captiva_router_site_idx ON captiva_router (site);

CREATE TABLE captiva_profile (
    name text PRIMARY KEY,
    -- bits per second
    rate_upload bigint CHECK (rate_upload >= 0),
    rate_download bigint CHECK (rate_download >= 0),
    -- bytes (upload + download) per period
    quota_daily bigint CHECK (quota_daily >= 0),
    quota_weekly bigint CHECK (quota_weekly >= 0),
    quota_monthly bigint CHECK (quota_monthly >= 0),
    quota_total bigint CHECK (quota_total >= 0),
    -- seconds
    session_timeout integer CHECK (session_timeout >= 0),
    idle_timeout integer CHECK (idle_timeout >= 0),
    simultaneous_use integer CHECK (simultaneous_use >= 0),
    -- days an account stays valid after its activation
    validity_days integer CHECK (validity_days >= 0),
    -- alert when this percentage of a quota is used; alert this many days before expiry
    alert_quota_percent integer[] NOT NULL DEFAULT '{}',
    alert_expiry_days integer[] NOT NULL DEFAULT '{}'
);

CREATE TABLE captiva_promotion (
    name text PRIMARY KEY,
    profile text NULL,
    wifi_enabled boolean NOT NULL
);

CREATE TABLE captiva_user (
    username text PRIMARY KEY,
    first_name text,
    last_name text,
    email text,
    language text NOT NULL DEFAULT 'fr',
    promotion text NULL,
    -- the profile set on the user itself, if any
    own_profile text NULL,
    -- the effective profile (own, else the promotion's, else the default)
    profile text NULL,
    enabled boolean NOT NULL,
    status text NOT NULL CHECK (status IN ('active', 'disabled', 'wifi-off', 'expired')),
    expires_at timestamptz NULL,
    activated_on date NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- RADIUS matching is case-sensitive: two users differing only by case would be a trap.
CREATE UNIQUE INDEX captiva_user_lower_username_key ON captiva_user (lower(username));
CREATE INDEX captiva_user_promotion_idx ON captiva_user (promotion);
CREATE INDEX captiva_user_profile_idx ON captiva_user (profile);
