-- One row per run of a quota job (captiva-quota, docs/quota.md "Enforcement"): when it ran,
-- how long, how many actions failed, and for enforce the routers that failed and why
-- (unreachable, NAKs, no secret). What an admin view shows of the jobs; the jobs keep 30 days.
CREATE TABLE captiva_job_run (
    id bigserial PRIMARY KEY,
    job text NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now(),
    seconds double precision NOT NULL,
    failed integer NOT NULL DEFAULT 0,
    -- {"<router>": "<why>"}: empty when every router answered
    failed_routers jsonb NOT NULL DEFAULT '{}',
    -- the run's summary as logged (counts; for enforce per router)
    summary jsonb NOT NULL
);
CREATE INDEX captiva_job_run_job_finished_idx ON captiva_job_run (job, finished_at);

GRANT SELECT, INSERT, DELETE ON captiva_job_run TO captiva_jobs;
GRANT USAGE ON SEQUENCE captiva_job_run_id_seq TO captiva_jobs;
GRANT SELECT ON captiva_job_run TO captiva_portal;
