-- Privileges of Captiva's database roles (docs/architecture.md, "Database roles").
-- The roles are cluster-wide. They are created here NOLOGIN when missing so the grants never
-- fail; roles/postgres gives them LOGIN and their vaulted passwords (before or after this
-- migration, either order works). Later migrations grant on the tables they create.

DO $roles$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY[
        'captiva_reconcile', 'captiva_freeradius', 'captiva_portal', 'captiva_jobs'
    ] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
        END IF;
    END LOOP;
END
$roles$;

-- Only Captiva's roles (and superusers) may connect to this database or use its schema.
DO $database$
BEGIN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format(
        'GRANT CONNECT, TEMPORARY ON DATABASE %I TO captiva_reconcile, captiva_freeradius, '
        'captiva_portal, captiva_jobs',
        current_database()
    );
END
$database$;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public
    TO captiva_reconcile, captiva_freeradius, captiva_portal, captiva_jobs;
-- Nothing inherited from PUBLIC on the tables either.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC;

-- captiva_reconcile: writes the RADIUS policy tables and the roster; no accounting data.
GRANT SELECT, INSERT, UPDATE, DELETE
    ON radcheck, radreply, radgroupcheck, radgroupreply, radusergroup, nas,
       captiva_site, captiva_router, captiva_profile, captiva_promotion, captiva_user
    TO captiva_reconcile;
GRANT USAGE, SELECT
    ON SEQUENCE radcheck_id_seq, radreply_id_seq, radgroupcheck_id_seq, radgroupreply_id_seq,
       radusergroup_id_seq, nas_id_seq
    TO captiva_reconcile;

-- captiva_freeradius: exactly FreeRADIUS's setup.sql grants: reads the policy, writes
-- accounting, post-auth and NAS reloads; it cannot change a password or a group.
GRANT SELECT
    ON radcheck, radreply, radgroupcheck, radgroupreply, radusergroup, nas
    TO captiva_freeradius;
GRANT SELECT, INSERT, UPDATE ON radacct, radpostauth, nasreload TO captiva_freeradius;
GRANT USAGE, SELECT ON SEQUENCE radacct_radacctid_seq, radpostauth_id_seq TO captiva_freeradius;

-- captiva_portal: shows a user their usage, sessions and profile; never the credentials.
GRANT SELECT
    ON radacct, radpostauth,
       captiva_site, captiva_router, captiva_profile, captiva_promotion, captiva_user
    TO captiva_portal;

-- captiva_jobs: quota jobs read usage and the roster, close stale sessions (UPDATE radacct)
-- and enforce retention (DELETE radacct, radpostauth; SELECT is needed for their WHERE).
GRANT SELECT, UPDATE, DELETE ON radacct TO captiva_jobs;
GRANT SELECT, DELETE ON radpostauth TO captiva_jobs;
GRANT SELECT
    ON captiva_site, captiva_router, captiva_profile, captiva_promotion, captiva_user
    TO captiva_jobs;
