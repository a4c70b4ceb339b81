-- Public workstations: walk-in guests, registered with their consent, and the erasure of
-- their personal data (at once on a revoked consent, or by the retention job).

-- Register a walk-in guest: name, identity document, the day they consented.
CREATE OR REPLACE FUNCTION captiva_workstation_register_guest(
    p_actor text, p_site text, p_full_name text, p_id_type text, p_id_number text,
    p_consent_on date, p_language text DEFAULT 'fr', p_at timestamptz DEFAULT now()
) RETURNS TABLE (guest_id bigint, reason text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    new_id bigint;
BEGIN
    IF NOT captiva_workstation_allowed(p_actor, 'register-guest', p_site, NULL, NULL,
                                       p_at) THEN
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
    PERFORM captiva_workstation_log(p_actor, 'register-guest', p_site, NULL, NULL, NULL,
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
BEGIN
    SELECT * INTO g FROM captiva_workstation_guest AS t WHERE t.id = p_guest;
    IF NOT FOUND THEN
        RETURN 'unknown-guest';
    END IF;
    IF NOT captiva_workstation_allowed(p_actor, 'revoke-consent', g.site, NULL, NULL,
                                       p_at) THEN
        RETURN 'forbidden';
    END IF;
    UPDATE captiva_workstation_guest SET full_name = NULL, id_type = NULL, id_number = NULL,
        consent_revoked_at = p_at, erased_at = COALESCE(erased_at, p_at)
    WHERE id = p_guest;
    PERFORM captiva_workstation_log(p_actor, 'revoke-consent', g.site, NULL, NULL,
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

ALTER FUNCTION captiva_workstation_register_guest(text, text, text, text, text, date, text,
                                                  timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_revoke_consent(text, bigint, timestamptz)
    OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_erase_guests(timestamptz) OWNER TO captiva_definer;

REVOKE ALL ON FUNCTION captiva_workstation_register_guest(text, text, text, text, text, date, text, timestamptz),
    captiva_workstation_revoke_consent(text, bigint, timestamptz),
    captiva_workstation_erase_guests(timestamptz)
    FROM PUBLIC;
-- The portal: the console registers guests and records a revoked consent.
GRANT EXECUTE ON FUNCTION captiva_workstation_register_guest(text, text, text, text, text, date, text, timestamptz),
    captiva_workstation_revoke_consent(text, bigint, timestamptz)
    TO captiva_portal;
-- The jobs on the RADIUS host: the guests' erasure.
GRANT EXECUTE ON FUNCTION captiva_workstation_erase_guests(timestamptz)
    TO captiva_jobs;
