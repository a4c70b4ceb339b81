-- radpostauth at scale (issue 27; docs/postgres.md, "Accounting history"): radpostauth_history
-- partitioned by month of authdate (UTC months), as radacct_history is by month of its stop
-- time (0130, 0131), so that the history retention drops a month at a time instead of
-- deleting post-auth rows one by one. authdate, because retention moves a post-auth row when
-- it is radpostauth_days old and purges it when it is history_days old, both counted from it.
--
-- captiva_history (0130) owns the table and its partitions; the jobs create and drop them
-- through captiva_radpostauth_history_prepare and _drop (functions/56_radpostauth_history.sql,
-- SECURITY DEFINER). The months of the post-auth rows retention is about to move:
GRANT SELECT (authdate) ON radpostauth TO captiva_history;

ALTER TABLE radpostauth_history RENAME TO radpostauth_history_unpartitioned;
ALTER INDEX IF EXISTS radpostauth_history_pkey RENAME TO radpostauth_history_unpartitioned_pkey;
ALTER INDEX IF EXISTS radpostauth_history_authdate_idx
    RENAME TO radpostauth_history_unpartitioned_authdate_idx;

-- No primary key, as 0131 for radacct_history: pg_restore --clean could not drop a partition's
-- inherited one (docs/postgres.md, "Restore"), and nothing reads the history by id (it was the
-- purge's batch key, which the partitions replace).
CREATE TABLE radpostauth_history (
    LIKE radpostauth_history_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS
) PARTITION BY RANGE (authdate);
ALTER TABLE radpostauth_history ALTER COLUMN authdate SET NOT NULL;
-- No index: the partitions are the date index retention needs, and nothing reads the history
-- by anything else (a look-up by user or device scans the months it asks for, as it scanned
-- the whole table before). Each row moved writes its heap tuple and nothing more.
ALTER TABLE radpostauth_history OWNER TO captiva_history;

-- Rows whose month has no partition: the prepare function moves them into the month's
-- partition when it creates it, and _drop deletes those older than the history retention.
CREATE TABLE radpostauth_history_default PARTITION OF radpostauth_history DEFAULT;
ALTER TABLE radpostauth_history_default OWNER TO captiva_history;

-- The rows archived so far, each exactly once, in the partitions of their months. A row
-- without authdate cannot come from FreeRADIUS (NOT NULL DEFAULT now() in radpostauth); one an
-- adopted database may hold gets the time it was archived.
UPDATE radpostauth_history_unpartitioned SET authdate = archived_at WHERE authdate IS NULL;
DO $copy$
DECLARE
    month timestamp;
    name text;
    before bigint;
    after bigint;
BEGIN
    FOR month IN
        SELECT DISTINCT date_trunc('month', authdate AT TIME ZONE 'UTC')
        FROM radpostauth_history_unpartitioned
    LOOP
        name := 'radpostauth_history_' || to_char(month, 'YYYY_MM');
        EXECUTE format('CREATE TABLE %I PARTITION OF radpostauth_history '
                       'FOR VALUES FROM (%L) TO (%L)', name,
                       to_char(month, 'YYYY-MM-DD') || ' 00:00:00+00',
                       to_char(month + interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00');
        EXECUTE format('ALTER TABLE %I OWNER TO captiva_history', name);
    END LOOP;
    INSERT INTO radpostauth_history SELECT * FROM radpostauth_history_unpartitioned;
    SELECT count(*) INTO before FROM radpostauth_history_unpartitioned;
    SELECT count(*) INTO after FROM radpostauth_history;
    IF before <> after THEN
        RAISE EXCEPTION 'radpostauth_history: % rows before, % after the copy', before, after;
    END IF;
END
$copy$;

-- The privileges the roles had on the old table, table-wide and per column (0053, 0054: the
-- jobs read and insert every column but pass), carried over but for DELETE and UPDATE: no role
-- deletes history rows any more, the jobs purge through _drop.
DO $grants$
DECLARE
    g record;
BEGIN
    FOR g IN
        SELECT NULL::name AS col, a.grantee::regrole::text AS grantee, a.privilege_type
        FROM pg_catalog.pg_class AS c, aclexplode(c.relacl) AS a
        WHERE c.oid = 'radpostauth_history_unpartitioned'::regclass
          AND a.grantee NOT IN (0, c.relowner) AND a.privilege_type IN ('SELECT', 'INSERT')
        UNION ALL
        SELECT t.attname, a.grantee::regrole::text, a.privilege_type
        FROM pg_catalog.pg_attribute AS t, aclexplode(t.attacl) AS a
        WHERE t.attrelid = 'radpostauth_history_unpartitioned'::regclass AND t.attnum > 0
          AND NOT t.attisdropped AND a.grantee <> 0 AND a.privilege_type IN ('SELECT', 'INSERT')
    LOOP
        IF g.col IS NULL THEN
            EXECUTE format('GRANT %s ON radpostauth_history TO %s', g.privilege_type,
                           g.grantee);
        ELSE
            EXECUTE format('GRANT %s (%I) ON radpostauth_history TO %s', g.privilege_type,
                           g.col, g.grantee);
        END IF;
    END LOOP;
END
$grants$;
DROP TABLE radpostauth_history_unpartitioned;
