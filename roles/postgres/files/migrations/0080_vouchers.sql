-- Vouchers (docs/vouchers.md): batches and their codes, as the reconcile writes them from the
-- roster's captiva_voucher_batches, plus what happens to a code at login, written by
-- FreeRADIUS (first use) or by an admin (urgent revocation). Login decisions are made by
-- captiva_voucher_login (roles/postgres/files/functions/80_vouchers.sql).
--
-- A voucher's RADIUS username and password are its compact code (K7HM3XPW9H); the reconcile
-- also writes its radcheck password and its radusergroup membership (the batch's profile).

CREATE TABLE captiva_voucher_batch (
    name text PRIMARY KEY,
    profile text NOT NULL,
    -- seconds of online time across sessions (NULL: no time credit)
    time_credit integer CHECK (time_credit > 0),
    -- seconds of wall-clock time from the first Access-Accept (NULL: no window)
    window_after_first_use integer CHECK (window_after_first_use > 0),
    -- valid from starts_at (inclusive) to ends_at (exclusive)
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    -- total bytes (upload + download) across sessions (NULL: no data cap)
    data_cap bigint CHECK (data_cap > 0),
    -- open sessions at a time (NULL: unlimited)
    simultaneous_use integer CHECK (simultaneous_use > 0),
    -- valid only on these sites' routers (empty: every site)
    sites text[] NOT NULL DEFAULT '{}',
    language text NOT NULL DEFAULT 'fr' CHECK (language IN ('fr', 'en')),
    count integer NOT NULL CHECK (count > 0),
    CHECK (ends_at > starts_at),
    CHECK (time_credit IS NOT NULL OR window_after_first_use IS NOT NULL)
);

CREATE TABLE captiva_voucher (
    code text PRIMARY KEY CHECK (code ~ '^[2-9ACEFHJKMNPRTWXY]{10}$'),
    batch text NOT NULL REFERENCES captiva_voucher_batch (name) ON DELETE CASCADE,
    index integer NOT NULL CHECK (index > 0),
    UNIQUE (batch, index)
);

-- The first Access-Accept of a code, written at post-auth. Kept apart from radacct so that
-- purging accounting never restarts a window; kept when a batch is removed and re-added.
CREATE TABLE captiva_voucher_first_use (
    code text PRIMARY KEY,
    first_used_at timestamptz NOT NULL,
    nasipaddress inet
);

-- Revoked codes. source 'roster': listed in the batch's `revoked`, written by the reconcile;
-- 'urgent': an admin's immediate revocation, which the reconcile keeps (and `make plan`
-- reports) until the roster lists it too.
CREATE TABLE captiva_voucher_revocation (
    code text PRIMARY KEY,
    revoked_at timestamptz NOT NULL DEFAULT now(),
    source text NOT NULL CHECK (source IN ('roster', 'urgent')),
    reason text NOT NULL DEFAULT ''
);

-- The reconcile owns batches, codes and roster revocations; FreeRADIUS only reaches them
-- through captiva_voucher_login (SECURITY DEFINER, owner captiva_definer).
GRANT SELECT, INSERT, UPDATE, DELETE
    ON captiva_voucher_batch, captiva_voucher, captiva_voucher_revocation
    TO captiva_reconcile;
GRANT SELECT ON captiva_voucher_first_use TO captiva_reconcile;
GRANT SELECT
    ON captiva_voucher_batch, captiva_voucher, captiva_voucher_first_use,
       captiva_voucher_revocation
    TO captiva_portal, captiva_jobs, captiva_definer;
GRANT INSERT ON captiva_voucher_first_use TO captiva_definer;
-- An urgent revocation from the admin pages or the jobs' command.
GRANT INSERT, UPDATE ON captiva_voucher_revocation TO captiva_portal, captiva_jobs;
