-- The login buffer's replay (docs/freeradius.md, "Writes at login"): FreeRADIUS writes each
-- login's record to a detail file (policy.d/captiva_login_buffer) and its buffered-login
-- server calls captiva_login_replay once per record, retrying until the database takes it.
-- A record may come twice (a reader stopped mid-file replays from its last mark) and late
-- (written while there was no primary): the login's id makes the second time change
-- nothing, and the login's own time goes into the rows, not the replay's.
-- SECURITY DEFINER, owned by captiva_definer, pg_temp last in search_path (40_quota_login).

-- p_login_id: the login's id (hex); p_reply: Access-Accept or Access-Reject; p_called,
-- p_calling: Called-Station-Id, Calling-Station-Id ('' : none); p_at: when FreeRADIUS
-- answered, epoch seconds with microseconds; p_event, what else the login wrote:
-- 'first-use' when a voucher was accepted, on NAS p_nas, or 'guess-failed' when a code that does not exist was refused
-- while the guessing throttle could not count (no primary), from RADIUS client p_nas and
-- station p_calling: counted now, so the source is throttled once a primary is back; or
-- 'workstation-start' when a workstation code was accepted from reads: its session's clock
-- starts at the login's time (captiva_workstation_login_start).
-- Returns 'stored' or 'duplicate'.
-- (p_event was named p_voucher while a voucher's first use was its only value: a parameter
-- is renamed by dropping the function; FreeRADIUS passes them by position.)
DROP FUNCTION IF EXISTS captiva_login_replay(text, text, text, text, text, text, text, text);
CREATE OR REPLACE FUNCTION captiva_login_replay(
    p_login_id text, p_username text, p_reply text, p_called text, p_calling text,
    p_at text, p_event text, p_nas text
) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    at timestamptz := to_timestamp(p_at::double precision);
BEGIN
    IF p_login_id !~ '^[0-9a-f]{32}$' THEN
        -- A record without its id could not be replayed idempotently: refuse it loudly.
        RAISE EXCEPTION 'captiva_login_replay: % is not a login id', p_login_id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO radpostauth (username, reply, calledstationid, callingstationid, authdate,
                             loginid)
    VALUES (p_username, p_reply, NULLIF(p_called, ''), NULLIF(p_calling, ''), at, p_login_id)
    ON CONFLICT (loginid) DO NOTHING;
    IF NOT FOUND THEN
        RETURN 'duplicate';
    END IF;
    IF p_event = 'first-use' AND p_reply = 'Access-Accept' THEN
        PERFORM captiva_voucher_first_use_record(p_username, at, NULLIF(p_nas, '')::inet);
    ELSIF p_event = 'guess-failed' AND p_reply = 'Access-Reject' THEN
        -- Counted at the replay's time (later than the guess: it stays in the window
        -- longer). 86400, the longest window the role takes, prunes nothing still in any
        -- window; the next live count prunes with the configured one.
        PERFORM captiva_guess_failed(p_nas, p_calling, 86400);
    ELSIF p_event = 'workstation-start' AND p_reply = 'Access-Accept' THEN
        PERFORM captiva_workstation_login_start(p_username, at);
    END IF;
    RETURN 'stored';
END
$$;

ALTER FUNCTION captiva_login_replay(text, text, text, text, text, text, text, text)
    OWNER TO captiva_definer;
REVOKE ALL ON FUNCTION captiva_login_replay(text, text, text, text, text, text, text, text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION captiva_login_replay(text, text, text, text, text, text, text, text)
    TO captiva_freeradius;
