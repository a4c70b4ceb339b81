-- The applied-change log (docs/gitops.md): one row per apply that changed something, written
-- by the reconcile in the same transaction as the change. It answers "when was this student
-- disabled, and by which commit?". Append-only: the reconcile may insert and read, the portal
-- (admin view) may read; no Captiva role may update or delete a row.

CREATE TABLE captiva_change_log (
    id bigserial PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now(),
    -- who: the controller's OS user, and the CI job when the apply ran in a pipeline
    applied_by text NOT NULL,
    ci_job text,
    -- what: the inventory's Git commit and branch when known (dirty: uncommitted changes)
    git_commit text,
    git_branch text,
    git_dirty boolean,
    inventory text,
    summary text NOT NULL,
    -- {"users": {"added": n, ...}, "groups": {...}, "rows": {...}, "adopted": {...}}
    counts jsonb NOT NULL,
    -- {"added": [username, ...], "changed": [...], "removed": [...]}; names only, never
    -- personal data or secrets
    users jsonb NOT NULL
);
CREATE INDEX captiva_change_log_users ON captiva_change_log USING gin (users jsonb_path_ops);
CREATE INDEX captiva_change_log_applied_at ON captiva_change_log (applied_at);

REVOKE ALL ON captiva_change_log FROM PUBLIC;
GRANT SELECT, INSERT ON captiva_change_log TO captiva_reconcile;
GRANT USAGE ON SEQUENCE captiva_change_log_id_seq TO captiva_reconcile;
GRANT SELECT ON captiva_change_log TO captiva_portal;
