-- Simultaneous-Use (FreeRADIUS's session section, mods-config/sql/main/postgresql/
-- captiva-queries.conf): a user's open sessions in radacct, ignoring those opened before
-- their NAS's last Accounting-On (nasreload). simul_count_query counts these rows and
-- simul_verify_query reads them, so the rule lives here once.
--
-- A function, not the query text FreeRADIUS used to send: rlm_sql sends every query as
-- literal text, and PostgreSQL planned this join against radacct's nine indexes at every
-- login (about 0.2 ms of planning for 0.02 ms of execution). plpgsql keeps the plan for the
-- life of the pool's connection (docs/tuning.md). The columns are simul_verify_query's.
CREATE OR REPLACE FUNCTION captiva_open_sessions(p_username text)
RETURNS TABLE (
    radacctid bigint, acctsessionid text, username text, nasipaddress inet, nasportid text,
    framedipaddress inet, callingstationid text, framedprotocol text
) LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT a.radacctid, a.acctsessionid, a.username, a.nasipaddress, a.nasportid,
           a.framedipaddress, a.callingstationid, a.framedprotocol
    FROM radacct AS a
    LEFT JOIN nasreload AS n ON n.nasipaddress = a.nasipaddress
    WHERE a.username = p_username
      AND a.acctstoptime IS NULL
      AND (a.acctstarttime > n.reloadtime OR n.reloadtime IS NULL);
END
$$;

REVOKE ALL ON FUNCTION captiva_open_sessions(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION captiva_open_sessions(text) TO captiva_freeradius, captiva_definer;
