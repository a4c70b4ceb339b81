-- FreeRADIUS 3.2 PostgreSQL schema (mods-config/sql/main/postgresql/schema.sql), as a migration,
-- plus the indexes Captiva's queries need.
-- IF NOT EXISTS everywhere: a database created earlier from FreeRADIUS's stock schema.sql is
-- adopted as is (same table and index names), instead of failing on the first CREATE.

-- Accounting: one row per session, written by FreeRADIUS (start, interim updates, stop).
CREATE TABLE IF NOT EXISTS radacct (
    radacctid bigserial PRIMARY KEY,
    acctsessionid text NOT NULL,
    acctuniqueid text NOT NULL UNIQUE,
    username text,
    realm text,
    nasipaddress inet NOT NULL,
    nasportid text,
    nasporttype text,
    acctstarttime timestamp with time zone,
    acctupdatetime timestamp with time zone,
    acctstoptime timestamp with time zone,
    acctinterval bigint,
    acctsessiontime bigint,
    acctauthentic text,
    connectinfo_start text,
    connectinfo_stop text,
    acctinputoctets bigint,
    acctoutputoctets bigint,
    calledstationid text,
    callingstationid text,
    acctterminatecause text,
    servicetype text,
    framedprotocol text,
    framedipaddress inet,
    framedipv6address inet,
    framedipv6prefix inet,
    framedinterfaceid text,
    delegatedipv6prefix inet,
    class text
);
-- Stock indexes: update/stop/simultaneous-use queries, accounting-on/off bulk close, statistics.
CREATE INDEX IF NOT EXISTS radacct_active_session_idx ON radacct (acctuniqueid)
    WHERE acctstoptime IS NULL;
CREATE INDEX IF NOT EXISTS radacct_bulk_close ON radacct (nasipaddress, acctstarttime)
    WHERE acctstoptime IS NULL;
CREATE INDEX IF NOT EXISTS radacct_start_user_idx ON radacct (acctstarttime, username);
-- [sic] the stock name.
CREATE INDEX IF NOT EXISTS radacct_calss_idx ON radacct (class);
-- Captiva: a user's usage over a period (quota jobs, portal).
CREATE INDEX IF NOT EXISTS radacct_user_start_idx ON radacct (username, acctstarttime);
-- Captiva: a user's open sessions (portal, disconnects) and stale-session closing.
CREATE INDEX IF NOT EXISTS radacct_open_user_idx ON radacct (username)
    WHERE acctstoptime IS NULL;
CREATE INDEX IF NOT EXISTS radacct_open_update_idx ON radacct (acctupdatetime)
    WHERE acctstoptime IS NULL;
-- Captiva: retention deletes closed sessions by stop time.
CREATE INDEX IF NOT EXISTS radacct_stop_idx ON radacct (acctstoptime)
    WHERE acctstoptime IS NOT NULL;

-- Per-user check items (password, expiration).
CREATE TABLE IF NOT EXISTS radcheck (
    id serial PRIMARY KEY,
    username text NOT NULL DEFAULT '',
    attribute text NOT NULL DEFAULT '',
    op varchar(2) NOT NULL DEFAULT '==',
    value text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS radcheck_username ON radcheck (username, attribute);

-- Per-group check items (Simultaneous-Use, Auth-Type := Reject of the status groups).
CREATE TABLE IF NOT EXISTS radgroupcheck (
    id serial PRIMARY KEY,
    groupname text NOT NULL DEFAULT '',
    attribute text NOT NULL DEFAULT '',
    op varchar(2) NOT NULL DEFAULT '==',
    value text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS radgroupcheck_groupname ON radgroupcheck (groupname, attribute);

-- Per-group reply items (rate limit, timeouts).
CREATE TABLE IF NOT EXISTS radgroupreply (
    id serial PRIMARY KEY,
    groupname text NOT NULL DEFAULT '',
    attribute text NOT NULL DEFAULT '',
    op varchar(2) NOT NULL DEFAULT '=',
    value text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS radgroupreply_groupname ON radgroupreply (groupname, attribute);

-- Per-user reply items.
CREATE TABLE IF NOT EXISTS radreply (
    id serial PRIMARY KEY,
    username text NOT NULL DEFAULT '',
    attribute text NOT NULL DEFAULT '',
    op varchar(2) NOT NULL DEFAULT '=',
    value text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS radreply_username ON radreply (username, attribute);

-- Group membership.
CREATE TABLE IF NOT EXISTS radusergroup (
    id serial PRIMARY KEY,
    username text NOT NULL DEFAULT '',
    groupname text NOT NULL DEFAULT '',
    priority integer NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS radusergroup_username ON radusergroup (username);

-- Authentication log, written by FreeRADIUS's post-auth.
CREATE TABLE IF NOT EXISTS radpostauth (
    id bigserial PRIMARY KEY,
    username text NOT NULL,
    pass text,
    reply text,
    calledstationid text,
    callingstationid text,
    authdate timestamp with time zone NOT NULL DEFAULT now(),
    class text
);
CREATE INDEX IF NOT EXISTS radpostauth_username_idx ON radpostauth (username);
CREATE INDEX IF NOT EXISTS radpostauth_class_idx ON radpostauth (class);
-- Captiva: retention and "recent logins" by date.
CREATE INDEX IF NOT EXISTS radpostauth_authdate_idx ON radpostauth (authdate);

-- RADIUS clients (read by FreeRADIUS only with read_clients = yes).
CREATE TABLE IF NOT EXISTS nas (
    id serial PRIMARY KEY,
    nasname text NOT NULL,
    shortname text NOT NULL,
    type text NOT NULL DEFAULT 'other',
    ports integer,
    secret text NOT NULL,
    server text,
    community text,
    description text
);
CREATE INDEX IF NOT EXISTS nas_nasname ON nas (nasname);

-- Lightweight accounting-on/off strategy: when each NAS last rebooted.
CREATE TABLE IF NOT EXISTS nasreload (
    nasipaddress inet PRIMARY KEY,
    reloadtime timestamp with time zone NOT NULL
);
