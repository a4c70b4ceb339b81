-- Sign-up with approval (docs/portal.md, "Sign-up"; migration 0196): the public form's
-- requests, their e-mail verification, the console's review, and where a request stands.
-- SECURITY DEFINER, owned by captiva_definer, pg_temp last in search_path (see 40_quota_login).
-- The portal proves a link's token itself (an HMAC of the request's id); these functions hold
-- the rules: one live request per matricule, none for a roster user, the verification's
-- 24 hours, requests per client, and who may decide (captiva_audit_record).

-- Where a request stands, THE rule: unverified, pending, rejected, approved, or imported
-- (approved, and its matricule is now a roster user: make import-registrations then make apply
-- made the account). An unverified request older than 24 hours is expired.
CREATE OR REPLACE FUNCTION captiva_registration_state(p_id bigint) RETURNS TABLE (
    matricule text, first_name text, language text, state text, reason text,
    requested_at timestamptz, decided_at timestamptz
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT r.matricule, r.first_name, r.language,
           CASE WHEN r.status = 'approved' AND EXISTS (
                    SELECT FROM captiva_user AS u WHERE lower(u.username) = lower(r.matricule))
                THEN 'imported'
                WHEN r.status = 'unverified' AND r.requested_at < now() - interval '24 hours'
                THEN 'expired'
                ELSE r.status END,
           r.reason, r.requested_at, r.decided_at
    FROM captiva_registration AS r WHERE r.id = p_id
$$;

-- A new request from the form (the portal checked the fields, the password's policy and the
-- registrar's list). outcome:
--   created     a request to verify: the portal mails the link to p_email
--   exists      the matricule is a roster user or has a live request: the portal mails
--               p_email that it need not sign up (the page says the same as for created)
--   throttled   p_per_client requests from this client in the last hour, or 3 for this
--               e-mail address: nothing stored, nothing mailed
CREATE OR REPLACE FUNCTION captiva_registration_submit(
    p_matricule text, p_first_name text, p_last_name text, p_email text, p_promotion text,
    p_language text, p_password_hash text, p_client text, p_per_client integer,
    OUT id bigint, OUT outcome text
)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    -- One request at a time per client: the count and the insert cannot interleave.
    PERFORM pg_advisory_xact_lock(hashtext('captiva_registration:' || p_client));
    IF (SELECT count(*) FROM captiva_registration AS r WHERE r.client = p_client
            AND r.requested_at > now() - interval '1 hour') >= p_per_client
       OR (SELECT count(*) FROM captiva_registration AS r
           WHERE lower(r.email) = lower(p_email)
             AND r.requested_at > now() - interval '1 hour') >= 3 THEN
        outcome := 'throttled';
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT FROM captiva_promotion AS p WHERE p.name = p_promotion) THEN
        RAISE EXCEPTION 'captiva_registration_submit: unknown promotion %', p_promotion
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT FROM captiva_user AS u WHERE lower(u.username) = lower(p_matricule))
       OR EXISTS (SELECT FROM captiva_registration AS r
                  WHERE lower(r.matricule) = lower(p_matricule)
                    AND r.status IN ('pending', 'approved')) THEN
        outcome := 'exists';
    ELSE
        outcome := 'created';
    END IF;
    -- Recorded either way, for the count above; an 'exists' row stays unverified for good.
    INSERT INTO captiva_registration AS r (matricule, first_name, last_name, email, promotion,
                                           language, password_hash, client)
    VALUES (p_matricule, p_first_name, p_last_name, p_email, p_promotion, p_language,
            p_password_hash, p_client)
    RETURNING r.id INTO id;
    IF outcome = 'exists' THEN
        id := NULL;
    END IF;
END
$$;

-- The e-mail link followed: an unverified request under 24 hours old becomes pending (once:
-- the link then only shows where the request stands; audited as the applicant's
-- registration-request), unless its matricule has meanwhile become a roster user or another
-- live request. Returns the state after.
CREATE OR REPLACE FUNCTION captiva_registration_verify(p_id bigint) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    r captiva_registration;
BEGIN
    SELECT * INTO r FROM captiva_registration AS x WHERE x.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF r.status = 'unverified' AND r.requested_at >= now() - interval '24 hours'
       AND NOT EXISTS (SELECT FROM captiva_user AS u
                       WHERE lower(u.username) = lower(r.matricule))
       AND NOT EXISTS (SELECT FROM captiva_registration AS o
                       WHERE lower(o.matricule) = lower(r.matricule)
                         AND o.status IN ('pending', 'approved')) THEN
        UPDATE captiva_registration AS x SET status = 'pending', verified_at = now()
        WHERE x.id = p_id;
        PERFORM captiva_audit_record(
            r.matricule, 'registration-request', r.matricule, NULL,
            jsonb_build_object('request', r.id, 'promotion', r.promotion));
    END IF;
    RETURN (SELECT s.state FROM captiva_registration_state(p_id) AS s);
END
$$;

