-- The login buffer (docs/freeradius.md, "Writes at login"): FreeRADIUS writes what a login
-- writes (its radpostauth row, a voucher's first use) to a detail file and replays it into
-- the database with captiva_login_replay (functions/93_login_replay.sql), so no login waits
-- for the primary, and the reads of a login go to any member (docs/ha.md, "What a replica
-- answers").

-- Each login has an id (128 random bits, drawn by FreeRADIUS): a record replayed twice (a
-- reader stopped mid-file) is stored once. NULL for the rows written before.
ALTER TABLE radpostauth ADD COLUMN loginid text;
CREATE UNIQUE INDEX radpostauth_loginid_idx ON radpostauth (loginid);

-- captiva_login_replay and captiva_voucher_first_use_record run as captiva_definer: the row,
-- and the earliest login of a voucher (a record may arrive after a later login's).
GRANT SELECT (loginid),
    INSERT (username, reply, calledstationid, callingstationid, authdate, loginid)
    ON radpostauth TO captiva_definer;
GRANT USAGE ON SEQUENCE radpostauth_id_seq TO captiva_definer;
GRANT UPDATE (first_used_at, nasipaddress) ON captiva_voucher_first_use TO captiva_definer;
-- Simultaneous-Use is counted inside the login check (captiva_login_check_xlat, as
-- captiva_definer): captiva_open_sessions reads nasreload.
GRANT SELECT ON nasreload TO captiva_definer;
