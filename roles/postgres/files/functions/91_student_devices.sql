-- Students' devices (docs/portal.md, "For students"; migration 0195): names, blocks and
-- "disconnect now", by the student on /me or an admin on the console's user page; the block
-- FreeRADIUS applies at post-auth (with the quota check: policy.d/captiva_quota; without it:
-- policy.d/captiva_device_block).
-- SECURITY DEFINER, owned by captiva_definer, pg_temp last in search_path (see 40_quota_login).

-- THE MAC rule: the forms a router or a person writes (aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF,
-- aabb.ccdd.eeff, aabbccddeeff, surrounding spaces) as AA:BB:CC:DD:EE:FF; anything else
-- (mixed separators, another length) is NULL.
CREATE OR REPLACE FUNCTION captiva_mac_normal(p_mac text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN m ~ '^[0-9A-F]{2}([:-])[0-9A-F]{2}(\1[0-9A-F]{2}){4}$'
                  OR m ~ '^[0-9A-F]{4}\.[0-9A-F]{4}\.[0-9A-F]{4}$'
                  OR m ~ '^[0-9A-F]{12}$'
                THEN regexp_replace(regexp_replace(m, '[^0-9A-F]', '', 'g'),
                                    '(..)(?!$)', '\1:', 'g')
           END
    FROM (SELECT upper(btrim(COALESCE(p_mac, ''))) AS m) AS s
$$;

-- The Reply-Message when the device (Calling-Station-Id, any form) is blocked for this user,
-- French / English in the user's language order; '' otherwise.
-- plpgsql, not sql: its plan is kept per connection (a SECURITY DEFINER sql function is
-- planned again at every call).
CREATE OR REPLACE FUNCTION captiva_device_block_xlat(p_username text, p_calling_station text)
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    RETURN COALESCE((
        SELECT captiva_voucher_message(
                   u.language,
                   'Cet appareil est bloqué pour ce compte (portail Wi-Fi, Mes appareils)',
                   'This device is blocked for this account (Wi-Fi portal, My devices)')
        FROM captiva_device AS d JOIN captiva_user AS u ON u.username = d.username
        WHERE d.username = p_username AND d.blocked
          AND d.mac = captiva_mac_normal(p_calling_station)), '');
END
$$;

-- The device block and the quota check are asked at login by captiva_login_check_xlat
-- (40_quota_login.sql), with Simultaneous-Use; the entry point it replaced, never in a release,
-- goes.
DROP FUNCTION IF EXISTS captiva_login_post_auth_xlat(text, text, text);

-- One action on one device of p_username, by p_actor (the account itself, or an admin:
-- captiva_audit_record decides and writes the audit row in the same transaction):
--   device-block / device-unblock   FreeRADIUS refuses / accepts it again for this account
--   device-rename                   p_name ('' or NULL: no name)
--   device-disconnect               a "disconnect now" request for each open session of the
--                                   account from that device, as the console records them
--                                   (the enforce job sends the Disconnect-Requests)
-- Returns the device's MAC address as stored and, for device-disconnect, the sessions asked
-- to end (else 0).
DROP FUNCTION IF EXISTS captiva_device_act(text, text, text, text, text, text);
CREATE OR REPLACE FUNCTION captiva_device_act(
    p_actor text, p_username text, p_mac text, p_action text, p_name text, p_reason text,
    OUT mac text, OUT sessions integer
)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    clean_name text := NULLIF(btrim(COALESCE(p_name, '')), '');
BEGIN
    mac := captiva_mac_normal(p_mac);
    sessions := 0;
    IF mac IS NULL THEN
        RAISE EXCEPTION 'captiva_device_act: % is not a MAC address', p_mac
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT FROM captiva_user AS u WHERE u.username = p_username) THEN
        RAISE EXCEPTION 'captiva_device_act: % is not a roster user', p_username
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_action = 'device-rename' AND char_length(clean_name) > 40 THEN
        RAISE EXCEPTION 'captiva_device_act: a name has 40 characters at most'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_action IN ('device-block', 'device-unblock', 'device-rename') THEN
        INSERT INTO captiva_device AS d (username, mac, name, blocked, changed_by)
        VALUES (p_username, mac, CASE WHEN p_action = 'device-rename' THEN clean_name END,
                p_action = 'device-block', p_actor)
        ON CONFLICT ON CONSTRAINT captiva_device_pkey DO UPDATE SET
            name = CASE WHEN p_action = 'device-rename' THEN clean_name ELSE d.name END,
            blocked = CASE WHEN p_action = 'device-rename' THEN d.blocked
                           ELSE p_action = 'device-block' END,
            changed_by = p_actor, changed_at = now();
    ELSIF p_action = 'device-disconnect' THEN
        WITH asked AS (
            INSERT INTO captiva_console_disconnect (radacctid, username, requested_by)
            SELECT a.radacctid, a.username, p_actor FROM radacct AS a
            WHERE a.username = p_username AND a.acctstoptime IS NULL
              AND captiva_mac_normal(a.callingstationid) = mac
            RETURNING 1)
        SELECT count(*)::integer INTO sessions FROM asked;
    ELSE
        RAISE EXCEPTION 'captiva_device_act: unknown action %', p_action
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM captiva_audit_record(
        p_actor, p_action, p_username, NULLIF(btrim(COALESCE(p_reason, '')), ''),
        jsonb_strip_nulls(jsonb_build_object(
            'mac', mac,
            'name', CASE WHEN p_action = 'device-rename' THEN clean_name END,
            'sessions', CASE WHEN p_action = 'device-disconnect' THEN sessions END)));
END
$$;

ALTER FUNCTION captiva_device_block_xlat(text, text) OWNER TO captiva_definer;
ALTER FUNCTION captiva_device_act(text, text, text, text, text, text) OWNER TO captiva_definer;
REVOKE ALL ON FUNCTION captiva_device_block_xlat(text, text),
    captiva_device_act(text, text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION captiva_device_block_xlat(text, text) TO captiva_freeradius;
GRANT EXECUTE ON FUNCTION captiva_device_act(text, text, text, text, text, text)
    TO captiva_portal;
