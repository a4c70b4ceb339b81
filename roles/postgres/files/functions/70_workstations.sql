-- Public workstations (docs/workstations.md): the console's actions, FreeRADIUS's login
-- decision (policy.d/captiva_workstation), the kiosk page, automatic ends, the guests'
-- erasure. SECURITY DEFINER, owned by captiva_definer, pg_temp last (see 40_quota_login).
--
-- The rules, in one place (here): who may act (captiva_workstation_may_act), the opening
-- hours (captiva_workstation_closing), the remaining time (captiva_workstation_remaining),
-- the daily limits (captiva_workstation_issue). Actions return a reason (NULL: done) and a
-- detail the portal turns into a message in the operator's language; every action and every
-- refusal is written to captiva_workstation_audit.

-- Seconds left of a session at p_at: granted minus the runs before minus the current run.
CREATE OR REPLACE FUNCTION captiva_workstation_remaining(
    p_granted integer, p_used integer, p_running_since timestamptz, p_at timestamptz
) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT GREATEST(0, p_granted - p_used - COALESCE(
        floor(extract(epoch FROM p_at - p_running_since))::integer, 0))
$$;

-- When the site closes, if it is open at p_at (NULL: closed now).
CREATE OR REPLACE FUNCTION captiva_workstation_closing(p_site text, p_at timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    tz text;
    local timestamp;
    minute integer;
    closes integer;
BEGIN
    SELECT s.timezone INTO tz FROM captiva_site AS s WHERE s.name = p_site;
    tz := COALESCE(tz, 'UTC');
    local := p_at AT TIME ZONE tz;
    minute := extract(hour FROM local)::integer * 60 + extract(minute FROM local)::integer;
    SELECT h.closes_minute INTO closes FROM captiva_workstation_hours AS h
    WHERE h.site = p_site AND h.weekday = extract(isodow FROM local)
      AND h.opens_minute <= minute AND minute < h.closes_minute;
    IF closes IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN (date_trunc('day', local) + make_interval(mins => closes)) AT TIME ZONE tz;
END
$$;

-- The time a session really has at p_at: its remaining time, capped at the site's closing
-- (0 while closed). The console's board, the kiosk page and the login decision all use it.
CREATE OR REPLACE FUNCTION captiva_workstation_time_left(
    p_site text, p_granted integer, p_used integer, p_running_since timestamptz,
    p_at timestamptz
) RETURNS integer LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT LEAST(captiva_workstation_remaining(p_granted, p_used, p_running_since, p_at),
                 COALESCE(floor(extract(epoch FROM captiva_workstation_closing(p_site, p_at)
                                       - p_at))::integer, 0))
$$;

-- A workstation is out of service when the roster says so or an operator said so.
CREATE OR REPLACE FUNCTION captiva_workstation_in_maintenance(p_workstation text)
RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT COALESCE((SELECT w.maintenance FROM captiva_workstation AS w
                     WHERE w.name = p_workstation), false)
        OR EXISTS (SELECT FROM captiva_workstation_maintenance AS m
                   WHERE m.workstation = p_workstation)
$$;

-- The staff member's role when they may act on p_site (admin: every site; operator: their
-- sites, none listed = all), else NULL. Viewers never act.
CREATE OR REPLACE FUNCTION captiva_workstation_may_act(p_actor text, p_site text)
RETURNS text LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT s.role FROM captiva_staff AS s
    WHERE s.username = p_actor AND (s.role = 'admin'
        OR (s.role = 'operator' AND (s.sites = '{}' OR p_site = ANY (s.sites))))
$$;

CREATE OR REPLACE FUNCTION captiva_workstation_log(
    p_actor text, p_role text, p_action text, p_site text, p_workstation text,
    p_session bigint, p_before jsonb, p_after jsonb, p_detail jsonb, p_at timestamptz
) RETURNS void LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp AS $$
    INSERT INTO captiva_workstation_audit
        (at, actor, actor_role, action, site, workstation, session_id, before, after, detail)
    VALUES (p_at, p_actor, COALESCE(p_role, 'none'), p_action, p_site, p_workstation,
            p_session, p_before, p_after, COALESCE(p_detail, '{}'))
$$;

-- A session as the audit shows it before and after an action.
CREATE OR REPLACE FUNCTION captiva_workstation_snapshot(p_id bigint, p_at timestamptz)
RETURNS jsonb LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT jsonb_build_object('state', s.state, 'granted', s.granted_seconds,
        'remaining', captiva_workstation_remaining(s.granted_seconds, s.used_seconds,
                                                   s.running_since, p_at))
    FROM captiva_workstation_session AS s WHERE s.id = p_id
$$;

-- A refusal: audited, and returned as (NULL session, reason, detail).
CREATE OR REPLACE FUNCTION captiva_workstation_refuse(
    p_actor text, p_role text, p_attempt text, p_site text, p_workstation text,
    p_session bigint, p_reason text, p_detail jsonb, p_at timestamptz
) RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    PERFORM captiva_workstation_log(p_actor, p_role, 'refused', COALESCE(p_site, ''),
        p_workstation, p_session, NULL, NULL,
        COALESCE(p_detail, '{}') || jsonb_build_object('attempt', p_attempt, 'reason', p_reason),
        p_at);
    RETURN COALESCE(p_detail, '{}');
