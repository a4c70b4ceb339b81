-- Public workstations: issuing a session, its code and the daily limits
-- (captiva_workstation_issue).

-- A new session code: P and 15 decimal digits (49.8 bits) from PostgreSQL's cryptographic
-- generator (gen_random_uuid() draws its bits with pg_strong_random(), OpenSSL's RAND_bytes),
-- never from random(). 60 random bits of the UUID (not its version nibble), redrawn above the
-- largest multiple of 10^15, so every code is equally likely. Typed as P-48291-37502-46813
-- (policy.d/captiva_workstation and captiva_workstations.SESSION_CODE take that shape).
CREATE OR REPLACE FUNCTION captiva_workstation_new_code() RETURNS text
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    hex text;
    n bigint;
BEGIN
    LOOP
        hex := replace(gen_random_uuid()::text, '-', '');
        n := ('x0' || substr(hex, 1, 12) || substr(hex, 14, 3))::bit(64)::bigint;
        EXIT WHEN n < 1152 * 1000000000000000;  -- 2^60 = 1152.9... x 10^15
    END LOOP;
    RETURN 'P' || lpad((n % 1000000000000000)::text, 15, '0');
END
$$;

-- Issue a session on p_workstation for a roster user (p_username) or a registered guest
-- (p_guest); p_seconds NULL: the site's default. Refusals: forbidden, unknown-workstation,
-- maintenance, closed, unknown-member, no-consent, too-long, daily-sessions, daily-time,
-- in-use. The grant is capped at closing time (detail.capped = 'closing').
CREATE OR REPLACE FUNCTION captiva_workstation_issue(
    p_actor text, p_workstation text, p_username text, p_guest bigint,
    p_seconds integer DEFAULT NULL, p_at timestamptz DEFAULT now()
) RETURNS TABLE (session_id bigint, code text, reason text, detail jsonb)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    ws record;
    rules record;
    closing timestamptz;
    lang text;
    today_start timestamptz;
    n_sessions integer;
    n_seconds integer;
    granted integer;
    capped text;
    new_code text;
    new_id bigint;
    constraint_name text;
BEGIN
    SELECT w.*, captiva_workstation_in_maintenance(w.name) AS in_maintenance INTO ws
    FROM captiva_workstation AS w
    WHERE w.name = p_workstation;
    IF NOT FOUND THEN
        RETURN QUERY SELECT NULL::bigint, NULL::text, 'unknown-workstation',
            captiva_workstation_refuse(p_actor, 'issue', NULL, p_workstation, NULL,
                                       'unknown-workstation', NULL, p_at);
        RETURN;
    END IF;
    IF NOT captiva_workstation_allowed(p_actor, 'issue', ws.site, ws.name, NULL, p_at) THEN
        RETURN QUERY SELECT NULL::bigint, NULL::text, 'forbidden', '{}'::jsonb;
        RETURN;
    END IF;
    -- One member's sessions are issued one at a time, so the daily limits cannot race.
    PERFORM pg_advisory_xact_lock(hashtext('captiva_workstation_member'),
                                  hashtext(COALESCE(p_username, 'guest:' || p_guest)));
    SELECT r.* INTO rules FROM captiva_workstation_rules AS r WHERE r.site = ws.site;
    closing := captiva_workstation_closing(ws.site, p_at);
    IF ws.in_maintenance THEN
        reason := 'maintenance';
    ELSIF closing IS NULL THEN
        reason := 'closed';
    END IF;
    IF p_username IS NOT NULL THEN
        SELECT u.language INTO lang FROM captiva_user AS u WHERE u.username = p_username;
        IF NOT FOUND THEN
            reason := COALESCE(reason, 'unknown-member');
        END IF;
    ELSE
        SELECT g.language INTO lang FROM captiva_workstation_guest AS g
        WHERE g.id = p_guest AND g.erased_at IS NULL AND g.consent_revoked_at IS NULL;
        IF NOT FOUND THEN
            reason := COALESCE(reason, 'no-consent');
        END IF;
    END IF;
    granted := COALESCE(p_seconds, rules.default_seconds);
    IF reason IS NULL AND (granted <= 0 OR granted > rules.max_seconds) THEN
        reason := 'too-long';
        detail := jsonb_build_object('max_seconds', rules.max_seconds);
    END IF;
    IF reason IS NULL THEN
        today_start := date_trunc('day', p_at AT TIME ZONE (
            SELECT s.timezone FROM captiva_site AS s WHERE s.name = ws.site))
            AT TIME ZONE (SELECT s.timezone FROM captiva_site AS s WHERE s.name = ws.site);
        SELECT count(*), COALESCE(sum(CASE WHEN s.state = 'ended' THEN s.used_seconds
                                           ELSE s.granted_seconds END), 0)
        INTO n_sessions, n_seconds
        FROM captiva_workstation_session AS s
        WHERE s.site = ws.site AND s.issued_at >= today_start
          AND s.username IS NOT DISTINCT FROM p_username
          AND s.guest_id IS NOT DISTINCT FROM p_guest;
        IF rules.daily_sessions IS NOT NULL AND n_sessions >= rules.daily_sessions THEN
            reason := 'daily-sessions';
            detail := jsonb_build_object('limit', rules.daily_sessions);
        ELSIF rules.daily_seconds IS NOT NULL AND n_seconds + granted > rules.daily_seconds THEN
            reason := 'daily-time';
            detail := jsonb_build_object('limit_seconds', rules.daily_seconds,
                                         'left_seconds', GREATEST(rules.daily_seconds
                                                                  - n_seconds, 0));
        END IF;
    END IF;
    IF reason IS NOT NULL THEN
        RETURN QUERY SELECT NULL::bigint, NULL::text, reason, captiva_workstation_refuse(
            p_actor, 'issue', ws.site, ws.name, NULL, reason, detail, p_at);
        RETURN;
    END IF;
    IF p_at + make_interval(secs => granted) > closing THEN
        granted := floor(extract(epoch FROM closing - p_at))::integer;
        capped := 'closing';
    END IF;
    LOOP
        new_code := captiva_workstation_new_code();
        BEGIN
            INSERT INTO captiva_workstation_session
                (code, workstation, site, username, guest_id, language, state,
                 granted_seconds, issued_by, issued_at)
            VALUES (new_code, ws.name, ws.site, p_username, p_guest, COALESCE(lang, 'fr'),
                    'issued', granted, p_actor, p_at)
            RETURNING id INTO new_id;
            EXIT;
        EXCEPTION WHEN unique_violation THEN
            GET STACKED DIAGNOSTICS constraint_name = CONSTRAINT_NAME;
            IF constraint_name = 'captiva_workstation_session_live_idx' THEN
                RETURN QUERY SELECT NULL::bigint, NULL::text, 'in-use',
                    captiva_workstation_refuse(p_actor, 'issue', ws.site, ws.name, NULL,
                                               'in-use', NULL, p_at);
                RETURN;
            END IF;  -- a live code drawn twice: draw again
        END;
    END LOOP;
    IF p_guest IS NOT NULL THEN
        UPDATE captiva_workstation_guest SET last_used_at = p_at WHERE id = p_guest;
    END IF;
    detail := jsonb_build_object('granted_seconds', granted, 'capped', capped);
    PERFORM captiva_workstation_log(p_actor, 'issue', ws.site, ws.name, new_id, NULL,
        captiva_workstation_snapshot(new_id, p_at),
        detail || jsonb_build_object('member', COALESCE(p_username, 'guest:' || p_guest)), p_at);
    RETURN QUERY SELECT new_id, new_code, NULL::text, detail;
END
$$;

ALTER FUNCTION captiva_workstation_new_code() OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_issue(text, text, text, bigint, integer, timestamptz)
    OWNER TO captiva_definer;

REVOKE ALL ON FUNCTION captiva_workstation_new_code(),
    captiva_workstation_issue(text, text, text, bigint, integer, timestamptz)
    FROM PUBLIC;
-- The portal: the console issues sessions.
GRANT EXECUTE ON FUNCTION captiva_workstation_issue(text, text, text, bigint, integer, timestamptz)
    TO captiva_portal;
