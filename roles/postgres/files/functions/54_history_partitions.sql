-- The month partitions of the history tables (docs/postgres.md, "Accounting history"): one
-- rule for radacct_history (migration 0130, partitioned by acctstoptime) and
-- radpostauth_history (migration 0180, by authdate). The table is named by a
-- captiva_history_table (migration 0230: one of those two, nothing else). The four functions
-- that take it are SECURITY DEFINER, owned by captiva_history (the owner of both tables and
-- their partitions, NOLOGIN, no member), pg_temp last; the jobs alone may run _prepare,
-- _expired and _drop: the retention job creates and drops partitions without any DDL right of
-- its own. The two helpers that take a name are owned by captiva_history too and may be run
-- by nobody else.
--
-- For a history table H: its partition key K (read from the catalog) is a timestamptz; months
-- are UTC months, partition H_YYYY_MM holds K in [YYYY-MM-01 00:00 UTC, the next month's first
-- day), H_default what no partition covers. Its rows come from the live table named H without
-- "_history", where K means the same (retention moves a row when K is older than its cutoff).

-- Before 0230 each table had its own four functions (55_radacct_history.sql,
-- 56_radpostauth_history.sql), and the four below took any table name.
DROP FUNCTION IF EXISTS captiva_radacct_history_partition(timestamptz),
    captiva_radacct_history_prepare(timestamptz, timestamptz),
    captiva_radacct_history_expired(timestamptz), captiva_radacct_history_drop(timestamptz),
    captiva_radpostauth_history_partition(timestamptz),
    captiva_radpostauth_history_prepare(timestamptz, timestamptz),
    captiva_radpostauth_history_expired(timestamptz),
    captiva_radpostauth_history_drop(timestamptz),
    captiva_history_partition(text, timestamptz),
    captiva_history_prepare(text, timestamptz, timestamptz),
    captiva_history_expired(text, timestamptz), captiva_history_drop(text, timestamptz);

-- The partition key of H (its one column).
CREATE OR REPLACE FUNCTION captiva_history_key(p_history text)
RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT a.attname::text
    FROM pg_partitioned_table AS pt
    JOIN pg_attribute AS a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
    WHERE pt.partrelid = to_regclass('public.' || quote_ident(p_history))
$$;

-- The name of the partition of H for the month holding p_at (the one place it is made).
CREATE OR REPLACE FUNCTION captiva_history_partition_name(p_history text, p_at timestamptz)
RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT p_history || '_' || to_char(p_at AT TIME ZONE 'UTC', 'YYYY_MM')
$$;

-- The partition of H for the month holding p_at, created when missing; rows of that month
-- waiting in H_default move into it first (a partition cannot be attached while the default
-- holds rows of its range), so the default empties as the months it holds get their
-- partitions. Returns the partition's name when it was created, NULL when a table of that name
-- already exists.
CREATE OR REPLACE FUNCTION captiva_history_partition(p_history captiva_history_table,
                                                     p_at timestamptz)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    key text := captiva_history_key(p_history);
    month timestamp := date_trunc('month', p_at AT TIME ZONE 'UTC');
    name text := captiva_history_partition_name(p_history, p_at);
    low timestamptz := month AT TIME ZONE 'UTC';
    high timestamptz := (month + interval '1 month') AT TIME ZONE 'UTC';
