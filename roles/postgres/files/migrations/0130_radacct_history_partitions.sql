-- radacct at national scale (docs/tuning.md "radacct at national scale", docs/postgres.md
-- "Accounting history"): a small live radacct whose interim updates are HOT, and a history
-- partitioned by month that retention drops a month at a time.

-- 1. The live table. An interim UPDATE is HOT (no index entry written) only when it changes
-- no indexed column and the new row version fits on the same page: room on each page
-- (fillfactor applies to pages written from now on; VACUUM FULL rewrites the old ones), and
-- no index on acctupdatetime, which every interim changes. close-stale and the report, its
-- readers, scan the open sessions through the other partial indexes on acctstoptime IS NULL.
ALTER TABLE radacct SET (fillfactor = 75);
DROP INDEX IF EXISTS radacct_open_update_idx;

-- 2. The history, partitioned by month of acctstoptime (UTC months). The stop time, not the
-- start: retention moves a session when it has been closed for radacct_days and purges the
-- history when it has been closed for history_days, so a month's partition holds exactly the
-- rows one retention decision covers, and every history row has one (only closed sessions are
-- moved). The primary key must include the partition key (PostgreSQL 15).
--
-- captiva_history owns the partitioned table and its partitions: a NOLOGIN role nobody is a
-- member of, reached only through captiva_radacct_history_prepare and _drop
-- (functions/55_radacct_history.sql, SECURITY DEFINER), so the jobs create and drop
-- partitions without owning a table or being allowed any other DDL.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'captiva_history') THEN
        CREATE ROLE captiva_history NOLOGIN NOINHERIT;
    END IF;
END
$roles$;
GRANT USAGE, CREATE ON SCHEMA public TO captiva_history;
-- The months of the sessions retention is about to move (captiva_radacct_history_prepare).
GRANT SELECT (acctstoptime) ON radacct TO captiva_history;

ALTER TABLE radacct_history RENAME TO radacct_history_unpartitioned;
ALTER INDEX IF EXISTS radacct_history_pkey RENAME TO radacct_history_unpartitioned_pkey;
ALTER INDEX IF EXISTS radacct_history_user_start_idx
    RENAME TO radacct_history_unpartitioned_user_start_idx;
ALTER INDEX IF EXISTS radacct_history_stop_idx RENAME TO radacct_history_unpartitioned_stop_idx;
ALTER INDEX IF EXISTS radacct_history_acctuniqueid_idx
    RENAME TO radacct_history_unpartitioned_acctuniqueid_idx;

CREATE TABLE radacct_history (
    LIKE radacct_history_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS
) PARTITION BY RANGE (acctstoptime);
ALTER TABLE radacct_history ADD PRIMARY KEY (radacctid, acctstoptime);
-- The portal's history and devices of one user, the vouchers' usage per code.
CREATE INDEX radacct_history_user_start_idx ON radacct_history (username, acctstarttime);
-- FreeRADIUS's late Stop (migration 0060): one probe per partition.
CREATE INDEX radacct_history_acctuniqueid_idx ON radacct_history (acctuniqueid);
-- No index on acctstoptime: the partitions are the stop-time index retention needs.
ALTER TABLE radacct_history OWNER TO captiva_history;

-- Rows whose month has no partition: the prepare function moves them into the month's
-- partition when it creates it, and _drop deletes those older than the history retention.
CREATE TABLE radacct_history_default PARTITION OF radacct_history DEFAULT;
ALTER TABLE radacct_history_default OWNER TO captiva_history;

-- The rows archived so far, each exactly once, in the partitions of their months. A history
-- row without a stop time cannot come from retention (it moves closed sessions only); one an
-- adopted database may hold gets its last sign of life, as close-stale would give it.
UPDATE radacct_history_unpartitioned
SET acctstoptime = COALESCE(acctupdatetime, acctstarttime, archived_at)
WHERE acctstoptime IS NULL;
DO $copy$
DECLARE
    month timestamp;
    name text;
    before bigint;
    after bigint;
BEGIN
    FOR month IN
        SELECT DISTINCT date_trunc('month', acctstoptime AT TIME ZONE 'UTC')
        FROM radacct_history_unpartitioned
    LOOP
        name := 'radacct_history_' || to_char(month, 'YYYY_MM');
        EXECUTE format('CREATE TABLE %I PARTITION OF radacct_history '
                       'FOR VALUES FROM (%L) TO (%L)', name,
                       to_char(month, 'YYYY-MM-DD') || ' 00:00:00+00',
                       to_char(month + interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00');
        EXECUTE format('ALTER TABLE %I OWNER TO captiva_history', name);
    END LOOP;
    INSERT INTO radacct_history SELECT * FROM radacct_history_unpartitioned;
    SELECT count(*) INTO before FROM radacct_history_unpartitioned;
    SELECT count(*) INTO after FROM radacct_history;
    IF before <> after THEN
        RAISE EXCEPTION 'radacct_history: % rows before, % after the copy', before, after;
    END IF;
END
$copy$;
DROP TABLE radacct_history_unpartitioned;

-- The grants of 0053 and 0060, but for DELETE: the jobs purge through _drop now.
GRANT SELECT, INSERT ON radacct_history TO captiva_jobs;
GRANT SELECT ON radacct_history TO captiva_portal;
GRANT SELECT (acctuniqueid, acctupdatetime, acctstoptime, acctinputoctets, acctoutputoctets,
              acctterminatecause)
    ON radacct_history TO captiva_freeradius;
-- A voucher's used time and data count its archived sessions too (functions/80_vouchers.sql).
GRANT SELECT (username, acctstarttime, acctstoptime, acctsessiontime, acctinputoctets,
              acctoutputoctets)
    ON radacct_history TO captiva_definer;
