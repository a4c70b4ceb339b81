-- The month partitions of radacct_history (migration 0130; docs/postgres.md, "Accounting
-- history"), for the retention job (captiva-quota retention): partitions are created before
-- rows are moved into them and dropped, a month at a time, when the history retention is over.
-- SECURITY DEFINER, owned by captiva_history (the owner of radacct_history and its partitions,
-- NOLOGIN, no member), pg_temp last: the jobs run them without any DDL right of their own.
-- Months are UTC months: partition radacct_history_YYYY_MM holds acctstoptime in
-- [YYYY-MM-01 00:00 UTC, the next month's first day); radacct_history_default what no
-- partition covers.

-- The partition of the month holding p_at, created when missing; rows of that month waiting
-- in the DEFAULT partition move into it first (a partition cannot be attached while the
-- default holds rows of its range), so the default empties as the months it holds get their
-- partitions. Returns the partition's name when it was created, NULL when a table of that
-- name already exists (the one place the name is made).
DROP FUNCTION IF EXISTS captiva_radacct_history_partition(timestamptz);  -- returned boolean
CREATE OR REPLACE FUNCTION captiva_radacct_history_partition(p_at timestamptz)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    month timestamp := date_trunc('month', p_at AT TIME ZONE 'UTC');
    name text := 'radacct_history_' || to_char(month, 'YYYY_MM');
    low timestamptz := month AT TIME ZONE 'UTC';
    high timestamptz := (month + interval '1 month') AT TIME ZONE 'UTC';
BEGIN
    IF to_regclass('public.' || quote_ident(name)) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('CREATE TABLE public.%I (LIKE radacct_history INCLUDING DEFAULTS '
                   'INCLUDING CONSTRAINTS)', name);
    EXECUTE format('WITH moved AS (DELETE FROM radacct_history_default '
                   'WHERE acctstoptime >= $1 AND acctstoptime < $2 RETURNING *) '
                   'INSERT INTO public.%I SELECT * FROM moved', name) USING low, high;
    EXECUTE format('ALTER TABLE radacct_history ATTACH PARTITION public.%I '
                   'FOR VALUES FROM (%L) TO (%L)', name,
                   to_char(month, 'YYYY-MM-DD') || ' 00:00:00+00',
                   to_char(month + interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00');
    RETURN name;
END
$$;

-- Before retention moves the sessions of radacct closed before p_cutoff: a partition for
-- every month those sessions stopped in, for every month rows wait in the DEFAULT partition
-- for, and for the month of p_at and the next one. Months are found by skipping from one to
-- the next (one probe of radacct_stop_idx per month, not a scan of the rows). Returns the
-- partitions created.
CREATE OR REPLACE FUNCTION captiva_radacct_history_prepare(
    p_cutoff timestamptz, p_at timestamptz DEFAULT now()
) RETURNS SETOF text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    found timestamptz;
    month timestamptz;
    created text;
BEGIN
    -- Wait at most this long for the locks (ATTACH takes radacct_history_default exclusively):
    -- a retention run waits, the accounting and the portal do not queue behind it for long.
    PERFORM set_config('lock_timeout', '10s', true);
    found := (SELECT min(a.acctstoptime) FROM radacct AS a
              WHERE a.acctstoptime IS NOT NULL AND a.acctstoptime < p_cutoff);
    WHILE found IS NOT NULL LOOP
        created := captiva_radacct_history_partition(found);
        IF created IS NOT NULL THEN
            RETURN NEXT created;
        END IF;
        month := (date_trunc('month', found AT TIME ZONE 'UTC') + interval '1 month')
                 AT TIME ZONE 'UTC';
        found := (SELECT min(a.acctstoptime) FROM radacct AS a
                  WHERE a.acctstoptime >= month AND a.acctstoptime < p_cutoff);
    END LOOP;
    -- Each creation moves its month out of the default: the next minimum is another month.
    found := (SELECT min(d.acctstoptime) FROM radacct_history_default AS d);
    WHILE found IS NOT NULL LOOP
        created := captiva_radacct_history_partition(found);
        IF created IS NULL THEN
            -- a table of that name that is not the month's partition (detached by hand)
            RAISE EXCEPTION 'radacct_history_default holds rows stopped in the month of %, '
                'but radacct_history_% exists and is not its partition: attach it or rename it',
                found, to_char(found AT TIME ZONE 'UTC', 'YYYY_MM');
        END IF;
        RETURN NEXT created;
        found := (SELECT min(d.acctstoptime) FROM radacct_history_default AS d);
    END LOOP;
    FOREACH found IN ARRAY ARRAY[p_at, p_at + interval '1 month'] LOOP
        created := captiva_radacct_history_partition(found);
        IF created IS NOT NULL THEN
            RETURN NEXT created;
        END IF;
    END LOOP;
END
$$;

-- The history retention, the rule: the partitions of radacct_history whose whole month ended
-- before p_cutoff (only radacct_history's own partitions, never the default), with the
-- planner's estimate of their rows (reltuples; -1 when never analysed). A month straddling
-- the cutoff stays until its end passes it: history is kept at least history_days, at most a
-- month longer. The retention job's dry run lists them; _drop drops them.
CREATE OR REPLACE FUNCTION captiva_radacct_history_expired(p_cutoff timestamptz)
RETURNS TABLE (partition text, rows bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT p.relname::text, p.estimate
    FROM (SELECT c.relname, c.reltuples::bigint AS estimate,
                 substring(pg_get_expr(c.relpartbound, c.oid)
                           FROM 'TO \(''([^'']+)''\)')::timestamptz AS high
          FROM pg_inherits AS i
          JOIN pg_class AS c ON c.oid = i.inhrelid
          WHERE i.inhparent = 'radacct_history'::regclass) AS p
    WHERE p.high <= p_cutoff
    ORDER BY p.high
$$;

-- Every expired partition is dropped (no row deleted one by one, no index entry, no vacuum
-- debt), and the rows of the DEFAULT partition stopped before p_cutoff are deleted. One row
-- per partition dropped, with its estimate, and one for the default partition with the
-- exact count deleted.
CREATE OR REPLACE FUNCTION captiva_radacct_history_drop(p_cutoff timestamptz)
RETURNS TABLE (partition text, rows bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    p record;
    deleted bigint;
BEGIN
    -- DROP of a partition locks radacct_history exclusively, briefly: never wait long for it.
    PERFORM set_config('lock_timeout', '10s', true);
    FOR p IN SELECT * FROM captiva_radacct_history_expired(p_cutoff) LOOP
        EXECUTE format('DROP TABLE public.%I', p.partition);
        partition := p.partition;
        rows := p.rows;
        RETURN NEXT;
    END LOOP;
    DELETE FROM radacct_history_default AS d WHERE d.acctstoptime < p_cutoff;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    partition := 'radacct_history_default';
    rows := deleted;
    RETURN NEXT;
END
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