END
$$;

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
    role text;
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
            captiva_workstation_refuse(p_actor, NULL, 'issue', NULL, p_workstation, NULL,
                                       'unknown-workstation', NULL, p_at);
        RETURN;
    END IF;
    role := captiva_workstation_may_act(p_actor, ws.site);
    IF role IS NULL THEN
        RETURN QUERY SELECT NULL::bigint, NULL::text, 'forbidden', captiva_workstation_refuse(
            p_actor, (SELECT s.role FROM captiva_staff AS s WHERE s.username = p_actor),
            'issue', ws.site, ws.name, NULL, 'forbidden', NULL, p_at);
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
            p_actor, role, 'issue', ws.site, ws.name, NULL, reason, detail, p_at);
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
                    captiva_workstation_refuse(p_actor, role, 'issue', ws.site, ws.name, NULL,
                                               'in-use', NULL, p_at);
                RETURN;
            END IF;  -- a live code drawn twice: draw again
        END;
    END LOOP;
    IF p_guest IS NOT NULL THEN
        UPDATE captiva_workstation_guest SET last_used_at = p_at WHERE id = p_guest;
    END IF;
    detail := jsonb_build_object('granted_seconds', granted, 'capped', capped);
    PERFORM captiva_workstation_log(p_actor, role, 'issue', ws.site, ws.name, new_id, NULL,
        captiva_workstation_snapshot(new_id, p_at),
        detail || jsonb_build_object('member', COALESCE(p_username, 'guest:' || p_guest)), p_at);
    RETURN QUERY SELECT new_id, new_code, NULL::text, detail;
END
$$;

-- Change a live session's time: p_mode 'add' (p_seconds may be negative) or 'set' (the new
-- remaining time). One UPDATE computes from the row it locks, so two operators adding at
-- once both count. The total is capped at the site's max session (detail.capped = 'max').
CREATE OR REPLACE FUNCTION captiva_workstation_add_time(
    p_actor text, p_session bigint, p_mode text, p_seconds integer,
    p_at timestamptz DEFAULT now()
) RETURNS TABLE (reason text, detail jsonb)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    s record;
    role text;
    before jsonb;
    wanted integer;
    result record;
BEGIN
    SELECT ws.*, r.max_seconds INTO s FROM captiva_workstation_session AS ws
    JOIN captiva_workstation_rules AS r ON r.site = ws.site WHERE ws.id = p_session;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown-session', '{}'::jsonb;
        RETURN;
    END IF;
    role := captiva_workstation_may_act(p_actor, s.site);
    IF role IS NULL OR p_mode NOT IN ('add', 'set') THEN
        RETURN QUERY SELECT 'forbidden', captiva_workstation_refuse(p_actor, NULL, 'add-time',
            s.site, s.workstation, p_session, 'forbidden', NULL, p_at);
        RETURN;
    END IF;
    before := captiva_workstation_snapshot(p_session, p_at);
    UPDATE captiva_workstation_session AS t SET granted_seconds = LEAST(s.max_seconds,
        GREATEST(
            -- never below what is already used: remaining 0 at the least
            t.used_seconds + COALESCE(floor(extract(epoch FROM p_at - t.running_since))::integer, 0),
            CASE WHEN p_mode = 'add' THEN t.granted_seconds + p_seconds
                 ELSE t.used_seconds + COALESCE(floor(extract(epoch FROM p_at - t.running_since))::integer, 0)
                      + p_seconds END))
    WHERE t.id = p_session AND t.state <> 'ended'
    RETURNING t.granted_seconds, t.used_seconds, t.running_since INTO result;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'ended', captiva_workstation_refuse(p_actor, role, 'add-time',
            s.site, s.workstation, p_session, 'ended', NULL, p_at);
        RETURN;
    END IF;
    wanted := CASE WHEN p_mode = 'add' THEN (before ->> 'remaining')::integer + p_seconds
                   ELSE p_seconds END;
    detail := jsonb_build_object('mode', p_mode, 'seconds', p_seconds,
        'remaining', captiva_workstation_remaining(result.granted_seconds, result.used_seconds,
                                                   result.running_since, p_at),
        'capped', CASE WHEN wanted > captiva_workstation_remaining(result.granted_seconds,
            result.used_seconds, result.running_since, p_at) THEN 'max' END);
    PERFORM captiva_workstation_log(p_actor, role, 'add-time', s.site, s.workstation,
        p_session, before, captiva_workstation_snapshot(p_session, p_at), detail, p_at);
    RETURN QUERY SELECT NULL::text, detail;
END
$$;

-- suspend (the clock stops, the network session is disconnected), resume (the code may log
-- in again for the time left), terminate (ended). Refusals: forbidden, ended, not-running
-- (suspend of a suspended session), not-suspended (resume), closed (resume out of hours).
CREATE OR REPLACE FUNCTION captiva_workstation_change(
    p_actor text, p_session bigint, p_action text, p_at timestamptz DEFAULT now()
) RETURNS TABLE (reason text, detail jsonb)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    s record;
    role text;
    before jsonb;
    why text;
