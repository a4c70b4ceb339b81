-- Least privilege for the SQL functions and for old passwords (docs/postgres.md, "Access").
--
-- captiva_definer owns the SECURITY DEFINER functions (roles/postgres/files/functions): a
-- NOLOGIN role that is not a superuser and may read exactly what those functions read, so a
-- flaw in one of them cannot reach further (the superuser owned them before).
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'captiva_definer') THEN
        CREATE ROLE captiva_definer NOLOGIN NOINHERIT;
    END IF;
END
$roles$;
GRANT USAGE ON SCHEMA public TO captiva_definer;
GRANT SELECT
    ON radacct, captiva_user, captiva_profile, captiva_usage_daily, captiva_site,
       captiva_router, captiva_quota_settings
    TO captiva_definer;
-- Whether a manual RADIUS user exists (enforce's "removed"), never its password.
GRANT SELECT (username) ON radcheck TO captiva_definer;

-- Temporary tables are searched before the schema unless pg_temp is named last, so a caller
-- allowed to create them could shadow a table a SECURITY DEFINER function reads. Only the
-- reconcile stages rows in a temporary table; the other roles lose TEMPORARY.
DO $database$
BEGIN
    EXECUTE format(
        'REVOKE TEMPORARY ON DATABASE %I FROM captiva_freeradius, captiva_portal, captiva_jobs',
        current_database()
    );
END
$database$;

-- radpostauth.pass: FreeRADIUS's stock post-auth query stores the password there. Captiva's
-- does not, and no Captiva role may read or write the column: column-level grants on every
-- other column. Values left by an adopted database are erased.
UPDATE radpostauth SET pass = NULL WHERE pass IS NOT NULL;
UPDATE radpostauth_history SET pass = NULL WHERE pass IS NOT NULL;
DO $columns$
DECLARE
    cols text;
    history_cols text;
BEGIN
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
    FROM pg_catalog.pg_attribute
    WHERE attrelid = 'radpostauth'::regclass AND attnum > 0 AND NOT attisdropped
      AND attname <> 'pass';
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO history_cols
    FROM pg_catalog.pg_attribute
    WHERE attrelid = 'radpostauth_history'::regclass AND attnum > 0 AND NOT attisdropped
      AND attname <> 'pass';
    REVOKE SELECT, INSERT, UPDATE ON radpostauth
        FROM captiva_freeradius, captiva_portal, captiva_jobs;
    REVOKE SELECT, INSERT, UPDATE ON radpostauth_history FROM captiva_jobs;
    EXECUTE format('GRANT SELECT (%1$s), INSERT (%1$s), UPDATE (%1$s) ON radpostauth '
                   'TO captiva_freeradius', cols);
    EXECUTE format('GRANT SELECT (%s) ON radpostauth TO captiva_portal, captiva_jobs', cols);
    EXECUTE format('GRANT SELECT (%1$s), INSERT (%1$s) ON radpostauth_history TO captiva_jobs',
                   history_cols);
END
$columns$;
