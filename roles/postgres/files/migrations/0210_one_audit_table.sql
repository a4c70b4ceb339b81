-- One audit table (issue 24; docs/portal.md, "Roles"): the workstations' rows
-- (captiva_workstation_audit, migration 0120) move into captiva_audit (0110), which gains a
-- kind column (account, voucher, registration, workstation: the kind of the action, from the
-- policy captiva/authz.py) and the workstations' columns. Every row moves with its time,
-- actor, role, action and details; its former id is kept in detail.workstation_audit_id. The
-- counts are checked: a difference aborts the migration. captiva_audit_record
-- (functions/86_audit.sql) stays the only way in.

ALTER TABLE captiva_audit
    ADD COLUMN kind text,
    -- a workstation row: the site, the workstation, the session, and the session before
    -- and after the action (NULL for the other kinds)
    ADD COLUMN site text,
    ADD COLUMN workstation text,
    ADD COLUMN session_id bigint,
    ADD COLUMN before jsonb,
    ADD COLUMN after jsonb,
    -- a workstation row names no account (a guest is named by number in detail)
    ALTER COLUMN username DROP NOT NULL;

-- The kinds of the actions captiva_audit held so far (frozen here: the function
-- captiva_audit_kind, rendered from the policy, does not exist yet on a new database).
UPDATE captiva_audit SET kind = CASE
    WHEN action = 'voucher-revoke' THEN 'voucher'
    WHEN action LIKE 'registration-%' THEN 'registration'
    ELSE 'account' END;

DO $move$
DECLARE
    old_rows bigint;
    moved bigint;
BEGIN
    SELECT count(*) INTO old_rows FROM captiva_workstation_audit;
    INSERT INTO captiva_audit (at, kind, actor, actor_role, action, username, reason, site,
                               workstation, session_id, before, after, detail)
    SELECT w.at, 'workstation', w.actor, w.actor_role, w.action, NULL, NULL, w.site,
           w.workstation, w.session_id, w.before, w.after,
           w.detail || jsonb_build_object('workstation_audit_id', w.id)
    FROM captiva_workstation_audit AS w
    ORDER BY w.id;
    GET DIAGNOSTICS moved = ROW_COUNT;
    IF moved <> old_rows THEN
        RAISE EXCEPTION 'captiva_workstation_audit: % rows, % moved', old_rows, moved;
    END IF;
END
$move$;

DROP TABLE captiva_workstation_audit;

ALTER TABLE captiva_audit
    ALTER COLUMN kind SET NOT NULL,
    ADD CONSTRAINT captiva_audit_kind_check
        CHECK (kind IN ('account', 'voucher', 'registration', 'workstation')),
    -- every row but a workstation's names the account, card or request acted on
    ADD CONSTRAINT captiva_audit_subject_check
        CHECK (kind = 'workstation' OR username IS NOT NULL),
    ADD CONSTRAINT captiva_audit_site_check
        CHECK (kind <> 'workstation' OR site IS NOT NULL);

-- The workstations' audit page (a site's rows, newest first) and a session's rows.
CREATE INDEX captiva_audit_site_at_idx ON captiva_audit (site, at) WHERE site IS NOT NULL;
CREATE INDEX captiva_audit_session_idx ON captiva_audit (session_id)
    WHERE session_id IS NOT NULL;