BEGIN
    SELECT * INTO s FROM captiva_workstation_session AS t WHERE t.id = p_session FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown-session', '{}'::jsonb;
        RETURN;
    END IF;
    role := captiva_workstation_may_act(p_actor, s.site);
    IF role IS NULL OR p_action NOT IN ('suspend', 'resume', 'terminate') THEN
        why := 'forbidden';
    ELSIF s.state = 'ended' THEN
        why := 'ended';
    ELSIF p_action = 'suspend' AND s.state = 'suspended' THEN
        why := 'not-running';
    ELSIF p_action = 'resume' AND s.state <> 'suspended' THEN
        why := 'not-suspended';
    ELSIF p_action = 'resume' AND captiva_workstation_closing(s.site, p_at) IS NULL THEN
        why := 'closed';
    END IF;
    IF why IS NOT NULL THEN
        RETURN QUERY SELECT why, captiva_workstation_refuse(p_actor, role, p_action, s.site,
            s.workstation, p_session, why, NULL, p_at);
        RETURN;
    END IF;
    before := captiva_workstation_snapshot(p_session, p_at);
    UPDATE captiva_workstation_session AS t SET
        used_seconds = LEAST(t.granted_seconds, t.used_seconds + COALESCE(
            floor(extract(epoch FROM p_at - t.running_since))::integer, 0)),
        running_since = NULL,
        state = CASE p_action WHEN 'suspend' THEN 'suspended' WHEN 'resume' THEN 'issued'
                              ELSE 'ended' END,
        ended_at = CASE WHEN p_action = 'terminate' THEN p_at END,
        end_reason = CASE WHEN p_action = 'terminate' THEN 'terminated' END
    WHERE t.id = p_session;
    PERFORM captiva_workstation_log(p_actor, role, p_action, s.site, s.workstation, p_session,
        before, captiva_workstation_snapshot(p_session, p_at), NULL, p_at);
    RETURN QUERY SELECT NULL::text, '{}'::jsonb;
END
$$;

-- Maintenance on or off from the console. Refused while a session is live (in-use).
CREATE OR REPLACE FUNCTION captiva_workstation_set_maintenance(
    p_actor text, p_workstation text, p_on boolean, p_at timestamptz DEFAULT now()
) RETURNS TABLE (reason text, detail jsonb)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    ws record;
    role text;
BEGIN
    SELECT * INTO ws FROM captiva_workstation AS w WHERE w.name = p_workstation;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown-workstation', '{}'::jsonb;
        RETURN;
    END IF;
    role := captiva_workstation_may_act(p_actor, ws.site);
    IF role IS NULL THEN
        RETURN QUERY SELECT 'forbidden', captiva_workstation_refuse(p_actor, NULL,
            'maintenance', ws.site, ws.name, NULL, 'forbidden', NULL, p_at);
        RETURN;
    END IF;
    IF p_on AND EXISTS (SELECT FROM captiva_workstation_session AS s
                        WHERE s.workstation = ws.name AND s.state <> 'ended') THEN
        RETURN QUERY SELECT 'in-use', captiva_workstation_refuse(p_actor, role,
            'maintenance', ws.site, ws.name, NULL, 'in-use', NULL, p_at);
        RETURN;
    END IF;
    IF p_on THEN
        INSERT INTO captiva_workstation_maintenance (workstation, set_by, set_at)
        VALUES (ws.name, p_actor, p_at) ON CONFLICT (workstation) DO NOTHING;
    ELSE
        DELETE FROM captiva_workstation_maintenance AS m WHERE m.workstation = ws.name;
    END IF;
    PERFORM captiva_workstation_log(p_actor, role,
        CASE WHEN p_on THEN 'maintenance-on' ELSE 'maintenance-off' END, ws.site, ws.name,
        NULL, NULL, NULL, CASE WHEN ws.maintenance THEN '{"roster": true}'::jsonb END, p_at);
    RETURN QUERY SELECT NULL::text, '{}'::jsonb;
END
$$;

