-- Login-time quota enforcement, called by FreeRADIUS (docs/quota.md has the unlang).
-- SECURITY DEFINER functions: owned by captiva_definer (NOLOGIN, not a superuser, only the
-- reads they need; migration 0054), search_path with pg_temp LAST so no caller's temporary
-- table or function can stand in for a real one.

-- The login decision for p_username on NAS p_nas at p_at:
-- - reject_message: why the login must be refused (NULL: accept), in the user's language;
-- - remaining_bytes: the smallest remaining quota of any period (NULL: unlimited);
-- - seconds_to_expiry: seconds until the account expires (NULL: never), for Session-Timeout.
CREATE OR REPLACE FUNCTION captiva_quota_login(
    p_username text, p_nas inet DEFAULT NULL, p_at timestamptz DEFAULT now()
) RETURNS TABLE (reject_message text, remaining_bytes bigint, seconds_to_expiry bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    usr record;
    q record;
    hit_period text;  -- the exhausted period named, NULL while none is
    hit_quota bigint;
    hit_resets_at timestamptz;
    hit_timezone text;
    least_remaining bigint;
    tz text;
    french boolean;
BEGIN
    -- The profile's quotas in the same read: a profile without any (unlimited) has no period
    -- to read (a grant adds to a quota, never makes one), so its users skip the usage.
    SELECT u.language, u.expires_at,
           p.quota_daily IS NULL AND p.quota_weekly IS NULL AND p.quota_monthly IS NULL
               AND p.quota_total IS NULL AS unlimited
    INTO usr
    FROM captiva_user AS u LEFT JOIN captiva_profile AS p ON p.name = u.profile
    WHERE u.username = p_username;
    IF NOT FOUND THEN
        RETURN QUERY SELECT NULL::text, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;
    french := usr.language = 'fr';
    IF usr.expires_at IS NOT NULL AND usr.expires_at <= p_at THEN
        tz := (SELECT c.timezone FROM captiva_user_calendar(p_username, p_nas) AS c);
        RETURN QUERY SELECT
            CASE WHEN french THEN 'Compte expiré le ' ELSE 'Account expired on ' END
                || to_char(usr.expires_at AT TIME ZONE tz, 'YYYY-MM-DD HH24:MI') || ' ' || tz,
            0::bigint, 0::bigint;
        RETURN;
    END IF;
    -- One read of the usage; of the exhausted periods, name the one that frees the user last
    -- (total: never; of two that reset together, the shorter). A loop over the four rows,
    -- not a sort and a window: their executor cost more than the rest of the check. An
    -- unlimited profile skips it: nothing is exhausted, nothing remains to count.
    IF NOT usr.unlimited THEN
        FOR q IN SELECT u.period, u.quota, u.remaining, u.resets_at, u.timezone
                 FROM captiva_user_usage(p_username, p_at, p_nas, true) AS u LOOP
            least_remaining := LEAST(least_remaining, q.remaining);
            IF q.quota IS NOT NULL AND q.remaining <= 0
               AND (hit_period IS NULL
                    OR (hit_resets_at IS NOT NULL
                        AND (q.resets_at IS NULL OR q.resets_at > hit_resets_at))) THEN
                hit_period := q.period;
                hit_quota := q.quota;
                hit_resets_at := q.resets_at;
                hit_timezone := q.timezone;
            END IF;
        END LOOP;
    END IF;
    IF hit_period IS NOT NULL THEN
        reject_message := CASE WHEN french THEN
                'Quota de données ' || captiva_period_name(hit_period, 'fr')
                || ' de ' || captiva_format_bytes(hit_quota) || ' atteint ; '
                || CASE WHEN hit_resets_at IS NULL THEN 'il ne se renouvelle pas'
                        ELSE 'renouvelé le ' || to_char(hit_resets_at AT TIME ZONE hit_timezone,
                                                        'YYYY-MM-DD HH24:MI')
                             || ' ' || hit_timezone END
            ELSE
                initcap(captiva_period_name(hit_period, 'en')) || ' data quota of '
                || captiva_format_bytes(hit_quota) || ' reached; '
                || CASE WHEN hit_resets_at IS NULL THEN 'it does not reset'
                        ELSE 'resets ' || to_char(hit_resets_at AT TIME ZONE hit_timezone,
                                                  'YYYY-MM-DD HH24:MI')
                             || ' ' || hit_timezone END
            END;
        remaining_bytes := 0;
    ELSE
        remaining_bytes := least_remaining;
        seconds_to_expiry := floor(extract(epoch FROM usr.expires_at - p_at))::bigint;
    END IF;
    -- RETURN NEXT of the variables, not RETURN QUERY: no statement to run.
    RETURN NEXT;
END
$$;

-- One string for unlang's %{sql:...}, which reads a single value:
--   'reject|<message>'  or  'accept|<gigawords>|<low 32 bits>|<seconds to expiry>'
-- with empty fields for "unlimited" / "never". Mikrotik-Total-Limit is a 32-bit attribute:
-- the limit is low + gigawords * 2^32. An SQL expression, so PostgreSQL inlines it into its
-- callers (no call of its own).
CREATE OR REPLACE FUNCTION captiva_quota_login_answer(
    p_reject_message text, p_remaining_bytes bigint, p_seconds_to_expiry bigint
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_reject_message IS NOT NULL
                THEN 'reject|' || replace(p_reject_message, '|', '/')
                ELSE 'accept|' || COALESCE((p_remaining_bytes >> 32)::text, '')
                     || '|' || COALESCE((p_remaining_bytes & 4294967295)::text, '')
                     || '|' || COALESCE(p_seconds_to_expiry::text, '')
           END
$$;

-- captiva_quota_login's answer as that string: what the FreeRADIUS policy of release 1.0.0
-- asks at post-auth, kept so a RADIUS host not yet converged keeps answering during an upgrade
-- (today's policy asks captiva_login_check_xlat below).
CREATE OR REPLACE FUNCTION captiva_quota_login_xlat(p_username text, p_nas text DEFAULT '')
RETURNS text
-- plpgsql, not sql: its plan is kept per connection (10_calendar.sql, captiva_local_midnight).
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    RETURN (SELECT captiva_quota_login_answer(l.reject_message, l.remaining_bytes,
                                              l.seconds_to_expiry)
            FROM captiva_quota_login(p_username, NULLIF(p_nas, '')::inet) AS l);
END
$$;

ALTER FUNCTION captiva_quota_login(text, inet, timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_quota_login_xlat(text, text) OWNER TO captiva_definer;
REVOKE ALL ON FUNCTION captiva_quota_login(text, inet, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION captiva_quota_login_xlat(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION captiva_quota_login(text, inet, timestamptz)
    TO captiva_freeradius, captiva_portal, captiva_jobs;
GRANT EXECUTE ON FUNCTION captiva_quota_login_xlat(text, text) TO captiva_freeradius;

-- FreeRADIUS at post-auth (policy.d/captiva_quota), one round trip for every login check,
-- read-only so any member (a replica) answers it (docs/ha.md, "What a replica answers"):
-- Simultaneous-Use first, as FreeRADIUS's session section would have refused the login
-- before post-auth ran: with p_simultaneous_use ('' : no limit) sessions or more open
-- (captiva_open_sessions, the rule the session section's query uses), FreeRADIUS's own
-- message ("You are already logged in - access denied", with " (N)" for a limit above 1);
-- then the device block (captiva_device_block_xlat, 91_student_devices.sql) and the quota.
CREATE OR REPLACE FUNCTION captiva_login_check_xlat(
    p_username text, p_nas text, p_calling_station text, p_simultaneous_use text
) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    limit_sessions integer := NULLIF(p_simultaneous_use, '')::integer;
    blocked text;
BEGIN
    IF limit_sessions IS NOT NULL
       AND (SELECT count(*) FROM captiva_open_sessions(p_username)) >= limit_sessions THEN
        RETURN 'reject|You are already logged in - access denied'
               || CASE WHEN limit_sessions > 1 THEN ' (' || limit_sessions || ')' ELSE '' END;
    END IF;
    -- The device block and the quota, called here rather than through captiva_quota_login_xlat:
    -- each SECURITY DEFINER call sets search_path and starts plpgsql again, at every login.
    blocked := captiva_device_block_xlat(p_username, p_calling_station);
    IF blocked <> '' THEN
        RETURN captiva_quota_login_answer(blocked, NULL, NULL);
    END IF;
    RETURN (SELECT captiva_quota_login_answer(l.reject_message, l.remaining_bytes,
                                              l.seconds_to_expiry)
            FROM captiva_quota_login(p_username, NULLIF(p_nas, '')::inet) AS l);
END
$$;

ALTER FUNCTION captiva_login_check_xlat(text, text, text, text) OWNER TO captiva_definer;
REVOKE ALL ON FUNCTION captiva_login_check_xlat(text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION captiva_login_check_xlat(text, text, text, text) TO captiva_freeradius;
