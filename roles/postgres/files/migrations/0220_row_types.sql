-- Two row shapes that several functions return, named once so that they cannot drift apart
-- (docs/postgres.md, "Row types"). The function files drop and recreate those functions with
-- these types (CREATE OR REPLACE cannot change a result type).

-- FreeRADIUS's row contract: the columns rlm_sql reads from its authorize queries
-- (mods-config/sql captiva-queries.conf: SELECT id, UserName, Attribute, Value, Op), returned
-- by captiva_authorize_check, captiva_authorize_reply (41_authorize.sql) and captiva_radcheck
-- (90_student_credentials.sql).
CREATE TYPE captiva_radius_row AS (
    id integer, username text, attribute text, value text, op text
);

-- The enforce job's row: an open session to end, and why (captiva-quota enforce), returned by
-- each feature's selection: captiva_sessions_to_disconnect (50_quota_jobs.sql),
-- captiva_workstation_sessions_to_disconnect (77_workstation_ends.sql) and
-- captiva_voucher_sessions_to_disconnect (82_voucher_ends.sql).
CREATE TYPE captiva_session_end AS (
    radacctid bigint, acctuniqueid text, acctsessionid text, username text,
    nasipaddress inet, framedipaddress inet, reason text, detail text
);