-- Register a walk-in guest: name, identity document, the day they consented.
CREATE OR REPLACE FUNCTION captiva_workstation_register_guest(
    p_actor text, p_site text, p_full_name text, p_id_type text, p_id_number text,
    p_consent_on date, p_language text DEFAULT 'fr', p_at timestamptz DEFAULT now()
) RETURNS TABLE (guest_id bigint, reason text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    role text;
    new_id bigint;
BEGIN
    role := captiva_workstation_may_act(p_actor, p_site);
    IF role IS NULL THEN
        PERFORM captiva_workstation_refuse(p_actor, NULL, 'register-guest', p_site, NULL,
                                           NULL, 'forbidden', NULL, p_at);
        RETURN QUERY SELECT NULL::bigint, 'forbidden';
        RETURN;
    END IF;
    IF p_consent_on IS NULL THEN
        RETURN QUERY SELECT NULL::bigint, 'no-consent';
        RETURN;
    END IF;
    IF COALESCE(btrim(p_full_name), '') = '' OR COALESCE(btrim(p_id_number), '') = '' THEN
        RETURN QUERY SELECT NULL::bigint, 'missing-identity';
        RETURN;
    END IF;
    INSERT INTO captiva_workstation_guest (site, full_name, id_type, id_number, language,
                                           consent_on, registered_by, registered_at,
                                           last_used_at)
    VALUES (p_site, btrim(p_full_name), btrim(p_id_type), btrim(p_id_number),
            CASE WHEN p_language = 'en' THEN 'en' ELSE 'fr' END, p_consent_on, p_actor, p_at,
            p_at)
    RETURNING id INTO new_id;
    -- The audit names the guest by number only: personal data stays in one erasable place.
    PERFORM captiva_workstation_log(p_actor, role, 'register-guest', p_site, NULL, NULL, NULL,
        NULL, jsonb_build_object('guest', new_id), p_at);
    RETURN QUERY SELECT new_id, NULL::text;
END
$$;

-- The guest's personal data, erased: at once on a revoked consent, or by the retention job.
CREATE OR REPLACE FUNCTION captiva_workstation_revoke_consent(
    p_actor text, p_guest bigint, p_at timestamptz DEFAULT now()
) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    g record;
    role text;
BEGIN
    SELECT * INTO g FROM captiva_workstation_guest AS t WHERE t.id = p_guest;
    IF NOT FOUND THEN
        RETURN 'unknown-guest';
    END IF;
    role := captiva_workstation_may_act(p_actor, g.site);
    IF role IS NULL THEN
        RETURN 'forbidden';
    END IF;
    UPDATE captiva_workstation_guest SET full_name = NULL, id_type = NULL, id_number = NULL,
        consent_revoked_at = p_at, erased_at = COALESCE(erased_at, p_at)
    WHERE id = p_guest;
    PERFORM captiva_workstation_log(p_actor, role, 'revoke-consent', g.site, NULL, NULL,
        NULL, NULL, jsonb_build_object('guest', p_guest), p_at);
    RETURN NULL;
END
$$;

-- Retention: guests unused for their site's guest_retention_days lose their personal data.
CREATE OR REPLACE FUNCTION captiva_workstation_erase_guests(p_at timestamptz DEFAULT now())
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    n integer;
BEGIN
    UPDATE captiva_workstation_guest AS g SET full_name = NULL, id_type = NULL,
        id_number = NULL, erased_at = p_at
    FROM captiva_workstation_rules AS r
    WHERE r.site = g.site AND g.erased_at IS NULL
      AND g.last_used_at < p_at - make_interval(days => r.guest_retention_days)
      AND NOT EXISTS (SELECT FROM captiva_workstation_session AS s
                      WHERE s.guest_id = g.id AND s.state <> 'ended');
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- Automatic ends: running sessions whose time is up, and live sessions at closing time.
-- Audited as actor 'system'. The enforce job then disconnects what is still online.
CREATE OR REPLACE FUNCTION captiva_workstation_sweep(p_at timestamptz DEFAULT now())
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    s record;
    n integer := 0;
    why text;
BEGIN
    FOR s IN
        SELECT t.id, t.site, t.workstation, t.state,
               captiva_workstation_remaining(t.granted_seconds, t.used_seconds,
                                             t.running_since, p_at) AS remaining
        FROM captiva_workstation_session AS t WHERE t.state <> 'ended'
        FOR UPDATE SKIP LOCKED
    LOOP
        why := CASE WHEN s.state = 'running' AND s.remaining <= 0 THEN 'time-up'
                    WHEN captiva_workstation_closing(s.site, p_at) IS NULL THEN 'closing' END;
        CONTINUE WHEN why IS NULL;
        PERFORM captiva_workstation_log('system', 'system', why, s.site, s.workstation, s.id,
            captiva_workstation_snapshot(s.id, p_at), NULL, NULL, p_at);
        UPDATE captiva_workstation_session AS t SET
            used_seconds = LEAST(t.granted_seconds, t.used_seconds + COALESCE(
                floor(extract(epoch FROM p_at - t.running_since))::integer, 0)),
            running_since = NULL, state = 'ended', ended_at = p_at, end_reason = why
        WHERE t.id = s.id;
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

-- Every workstation of p_site for the console: status maintenance | issued | running |
-- suspended | free, online (a kiosk heartbeat in the last p_offline_after seconds).
-- needs_login: the router must be given the session again (a fresh or resumed session,
-- or a router timeout more than 5 s away from the session's end after a time change, once
-- the router's session is over or a CoA-Request for that change failed): the kiosk page logs
-- the code in through the hotspot (docs/workstations.md, "Add time").
DROP FUNCTION IF EXISTS captiva_workstation_board(text, timestamptz, integer);
CREATE OR REPLACE FUNCTION captiva_workstation_board(
    p_site text, p_at timestamptz DEFAULT now(), p_offline_after integer DEFAULT 30
) RETURNS TABLE (
    name text, room text, status text, online boolean, session_id bigint, code text,
    member text, remaining integer, closing_at timestamptz, language text,
    needs_login boolean
) LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT w.name, w.room,
           CASE WHEN s.id IS NOT NULL THEN s.state
                WHEN captiva_workstation_in_maintenance(w.name) THEN 'maintenance'
                ELSE 'free' END,
           COALESCE(h.seen_at > p_at - make_interval(secs => p_offline_after), false),
           s.id, s.code,
           COALESCE(NULLIF(btrim(COALESCE(u.first_name, '') || ' ' || COALESCE(u.last_name, '')), '')
                    || ' (' || s.username || ')', s.username,
                    COALESCE(g.full_name, 'guest') || ' #' || s.guest_id),
           t.time_left,
           captiva_workstation_closing(w.site, p_at), s.language,
           s.state = 'issued' OR (s.state = 'running' AND abs(extract(epoch FROM s.router_until
               - p_at) - t.time_left) > 5 AND (
                   -- more time: the enforce job's CoA gives it to the live router session
                   s.router_until < p_at + make_interval(secs => t.time_left)
                       AND s.router_coa_failed_granted IS DISTINCT FROM s.granted_seconds
                       AND EXISTS (SELECT FROM radacct AS a WHERE a.username = s.code
                                   AND a.acctstoptime IS NULL
                                   AND a.acctstarttime >= s.issued_at - interval '1 minute')
               ) IS NOT TRUE)
    FROM captiva_workstation AS w
    LEFT JOIN captiva_workstation_heartbeat AS h ON h.workstation = w.name
    LEFT JOIN captiva_workstation_session AS s ON s.workstation = w.name AND s.state <> 'ended'
    LEFT JOIN captiva_user AS u ON u.username = s.username
    LEFT JOIN captiva_workstation_guest AS g ON g.id = s.guest_id
    CROSS JOIN LATERAL (SELECT CASE WHEN s.id IS NOT NULL THEN captiva_workstation_time_left(
        w.site, s.granted_seconds, s.used_seconds, s.running_since, p_at) END AS time_left) AS t
    WHERE w.site = p_site
    ORDER BY w.name
$$;

-- The kiosk page of the workstation at p_ip: records the heartbeat and returns its session
-- (no session: state 'free' or 'maintenance'; a session ended less than 10 minutes ago:
-- 'ended' and its end_reason). No row: the address is no workstation.
DROP FUNCTION IF EXISTS captiva_workstation_kiosk(inet, timestamptz);
CREATE OR REPLACE FUNCTION captiva_workstation_kiosk(p_ip inet, p_at timestamptz DEFAULT now())
RETURNS TABLE (
    workstation text, site text, state text, session_id bigint, remaining integer,
    granted integer, running boolean, language text, end_reason text, warnings integer[],
    code text, needs_login boolean
) LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    w record;
BEGIN
    SELECT t.name, t.site, captiva_workstation_in_maintenance(t.name) AS maint INTO w
    FROM captiva_workstation AS t
    WHERE t.ip::inet = p_ip;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    INSERT INTO captiva_workstation_heartbeat AS h (workstation, seen_at) VALUES (w.name, p_at)
    ON CONFLICT ON CONSTRAINT captiva_workstation_heartbeat_pkey
    DO UPDATE SET seen_at = excluded.seen_at
    WHERE h.seen_at < excluded.seen_at;
    RETURN QUERY
    SELECT w.name, w.site, COALESCE(s.state, CASE WHEN w.maint THEN 'maintenance' ELSE 'free'
                                            END),
           s.id,
           CASE WHEN s.state = 'ended' THEN 0 WHEN s.id IS NOT NULL THEN
               captiva_workstation_time_left(w.site, s.granted_seconds, s.used_seconds,
                                             s.running_since, p_at) END,
           s.granted_seconds, s.state = 'running', s.language, s.end_reason,
           (SELECT r.warnings FROM captiva_workstation_rules AS r WHERE r.site = w.site),
           CASE WHEN s.state <> 'ended' THEN s.code END,
           (SELECT b.needs_login FROM captiva_workstation_board(w.site, p_at) AS b
            WHERE b.name = w.name)
    FROM (SELECT 1) AS one
    LEFT JOIN LATERAL (
        SELECT * FROM captiva_workstation_session AS t
        WHERE t.workstation = w.name
          AND (t.state <> 'ended' OR t.ended_at > p_at - interval '10 minutes')
        ORDER BY t.state = 'ended', t.id DESC LIMIT 1) AS s ON true;
END
$$;

-- Whether p_code is a live workstation code (authorize then gives it its password).
CREATE OR REPLACE FUNCTION captiva_workstation_known(p_code text) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    RETURN CASE WHEN EXISTS (SELECT FROM captiva_workstation_session AS s
                             WHERE s.code = p_code AND s.state <> 'ended')
                THEN 'yes' ELSE 'no' END;
END
$$;

-- The login decision: 'none' (not a live workstation code), 'reject|<FR / EN>' or
-- 'accept|<Session-Timeout>'. Only from the workstation's MAC, never in maintenance, out of
-- hours, suspended or with no time left; the clock starts at the first accept; the timeout
-- is the time left, capped at closing.
CREATE OR REPLACE FUNCTION captiva_workstation_login_xlat(
    p_code text, p_calling_station text DEFAULT '', p_at timestamptz DEFAULT now()
) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    s record;
    closing timestamptz;
    left_seconds integer;
    fr text;
    en text;
BEGIN
    SELECT t.*, w.mac, captiva_workstation_in_maintenance(t.workstation) AS maint INTO s
    FROM captiva_workstation_session AS t
    JOIN captiva_workstation AS w ON w.name = t.workstation
    WHERE t.code = p_code AND t.state <> 'ended'
    FOR UPDATE OF t;
    IF NOT FOUND THEN
        RETURN 'none';
    END IF;
    closing := captiva_workstation_closing(s.site, p_at);
    left_seconds := captiva_workstation_remaining(s.granted_seconds, s.used_seconds,
                                                  s.running_since, p_at);
    IF upper(replace(COALESCE(p_calling_station, ''), '-', ':')) <> s.mac THEN
        -- Whoever types the code elsewhere learns nothing about where it works.
        fr := 'Code valable uniquement sur son poste';
        en := 'Code valid only on its own workstation';
    ELSIF s.maint THEN
        fr := 'Poste en maintenance';
        en := 'Workstation under maintenance';
    ELSIF closing IS NULL THEN
        fr := 'Salle fermée';
        en := 'Room closed';
    ELSIF s.state = 'suspended' THEN
        fr := 'Session suspendue : voyez l''accueil';
        en := 'Session suspended: see the desk';
    ELSIF left_seconds <= 0 THEN
        fr := 'Temps écoulé';
        en := 'Time is up';
    END IF;
    IF fr IS NOT NULL THEN
        RETURN 'reject|' || CASE WHEN s.language = 'en' THEN en || ' / ' || fr
                                 ELSE fr || ' / ' || en END;
    END IF;
    left_seconds := captiva_workstation_time_left(s.site, s.granted_seconds, s.used_seconds,
                                                  s.running_since, p_at);
    UPDATE captiva_workstation_session AS t SET
        state = 'running', running_since = COALESCE(t.running_since, p_at),
        router_until = p_at + make_interval(secs => left_seconds)
    WHERE t.id = s.id;
    RETURN 'accept|' || GREATEST(left_seconds, 1);
END
$$;

-- Open sessions of workstation codes that must end now, in the columns of
-- captiva_sessions_to_disconnect (the enforce job sends the Disconnect-Request and records
-- the ACK): the session is ended or suspended, or its time was cut below what the router
-- was given (router_until later than the new end; 5 s of slack).
CREATE OR REPLACE FUNCTION captiva_workstation_sessions_to_disconnect(
    p_at timestamptz DEFAULT now()
) RETURNS TABLE (
    radacctid bigint, acctuniqueid text, acctsessionid text, username text,
    nasipaddress inet, framedipaddress inet, reason text, detail text
) LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT a.radacctid, a.acctuniqueid, a.acctsessionid, a.username, a.nasipaddress,
           a.framedipaddress, 'workstation-' || x.why, s.workstation
    FROM radacct AS a
    JOIN LATERAL (
        SELECT t.* FROM captiva_workstation_session AS t
        WHERE t.code = a.username AND t.issued_at <= a.acctstarttime + interval '1 minute'
        ORDER BY t.id DESC LIMIT 1) AS s ON true
    CROSS JOIN LATERAL (SELECT CASE
        WHEN s.state = 'ended' THEN COALESCE(s.end_reason, 'ended')
        WHEN s.state IN ('suspended', 'issued') THEN 'suspended'
        WHEN s.router_until > p_at + make_interval(secs => captiva_workstation_remaining(
                 s.granted_seconds, s.used_seconds, s.running_since, p_at) + 5)
            THEN 'time-cut' END AS why) AS x
    WHERE a.acctstoptime IS NULL AND x.why IS NOT NULL
    ORDER BY a.nasipaddress, a.radacctid
$$;

-- Open sessions of running workstation codes whose router ends them before their time
-- (time was added): the enforce job sends each a CoA-Request with the new Session-Timeout
-- (the RADIUS page of the RouterOS manual lists Session-Timeout among the attributes a CoA
-- changes). RouterOS documents the hotspot's session timeout as an uptime limit, so the new
-- value is the router session's uptime (from its accounting start) plus the time left. A
-- grant whose CoA failed (router_coa_failed_granted) is not tried again: the kiosk logs in.
CREATE OR REPLACE FUNCTION captiva_workstation_sessions_to_extend(
    p_at timestamptz DEFAULT now()
) RETURNS TABLE (
    radacctid bigint, acctsessionid text, username text, nasipaddress inet,
    framedipaddress inet, session_id bigint, workstation text, granted integer,
    session_timeout integer, router_until timestamptz
) LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT a.radacctid, a.acctsessionid, a.username, a.nasipaddress, a.framedipaddress, s.id,
           s.workstation, s.granted_seconds,
           GREATEST(0, ceil(extract(epoch FROM p_at - a.acctstarttime)))::integer
               + t.time_left,
           p_at + make_interval(secs => t.time_left)
    FROM radacct AS a
    JOIN LATERAL (
        SELECT x.* FROM captiva_workstation_session AS x
        WHERE x.code = a.username AND x.issued_at <= a.acctstarttime + interval '1 minute'
        ORDER BY x.id DESC LIMIT 1) AS s ON true
    CROSS JOIN LATERAL (SELECT captiva_workstation_time_left(s.site, s.granted_seconds,
        s.used_seconds, s.running_since, p_at) AS time_left) AS t
    WHERE a.acctstoptime IS NULL AND s.state = 'running' AND t.time_left > 0
      AND s.router_until < p_at + make_interval(secs => t.time_left - 5)
      AND s.router_coa_failed_granted IS DISTINCT FROM s.granted_seconds
    ORDER BY a.nasipaddress, a.radacctid
$$;

-- The router's answer to a CoA-Request of captiva_workstation_sessions_to_extend, audited
-- as 'router-time' (actor system): p_until (an ACK) is the router's new end, unless the grant
-- changed meanwhile (the next run sends the new one); NULL (NAK or no answer) records the
-- grant that failed.
CREATE OR REPLACE FUNCTION captiva_workstation_router_answer(
    p_session bigint, p_granted integer, p_until timestamptz, p_result text,
    p_at timestamptz DEFAULT now()
) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    s record;
BEGIN
    UPDATE captiva_workstation_session AS t SET
        router_until = CASE WHEN p_until IS NOT NULL THEN p_until ELSE t.router_until END,
        router_coa_failed_granted = CASE WHEN p_until IS NULL THEN p_granted END
    WHERE t.id = p_session AND t.granted_seconds = p_granted AND t.state = 'running'
    RETURNING t.site, t.workstation INTO s;
    IF FOUND THEN
        PERFORM captiva_workstation_log('system', 'system', 'router-time', s.site,
            s.workstation, p_session, NULL, NULL,
            jsonb_build_object('result', p_result, 'router_until', p_until), p_at);
    END IF;
END
$$;

ALTER FUNCTION captiva_workstation_closing(text, timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_time_left(text, integer, integer, timestamptz, timestamptz)
    OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_in_maintenance(text) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_may_act(text, text) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_log(text, text, text, text, text, bigint, jsonb, jsonb,
                                       jsonb, timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_snapshot(bigint, timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_refuse(text, text, text, text, text, bigint, text, jsonb,
                                          timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_new_code() OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_issue(text, text, text, bigint, integer, timestamptz)
    OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_add_time(text, bigint, text, integer, timestamptz)
    OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_change(text, bigint, text, timestamptz)
    OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_set_maintenance(text, text, boolean, timestamptz)
    OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_register_guest(text, text, text, text, text, date, text,
                                                  timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_revoke_consent(text, bigint, timestamptz)
    OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_erase_guests(timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_sweep(timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_board(text, timestamptz, integer) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_kiosk(inet, timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_known(text) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_login_xlat(text, text, timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_sessions_to_disconnect(timestamptz)
    OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_sessions_to_extend(timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_router_answer(bigint, integer, timestamptz, text,
                                                 timestamptz) OWNER TO captiva_definer;

REVOKE ALL ON FUNCTION captiva_workstation_closing(text, timestamptz),
    captiva_workstation_time_left(text, integer, integer, timestamptz, timestamptz),
    captiva_workstation_in_maintenance(text),
    captiva_workstation_may_act(text, text),
    captiva_workstation_log(text, text, text, text, text, bigint, jsonb, jsonb, jsonb,
                            timestamptz),
    captiva_workstation_snapshot(bigint, timestamptz),
    captiva_workstation_refuse(text, text, text, text, text, bigint, text, jsonb, timestamptz),
    captiva_workstation_new_code(),
    captiva_workstation_issue(text, text, text, bigint, integer, timestamptz),
    captiva_workstation_add_time(text, bigint, text, integer, timestamptz),
    captiva_workstation_change(text, bigint, text, timestamptz),
    captiva_workstation_set_maintenance(text, text, boolean, timestamptz),
    captiva_workstation_register_guest(text, text, text, text, text, date, text, timestamptz),
    captiva_workstation_revoke_consent(text, bigint, timestamptz),
    captiva_workstation_erase_guests(timestamptz),
    captiva_workstation_sweep(timestamptz),
    captiva_workstation_board(text, timestamptz, integer),
    captiva_workstation_kiosk(inet, timestamptz),
    captiva_workstation_known(text),
    captiva_workstation_login_xlat(text, text, timestamptz),
    captiva_workstation_sessions_to_disconnect(timestamptz),
    captiva_workstation_sessions_to_extend(timestamptz),
    captiva_workstation_router_answer(bigint, integer, timestamptz, text, timestamptz)
    FROM PUBLIC;
-- FreeRADIUS: the login decision only.
GRANT EXECUTE ON FUNCTION captiva_workstation_known(text),
    captiva_workstation_login_xlat(text, text, timestamptz) TO captiva_freeradius;
-- The portal: the console's actions and views, the kiosk page.
GRANT EXECUTE ON FUNCTION captiva_workstation_may_act(text, text),
    captiva_workstation_issue(text, text, text, bigint, integer, timestamptz),
    captiva_workstation_add_time(text, bigint, text, integer, timestamptz),
    captiva_workstation_change(text, bigint, text, timestamptz),
    captiva_workstation_set_maintenance(text, text, boolean, timestamptz),
    captiva_workstation_register_guest(text, text, text, text, text, date, text, timestamptz),
    captiva_workstation_revoke_consent(text, bigint, timestamptz),
    captiva_workstation_sweep(timestamptz),
    captiva_workstation_board(text, timestamptz, integer),
    captiva_workstation_kiosk(inet, timestamptz) TO captiva_portal;
-- The jobs on the RADIUS host: automatic ends, disconnects, added time by CoA, the guests'
-- erasure.
GRANT EXECUTE ON FUNCTION captiva_workstation_sweep(timestamptz),
    captiva_workstation_erase_guests(timestamptz),
    captiva_workstation_sessions_to_disconnect(timestamptz),
    captiva_workstation_sessions_to_extend(timestamptz),
    captiva_workstation_router_answer(bigint, integer, timestamptz, text, timestamptz)
    TO captiva_jobs;

-- The kiosk pages connected now (the portal batches them): their workstations' heartbeat.
CREATE OR REPLACE FUNCTION captiva_workstation_beat(p_names text[], p_at timestamptz DEFAULT now())
RETURNS void LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp AS $$
    INSERT INTO captiva_workstation_heartbeat AS h (workstation, seen_at)
    SELECT w.name, p_at FROM captiva_workstation AS w WHERE w.name = ANY (p_names)
    ON CONFLICT (workstation) DO UPDATE SET seen_at = excluded.seen_at
    WHERE h.seen_at < excluded.seen_at
$$;
ALTER FUNCTION captiva_workstation_beat(text[], timestamptz) OWNER TO captiva_definer;
REVOKE ALL ON FUNCTION captiva_workstation_beat(text[], timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION captiva_workstation_beat(text[], timestamptz) TO captiva_portal;

-- The daily report of p_site for the local day p_day, per hour: sessions issued, minutes
-- online (the workstations' RADIUS sessions, radacct), occupancy (% of the workstations'
-- time) and refusals (audit). Hours in the site's timezone.
CREATE OR REPLACE FUNCTION captiva_workstation_report(p_site text, p_day date)
RETURNS TABLE (hour integer, sessions integer, minutes integer, occupancy_percent numeric,
               refusals integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    WITH tz AS (
        SELECT COALESCE((SELECT s.timezone FROM captiva_site AS s WHERE s.name = p_site),
                        'UTC') AS name
    ), hours AS (
        SELECT h, (p_day + make_interval(hours => h)) AT TIME ZONE tz.name AS starts,
               (p_day + make_interval(hours => h + 1)) AT TIME ZONE tz.name AS ends
        FROM generate_series(0, 23) AS h, tz
    ), runs AS (
        SELECT a.acctstarttime AS starts, COALESCE(a.acctstoptime, now()) AS ends
        FROM radacct AS a
        JOIN captiva_workstation_session AS s ON s.code = a.username AND s.site = p_site
             AND a.acctstarttime >= s.issued_at - interval '1 minute'
             AND (s.ended_at IS NULL OR a.acctstarttime <= s.ended_at)
        WHERE a.acctstarttime < (SELECT max(ends) FROM hours)
          AND COALESCE(a.acctstoptime, now()) > (SELECT min(starts) FROM hours)
    ), online AS (
        -- LEAST and GREATEST ignore NULLs: an hour without runs must sum nothing
        SELECT h.h, COALESCE(sum(extract(epoch FROM LEAST(r.ends, h.ends)
                                           - GREATEST(r.starts, h.starts)))
                             FILTER (WHERE r.starts IS NOT NULL), 0) AS seconds
        FROM hours AS h LEFT JOIN runs AS r ON r.starts < h.ends AND r.ends > h.starts
        GROUP BY h.h
    )
    SELECT h.h,
           (SELECT count(*) FROM captiva_workstation_session AS s
            WHERE s.site = p_site AND s.issued_at >= h.starts AND s.issued_at < h.ends)::integer,
           floor(o.seconds / 60)::integer,
           round(100 * o.seconds / GREATEST(1, 3600 * (SELECT count(*) FROM captiva_workstation
                                                       AS w WHERE w.site = p_site)), 1),
           (SELECT count(*) FROM captiva_workstation_audit AS au
            WHERE au.site = p_site AND au.action = 'refused' AND au.at >= h.starts
              AND au.at < h.ends)::integer
    FROM hours AS h JOIN online AS o ON o.h = h.h
    ORDER BY h.h
$$;

-- Who receives p_site's report: its operators and the admins, with an e-mail address.
CREATE OR REPLACE FUNCTION captiva_workstation_report_recipients(p_site text)
RETURNS TABLE (email text, language text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT u.email, u.language FROM captiva_staff AS s
    JOIN captiva_user AS u ON u.username = s.username
    WHERE u.email IS NOT NULL AND (s.role = 'admin'
        OR (s.role = 'operator' AND (s.sites = '{}' OR p_site = ANY (s.sites))))
    ORDER BY u.email
$$;

ALTER FUNCTION captiva_workstation_report(text, date) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_report_recipients(text) OWNER TO captiva_definer;
REVOKE ALL ON FUNCTION captiva_workstation_report(text, date),
    captiva_workstation_report_recipients(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION captiva_workstation_report(text, date),
    captiva_workstation_report_recipients(text) TO captiva_jobs;
