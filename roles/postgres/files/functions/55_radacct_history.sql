-- The month partitions of radacct_history (migration 0130; docs/postgres.md, "Accounting
-- history"), for the retention job (captiva-quota retention): partitions are created before
-- rows are moved into them and dropped, a month at a time, when the history retention is over.
-- SECURITY DEFINER, owned by captiva_history (the owner of radacct_history and its partitions,
-- NOLOGIN, no member), pg_temp last: the jobs run them without any DDL right of their own.
-- The rule is 54_history_partitions.sql's, for this table: partition radacct_history_YYYY_MM
-- holds acctstoptime in [YYYY-MM-01 00:00 UTC, the next month's first day);
-- radacct_history_default what no partition covers.

-- The partition of the month holding p_at, created when missing (rows of that month waiting in
-- the DEFAULT partition move into it first). Its name when created, NULL when it exists.
DROP FUNCTION IF EXISTS captiva_radacct_history_partition(timestamptz);  -- returned boolean
CREATE OR REPLACE FUNCTION captiva_radacct_history_partition(p_at timestamptz)
RETURNS text
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT captiva_history_partition('radacct_history', p_at)
$$;

-- Before retention moves the sessions of radacct closed before p_cutoff: a partition for
-- every month those sessions stopped in, for every month rows wait in the DEFAULT partition
-- for, and for the month of p_at and the next one. Returns the partitions created.
CREATE OR REPLACE FUNCTION captiva_radacct_history_prepare(
    p_cutoff timestamptz, p_at timestamptz DEFAULT now()
) RETURNS SETOF text
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT * FROM captiva_history_prepare('radacct_history', p_cutoff, p_at)
$$;

-- The partitions whose whole month ended before p_cutoff, with the planner's estimate of their
-- rows: the retention job's dry run lists them; _drop drops them.
CREATE OR REPLACE FUNCTION captiva_radacct_history_expired(p_cutoff timestamptz)
RETURNS TABLE (partition text, rows bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT * FROM captiva_history_expired('radacct_history', p_cutoff)
$$;

-- Every expired partition dropped, the rows of the DEFAULT partition stopped before p_cutoff
-- deleted: one row per partition dropped, one for the default with the count deleted.
CREATE OR REPLACE FUNCTION captiva_radacct_history_drop(p_cutoff timestamptz)
RETURNS TABLE (partition text, rows bigint)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT * FROM captiva_history_drop('radacct_history', p_cutoff)
$$;

ALTER FUNCTION captiva_radacct_history_partition(timestamptz) OWNER TO captiva_history;
ALTER FUNCTION captiva_radacct_history_prepare(timestamptz, timestamptz) OWNER TO captiva_history;
ALTER FUNCTION captiva_radacct_history_expired(timestamptz) OWNER TO captiva_history;
ALTER FUNCTION captiva_radacct_history_drop(timestamptz) OWNER TO captiva_history;
REVOKE ALL ON FUNCTION captiva_radacct_history_partition(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION captiva_radacct_history_prepare(timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION captiva_radacct_history_expired(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION captiva_radacct_history_drop(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION captiva_radacct_history_prepare(timestamptz, timestamptz)
    TO captiva_jobs;
GRANT EXECUTE ON FUNCTION captiva_radacct_history_expired(timestamptz) TO captiva_jobs;
GRANT EXECUTE ON FUNCTION captiva_radacct_history_drop(timestamptz) TO captiva_jobs;