BEGIN
    IF key IS NULL THEN
        RAISE EXCEPTION '% is not a partitioned table', p_history;
    END IF;
    IF to_regclass('public.' || quote_ident(name)) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('CREATE TABLE public.%I (LIKE public.%I INCLUDING DEFAULTS '
                   'INCLUDING CONSTRAINTS)', name, p_history);
    EXECUTE format('WITH moved AS (DELETE FROM public.%I WHERE %I >= $1 AND %I < $2 '
                   'RETURNING *) INSERT INTO public.%I SELECT * FROM moved',
                   p_history || '_default', key, key, name) USING low, high;
    EXECUTE format('ALTER TABLE public.%I ATTACH PARTITION public.%I '
                   'FOR VALUES FROM (%L) TO (%L)', p_history, name,
                   to_char(month, 'YYYY-MM-DD') || ' 00:00:00+00',
                   to_char(month + interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00');
    RETURN name;
END
$$;

-- Before retention moves the rows of the live table whose key is before p_cutoff: a partition
-- of H for every month those rows fall in, for every month rows wait in H_default for, and for
-- the month of p_at and the next one. Months are found by skipping from one to the next (one
-- probe of the live table's index on the key per month, not a scan of the rows). Returns the
-- partitions created.
CREATE OR REPLACE FUNCTION captiva_history_prepare(
    p_history captiva_history_table, p_cutoff timestamptz, p_at timestamptz DEFAULT now()
) RETURNS SETOF text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    key text := captiva_history_key(p_history);
    live text := regexp_replace(p_history, '_history$', '');
    found timestamptz;
    month timestamptz;
    created text;
BEGIN
    -- Wait at most this long for the locks (ATTACH takes H_default exclusively): a retention
    -- run waits, the writers and readers of the history do not queue behind it for long.
    PERFORM set_config('lock_timeout', '10s', true);
    EXECUTE format('SELECT min(%1$I) FROM public.%2$I WHERE %1$I < $1', key, live)
        INTO found USING p_cutoff;
    WHILE found IS NOT NULL LOOP
        created := captiva_history_partition(p_history, found);
        IF created IS NOT NULL THEN
            RETURN NEXT created;
        END IF;
        month := (date_trunc('month', found AT TIME ZONE 'UTC') + interval '1 month')
                 AT TIME ZONE 'UTC';
        EXECUTE format('SELECT min(%1$I) FROM public.%2$I WHERE %1$I >= $1 AND %1$I < $2',
                       key, live)
            INTO found USING month, p_cutoff;
    END LOOP;
    -- Each creation moves its month out of the default: the next minimum is another month.
    EXECUTE format('SELECT min(%I) FROM public.%I', key, p_history || '_default') INTO found;
    WHILE found IS NOT NULL LOOP
        created := captiva_history_partition(p_history, found);
        IF created IS NULL THEN
            -- a table of that name that is not the month's partition (detached by hand)
            RAISE EXCEPTION '%_default holds rows of % in the month of %, but % exists and is '
                'not its partition: attach it or rename it', p_history, key, found,
                captiva_history_partition_name(p_history, found);
        END IF;
        RETURN NEXT created;
        EXECUTE format('SELECT min(%I) FROM public.%I', key, p_history || '_default')
            INTO found;
    END LOOP;
    FOREACH found IN ARRAY ARRAY[p_at, p_at + interval '1 month'] LOOP
        created := captiva_history_partition(p_history, found);
        IF created IS NOT NULL THEN
            RETURN NEXT created;
        END IF;
    END LOOP;
END
$$;

-- The history retention, the rule: the partitions of H whose whole month ended before
-- p_cutoff (H's own partitions, never the default), with the planner's estimate of their rows
-- (reltuples; -1 when never analysed). A month straddling the cutoff stays until its end
-- passes it: history is kept at least history_days, at most a month longer.
CREATE OR REPLACE FUNCTION captiva_history_expired(p_history captiva_history_table,
                                                   p_cutoff timestamptz)
RETURNS TABLE (partition text, rows bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT p.relname::text, p.estimate
    FROM (SELECT c.relname, c.reltuples::bigint AS estimate,
                 substring(pg_get_expr(c.relpartbound, c.oid)
                           FROM 'TO \(''([^'']+)''\)')::timestamptz AS high
          FROM pg_inherits AS i
          JOIN pg_class AS c ON c.oid = i.inhrelid
          WHERE i.inhparent = to_regclass('public.' || quote_ident(p_history))) AS p
    WHERE p.high <= p_cutoff
    ORDER BY p.high
$$;

-- Every expired partition of H is dropped (no row deleted one by one, no index entry, no
-- vacuum debt), and the rows of H_default before p_cutoff are deleted. One row per partition
-- dropped, with its estimate, and one for the default partition with the exact count deleted.
CREATE OR REPLACE FUNCTION captiva_history_drop(p_history captiva_history_table,
                                                p_cutoff timestamptz)
RETURNS TABLE (partition text, rows bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    p record;
    deleted bigint;
BEGIN
    -- DROP of a partition locks H exclusively, briefly: never wait long for it.
    PERFORM set_config('lock_timeout', '10s', true);
    FOR p IN SELECT * FROM captiva_history_expired(p_history, p_cutoff) LOOP
        EXECUTE format('DROP TABLE public.%I', p.partition);
        partition := p.partition;
        rows := p.rows;
        RETURN NEXT;
    END LOOP;
    EXECUTE format('DELETE FROM public.%I WHERE %I < $1', p_history || '_default',
                   captiva_history_key(p_history)) USING p_cutoff;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    partition := p_history || '_default';
    rows := deleted;
    RETURN NEXT;
END
$$;

ALTER FUNCTION captiva_history_key(text) OWNER TO captiva_history;
ALTER FUNCTION captiva_history_partition_name(text, timestamptz) OWNER TO captiva_history;
ALTER FUNCTION captiva_history_partition(captiva_history_table, timestamptz)
    OWNER TO captiva_history;
ALTER FUNCTION captiva_history_prepare(captiva_history_table, timestamptz, timestamptz)
    OWNER TO captiva_history;
ALTER FUNCTION captiva_history_expired(captiva_history_table, timestamptz)
    OWNER TO captiva_history;
ALTER FUNCTION captiva_history_drop(captiva_history_table, timestamptz) OWNER TO captiva_history;
REVOKE ALL ON FUNCTION captiva_history_key(text),
    captiva_history_partition_name(text, timestamptz),
    captiva_history_partition(captiva_history_table, timestamptz),
    captiva_history_prepare(captiva_history_table, timestamptz, timestamptz),
    captiva_history_expired(captiva_history_table, timestamptz),
    captiva_history_drop(captiva_history_table, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION captiva_history_prepare(captiva_history_table, timestamptz, timestamptz),
    captiva_history_expired(captiva_history_table, timestamptz),
    captiva_history_drop(captiva_history_table, timestamptz) TO captiva_jobs;