-- The console's list: requests to review first (pending, oldest first), then the decided
-- ones of the last 90 days, newest first; never the password hash.
CREATE OR REPLACE FUNCTION captiva_registration_list(p_limit integer) RETURNS TABLE (
    id bigint, matricule text, first_name text, last_name text, email text, promotion text,
    language text, state text, reason text, requested_at timestamptz, verified_at timestamptz,
    decided_at timestamptz, decided_by text
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT r.id, r.matricule, r.first_name, r.last_name, r.email, r.promotion, r.language,
           s.state, r.reason, r.requested_at, r.verified_at, r.decided_at, r.decided_by
    FROM captiva_registration AS r
    CROSS JOIN LATERAL captiva_registration_state(r.id) AS s
    WHERE r.status = 'pending'
       OR (r.status IN ('approved', 'rejected') AND r.decided_at > now() - interval '90 days')
    ORDER BY r.status <> 'pending', CASE WHEN r.status = 'pending' THEN r.verified_at END,
             r.decided_at DESC
    LIMIT p_limit
$$;

-- An admin's or an operator's decision on a pending request (captiva_audit_record checks the
-- role and writes the audit row; a refusal rolls the decision back). A rejection needs a
-- reason. Returns what the portal needs to tell the student, or no row when the request is
-- not pending (decided meanwhile).
CREATE OR REPLACE FUNCTION captiva_registration_decide(
    p_actor text, p_id bigint, p_approve boolean, p_reason text
) RETURNS TABLE (matricule text, first_name text, email text, language text, state text,
                 reason text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    clean_reason text := NULLIF(btrim(COALESCE(p_reason, '')), '');
    r captiva_registration;
BEGIN
    IF NOT p_approve AND clean_reason IS NULL THEN
        RAISE EXCEPTION 'captiva_registration_decide: a rejection needs a reason'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE captiva_registration AS x
    SET status = CASE WHEN p_approve THEN 'approved' ELSE 'rejected' END,
        decided_at = now(), decided_by = p_actor, reason = clean_reason
    WHERE x.id = p_id AND x.status = 'pending'
    RETURNING x.* INTO r;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    PERFORM captiva_audit_record(
        p_actor, CASE WHEN p_approve THEN 'registration-approve' ELSE 'registration-reject' END,
        r.matricule, clean_reason,
        jsonb_build_object('request', r.id, 'promotion', r.promotion));
    RETURN QUERY SELECT r.matricule, r.first_name, r.email, r.language, r.status, r.reason;
END
$$;

-- make import-registrations (python -m captiva.onboarding, on the controller, as the
-- operating-system account p_actor = os:<login>, through the reconcile's login): the approved
-- requests p_ids it has just written into the roster's users file p_file, one audit row each
-- (registration-import, under the matricule; captiva_audit_record asks the policy). A request
-- no longer approved is skipped. Returns the number of rows written.
CREATE OR REPLACE FUNCTION captiva_registration_imported(
    p_actor text, p_ids bigint[], p_file text
) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    r record;
    written integer := 0;
BEGIN
    FOR r IN SELECT x.id, x.matricule FROM captiva_registration AS x
             WHERE x.id = ANY (p_ids) AND x.status = 'approved' ORDER BY x.id LOOP
        PERFORM captiva_audit_record(p_actor, 'registration-import', r.matricule, NULL,
                                     jsonb_build_object('request', r.id, 'file', p_file));
        written := written + 1;
    END LOOP;
    RETURN written;
END
$$;

ALTER FUNCTION captiva_registration_state(bigint) OWNER TO captiva_definer;
ALTER FUNCTION captiva_registration_submit(text, text, text, text, text, text, text, text,
                                           integer) OWNER TO captiva_definer;
ALTER FUNCTION captiva_registration_verify(bigint) OWNER TO captiva_definer;
ALTER FUNCTION captiva_registration_list(integer) OWNER TO captiva_definer;
ALTER FUNCTION captiva_registration_decide(text, bigint, boolean, text) OWNER TO captiva_definer;
ALTER FUNCTION captiva_registration_imported(text, bigint[], text) OWNER TO captiva_definer;
REVOKE ALL ON FUNCTION captiva_registration_state(bigint),
    captiva_registration_submit(text, text, text, text, text, text, text, text, integer),
    captiva_registration_verify(bigint),
    captiva_registration_list(integer),
    captiva_registration_decide(text, bigint, boolean, text),
    captiva_registration_imported(text, bigint[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION captiva_registration_state(bigint),
    captiva_registration_submit(text, text, text, text, text, text, text, text, integer),
    captiva_registration_verify(bigint),
    captiva_registration_list(integer),
    captiva_registration_decide(text, bigint, boolean, text) TO captiva_portal;
-- make import-registrations reads the state too (imported requests are left out).
GRANT EXECUTE ON FUNCTION captiva_registration_state(bigint) TO captiva_reconcile;
-- ... and records what it imported, by whom.
GRANT EXECUTE ON FUNCTION captiva_registration_imported(text, bigint[], text)
    TO captiva_reconcile;
