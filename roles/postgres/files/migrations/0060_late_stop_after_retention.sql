-- A Stop later than retention: FreeRADIUS's stop query looks in radacct_history for the session
-- close-stale closed and retention then archived (roles/freeradius captiva-queries.conf, stop),
-- so it records only what came after the archived row and counts no byte twice. Read-only,
-- and only the columns it needs; the index makes that look-up (also made for every duplicate
-- Stop) one index probe however large the history grows.
CREATE INDEX radacct_history_acctuniqueid_idx ON radacct_history (acctuniqueid);
GRANT SELECT (acctuniqueid, acctupdatetime, acctstoptime, acctinputoctets, acctoutputoctets,
              acctterminatecause)
    ON radacct_history TO captiva_freeradius;
