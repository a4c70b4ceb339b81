-- Codes that cannot be guessed (issue 23; docs/freeradius.md "Guessing codes").
--
-- 1. FreeRADIUS's throttle of failed code logins (policy.d/captiva_guess,
--    functions/45_guess_throttle.sql). UNLOGGED: recording a failure writes no WAL and waits
--    for no disk flush; after a crash or a failover the counts start again from zero, which
--    gives an attacker one more window's budget, never a code.
--
-- Failed logins of code-shaped usernames that named no existing code: the NAS (the RADIUS
-- packet's source address), the calling station (the device's MAC as the NAS sends it,
-- normalised) and when. Never the code tried. Rows older than the window are deleted by the
-- next failure of the same NAS, so a NAS keeps at most its limit's worth.
CREATE UNLOGGED TABLE captiva_guess_failure (
    nas inet NOT NULL,
    calling_station text NOT NULL,
    failed_at timestamptz NOT NULL
);
CREATE INDEX captiva_guess_failure_station_idx
    ON captiva_guess_failure (nas, calling_station, failed_at);
CREATE INDEX captiva_guess_failure_nas_idx ON captiva_guess_failure (nas, failed_at);

-- Sources being throttled: one row per calling station of a NAS (scope 'station') or per
-- NAS (scope 'nas', calling_station ''), with the start of the episode, its last throttled
-- request and how many were throttled. What the console and the metric show.
CREATE UNLOGGED TABLE captiva_guess_throttle (
    nas inet NOT NULL,
    scope text NOT NULL CHECK (scope IN ('station', 'nas')),
    calling_station text NOT NULL,
    since timestamptz NOT NULL,
    last_at timestamptz NOT NULL,
    throttled bigint NOT NULL CHECK (throttled >= 0),
    PRIMARY KEY (nas, scope, calling_station)
);

-- Only the SECURITY DEFINER functions touch them; FreeRADIUS and the portal call those.
REVOKE ALL ON captiva_guess_failure, captiva_guess_throttle FROM PUBLIC;
GRANT SELECT, INSERT, DELETE ON captiva_guess_failure TO captiva_definer;
GRANT SELECT, INSERT, UPDATE, DELETE ON captiva_guess_throttle TO captiva_definer;

-- 2. Workstation session codes: P + 15 digits from a cryptographic generator
--    (functions/70_workstations.sql, captiva_workstation_issue), not P + 8 digits from
--    random(). Codes issued before keep their rows (history), but FreeRADIUS takes only the
--    new shape: a live session of the old shape is re-issued from the console.
ALTER TABLE captiva_workstation_session DROP CONSTRAINT captiva_workstation_session_code_check;
ALTER TABLE captiva_workstation_session ADD CONSTRAINT captiva_workstation_session_code_check
    CHECK (code ~ '^P([0-9]{15}|[0-9]{8})$');
