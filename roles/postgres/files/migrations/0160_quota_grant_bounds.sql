-- A quota grant's bounds, enforced by the database for every writer (the portal's role
-- inserts grants): at most 10 TiB (10 * 1024^4 bytes) and at most 366 days from its start,
-- as the console offers them (captiva/portal/console.py, MAX_GRANT_BYTES and MAX_GRANT_DAYS,
-- which refuse first with a friendly message). The duration is counted in hours, so that it
-- is the same absolute span as the console's whatever the session's time zone and its DST.
-- A reset's bytes are the period's usage at the time, under the same bound.
ALTER TABLE captiva_quota_grant
    ADD CONSTRAINT captiva_quota_grant_bytes_bound CHECK (bytes <= 10995116277760),
    ADD CONSTRAINT captiva_quota_grant_duration_bound
        CHECK (expires_at <= starts_at + interval '8784 hours');
