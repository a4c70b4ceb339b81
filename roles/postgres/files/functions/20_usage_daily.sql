-- Usage attribution (tables and triggers: migration 0051): every INSERT/UPDATE of radacct adds
-- the growth of its octet totals to captiva_usage_daily, on the local days of the NAS's site,
-- spread over the days a delta spans. The guards keep replayed or reordered accounting from
-- counting twice (docs/quota.md, "Usage attribution").

-- Adds p_in/p_out bytes transferred between p_from and p_to to the local days of p_tz.
CREATE OR REPLACE FUNCTION captiva_usage_add(
    p_username text, p_tz text, p_from timestamptz, p_to timestamptz, p_in bigint, p_out bigint
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    last_day date;
    cur_day date;
    span numeric;
    part numeric;
    share_in bigint;
    share_out bigint;
    left_in bigint := GREATEST(COALESCE(p_in, 0), 0);
    left_out bigint := GREATEST(COALESCE(p_out, 0), 0);
BEGIN
    IF left_in = 0 AND left_out = 0 OR p_username IS NULL THEN
        RETURN;
    END IF;
    p_to := COALESCE(p_to, now());
    last_day := (p_to AT TIME ZONE p_tz)::date;
    -- Spread over at most 31 days: a NAS clock at 1970 must not write 20000 rows.
    IF p_from IS NOT NULL AND p_from < p_to THEN
        p_from := GREATEST(p_from, p_to - interval '31 days');
        cur_day := (p_from AT TIME ZONE p_tz)::date;
        span := extract(epoch FROM p_to - p_from);
        WHILE cur_day < last_day LOOP
            part := extract(epoch FROM captiva_local_midnight(cur_day + 1, p_tz)
                                       - GREATEST(p_from, captiva_local_midnight(cur_day, p_tz)));
            share_in := floor(left_in::numeric * part / span);
            share_out := floor(left_out::numeric * part / span);
            span := span - part;
            IF share_in > 0 OR share_out > 0 THEN
                INSERT INTO captiva_usage_daily AS u (username, day, bytes_in, bytes_out)
                VALUES (p_username, cur_day, share_in, share_out)
                ON CONFLICT ON CONSTRAINT captiva_usage_daily_pkey DO UPDATE
                    SET bytes_in = u.bytes_in + excluded.bytes_in,
                        bytes_out = u.bytes_out + excluded.bytes_out;
                left_in := left_in - share_in;
                left_out := left_out - share_out;
            END IF;
            cur_day := cur_day + 1;
        END LOOP;
    END IF;
    INSERT INTO captiva_usage_daily AS u (username, day, bytes_in, bytes_out)
    VALUES (p_username, last_day, left_in, left_out)
    ON CONFLICT ON CONSTRAINT captiva_usage_daily_pkey DO UPDATE
        SET bytes_in = u.bytes_in + excluded.bytes_in,
            bytes_out = u.bytes_out + excluded.bytes_out;
END
$$;

CREATE OR REPLACE FUNCTION captiva_radacct_before_update() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    delta_in bigint;
    delta_out bigint;
BEGIN
    IF NEW.acctinputoctets IS NULL OR NEW.acctinputoctets < OLD.acctinputoctets THEN
        NEW.acctinputoctets := OLD.acctinputoctets;
    END IF;
    IF NEW.acctoutputoctets IS NULL OR NEW.acctoutputoctets < OLD.acctoutputoctets THEN
        NEW.acctoutputoctets := OLD.acctoutputoctets;
    END IF;
    IF NEW.acctsessiontime IS NULL OR NEW.acctsessiontime < OLD.acctsessiontime THEN
        NEW.acctsessiontime := OLD.acctsessiontime;
    END IF;
    -- A stopped session keeps its stop, but for one the quota jobs closed as Stale-Session:
    -- its real Stop replaces their guess, and an interim newer than its last sign of life
    -- opens it again (it was alive after all: enforcement, Simultaneous-Use and the portal
    -- must see it). An older interim, replayed late, opens nothing.
    IF OLD.acctstoptime IS NOT NULL THEN
        IF OLD.acctterminatecause = 'Stale-Session' AND NEW.acctstoptime IS NULL
           AND NEW.acctupdatetime > OLD.acctupdatetime THEN
            NEW.acctterminatecause := NULL;
        ELSIF NEW.acctstoptime IS NULL OR OLD.acctterminatecause IS DISTINCT FROM 'Stale-Session'
        THEN
            NEW.acctstoptime := OLD.acctstoptime;
            NEW.acctterminatecause := OLD.acctterminatecause;
        END IF;
    END IF;
    IF NEW.acctupdatetime IS NULL OR NEW.acctupdatetime < OLD.acctupdatetime THEN
        NEW.acctupdatetime := OLD.acctupdatetime;
    END IF;

    delta_in := COALESCE(NEW.acctinputoctets, 0) - COALESCE(OLD.acctinputoctets, 0);
    delta_out := COALESCE(NEW.acctoutputoctets, 0) - COALESCE(OLD.acctoutputoctets, 0);
    IF delta_in > 0 OR delta_out > 0 THEN
        PERFORM captiva_usage_add(
            NEW.username, captiva_nas_timezone(NEW.nasipaddress),
            COALESCE(OLD.acctupdatetime, OLD.acctstarttime),
            COALESCE(NEW.acctupdatetime, NEW.acctstoptime, now()),
            delta_in, delta_out);
    END IF;
    RETURN NEW;
END
$$;

-- AFTER INSERT, not BEFORE: FreeRADIUS's start query is INSERT ... ON CONFLICT DO UPDATE, and
-- a BEFORE INSERT trigger would also count rows that end up as the conflict's UPDATE.
CREATE OR REPLACE FUNCTION captiva_radacct_after_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM captiva_usage_add(
        NEW.username, captiva_nas_timezone(NEW.nasipaddress),
        NEW.acctstarttime,
        COALESCE(NEW.acctupdatetime, NEW.acctstoptime, NEW.acctstarttime, now()),
        NEW.acctinputoctets, NEW.acctoutputoctets);
    RETURN NULL;
END
$$;
