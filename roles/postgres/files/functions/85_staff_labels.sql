-- What staff see of an account, never a code (docs/portal.md, "Labels, never codes"; migration
-- 0140). A voucher's or a workstation session's RADIUS username is also its password: the
-- portal's role reads no such row (0140's row policies), and these SECURITY DEFINER
-- functions give it the staff's lists with a label in place of the username:
--   a roster user        -> the username (kind 'user')
--   a voucher            -> batch#index (kind 'voucher')
--   a workstation code   -> workstation (session id) (kind 'workstation')
--   anything else        -> no label (kind 'unknown'): a failed login's username may be a
--                           mistyped code or a password typed in the wrong field.
-- Owned by captiva_definer, search_path with pg_temp last (see 40_quota_login).

-- THE label rule. Plain SQL, STABLE, not SECURITY DEFINER and without SET, so PostgreSQL
-- inlines it into the functions below; no role may call it directly. A workstation code is
-- looked up among the sessions issued by p_at (one minute of clock skew allowed, as
-- captiva_workstation_sessions_to_disconnect), else the latest: a code is unique only while
-- its session lives.
CREATE OR REPLACE FUNCTION captiva_account_label(p_username text, p_at timestamptz)
RETURNS TABLE (kind text, label text) LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN u.username IS NOT NULL THEN 'user'
                WHEN v.code IS NOT NULL THEN 'voucher'
                WHEN w.id IS NOT NULL THEN 'workstation'
                ELSE 'unknown' END,
           COALESCE(u.username, v.batch || '#' || v.index,
                    w.workstation || ' (session ' || w.id || ')')
    FROM (SELECT 1) AS one
    LEFT JOIN captiva_user AS u ON u.username = p_username
    LEFT JOIN captiva_voucher AS v ON v.code = p_username
    LEFT JOIN LATERAL (
        SELECT s.id, s.workstation FROM captiva_workstation_session AS s
        WHERE s.code = p_username
        ORDER BY s.issued_at <= COALESCE(p_at, now()) + interval '1 minute' DESC,
                 s.issued_at DESC
        LIMIT 1) AS w ON true
$$;

-- The sessions the console lists, labelled: p_open, the open ones newest first ("Online
-- now"); else the last closed ones, by their end ("Recently disconnected"). username: the
-- roster user's, else NULL. Each branch reads radacct through its own index, and the other
-- one is not run. (It replaces the two lists' own functions, captiva_staff_online and
-- captiva_staff_recent.)
DROP FUNCTION IF EXISTS captiva_staff_online(integer);
DROP FUNCTION IF EXISTS captiva_staff_recent(integer);
CREATE OR REPLACE FUNCTION captiva_staff_sessions(p_open boolean, p_limit integer)
RETURNS TABLE (
    radacctid bigint, account text, account_kind text, username text, started timestamptz,
    stopped timestamptz, updated timestamptz, ip text, mac text, bytes bigint, cause text,
    nasipaddress inet
) LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT a.radacctid, l.label, l.kind, CASE WHEN l.kind = 'user' THEN a.username END,
           a.acctstarttime, a.acctstoptime, a.acctupdatetime, host(a.framedipaddress),
           a.callingstationid, a.acctinputoctets + a.acctoutputoctets, a.acctterminatecause,
           a.nasipaddress
    FROM ((SELECT * FROM radacct WHERE p_open AND acctstoptime IS NULL
           ORDER BY acctstarttime DESC LIMIT p_limit)
          UNION ALL
          (SELECT * FROM radacct WHERE NOT p_open AND acctstoptime IS NOT NULL
           ORDER BY acctstoptime DESC LIMIT p_limit)) AS a
    CROSS JOIN LATERAL captiva_account_label(a.username, a.acctstarttime) AS l
    ORDER BY COALESCE(a.acctstoptime, a.acctstarttime) DESC
$$;

-- The last rejects of radpostauth ("Authentication failures"); never pass.
CREATE OR REPLACE FUNCTION captiva_staff_failures(p_limit integer DEFAULT 100)
RETURNS TABLE (
    at timestamptz, account text, account_kind text, username text, reply text,
    called text, mac text
) LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT p.authdate, l.label, l.kind, CASE WHEN l.kind = 'user' THEN p.username END,
           p.reply, p.calledstationid, p.callingstationid
    FROM (SELECT authdate, username, reply, calledstationid, callingstationid
          FROM radpostauth WHERE reply IS DISTINCT FROM 'Access-Accept'
          ORDER BY authdate DESC LIMIT p_limit) AS p
    CROSS JOIN LATERAL captiva_account_label(p.username, p.authdate) AS l
    ORDER BY p.authdate DESC
$$;

-- The roster users who used the most bytes since p_since (the console's "Top consumers"
-- candidates: an upper bound of each one's month, captiva/portal/data.py). As the owner: the
-- portal's row policy would probe captiva_user once per usage row of the whole campus,
-- where this join does it once per user.
CREATE OR REPLACE FUNCTION captiva_staff_top_bounds(p_since date, p_limit integer)
RETURNS TABLE (username text, upper bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT d.username, sum(d.bytes_in + d.bytes_out)::bigint AS upper
    FROM captiva_usage_daily AS d
    JOIN captiva_user AS u ON u.username = d.username
    WHERE d.day >= p_since
    GROUP BY d.username
    ORDER BY upper DESC, d.username
    LIMIT p_limit
$$;

-- The console's search by device (docs/portal.md, "Find the student"): the roster users
-- whose sessions in radacct came from a MAC starting with p_like (a LIKE pattern on
-- upper(callingstationid)) or, without p_like, from an address in p_net. As the owner: under
-- the portal's row policy, LIKE and <<= (not leakproof) would wait for the policy on every row
-- of radacct, without their indexes (7 s at 400,000 sessions). EXECUTE with the value as a
-- literal: the planner sees it, and uses the prefix and address indexes.
DROP FUNCTION IF EXISTS captiva_staff_users_by_mac(text);  -- now p_like here
DROP FUNCTION IF EXISTS captiva_staff_users_by_address(inet);  -- now p_net here
CREATE OR REPLACE FUNCTION captiva_staff_users_by_device(p_like text, p_net inet)
RETURNS TABLE (username text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF p_like IS NULL AND p_net IS NULL THEN
        RETURN;
    END IF;
    -- one address: equality, the plainest use of the index; a network: its range
    RETURN QUERY EXECUTE
        'SELECT DISTINCT a.username FROM radacct AS a'
        ' JOIN captiva_user AS u ON u.username = a.username WHERE '
        || CASE WHEN p_like IS NOT NULL
                THEN format('upper(a.callingstationid) LIKE %L', p_like)
                ELSE format('a.framedipaddress %s %L::inet',
                            CASE WHEN masklen(p_net) = CASE WHEN family(p_net) = 4 THEN 32
                                                            ELSE 128 END
                                 THEN '=' ELSE '<<=' END, p_net) END;
END
$$;

-- One user's entries of the applied-change log (the console's history): the log's users
-- lists hold every RADIUS user an apply touched, codes included, so the portal reads it
-- only through this function, for one user, without the lists.
CREATE OR REPLACE FUNCTION captiva_change_log_of(p_username text, p_limit integer DEFAULT 200)
RETURNS TABLE (
    applied_at timestamptz, event text, applied_by text, summary text, git_commit text
) LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT c.applied_at,
           CASE WHEN c.users->'added' @> to_jsonb(ARRAY[p_username]) THEN 'added'
                WHEN c.users->'removed' @> to_jsonb(ARRAY[p_username]) THEN 'removed'
                ELSE 'changed' END,
           c.applied_by, c.summary, c.git_commit
    FROM captiva_change_log AS c
    WHERE c.users @> jsonb_build_object('added', to_jsonb(ARRAY[p_username]))
       OR c.users @> jsonb_build_object('changed', to_jsonb(ARRAY[p_username]))
       OR c.users @> jsonb_build_object('removed', to_jsonb(ARRAY[p_username]))
    ORDER BY c.applied_at DESC
    LIMIT p_limit
$$;

-- The workstations' console board: captiva_workstation_board without the session code (the
-- card shows the session id). The code of a live session reaches only its own workstation's
-- kiosk (captiva_workstation_kiosk, by the workstation's address) and the operator who
-- issues it (captiva_workstation_issue).
CREATE OR REPLACE FUNCTION captiva_workstation_staff_board(
    p_site text, p_at timestamptz DEFAULT now(), p_offline_after integer DEFAULT 30
) RETURNS TABLE (
    name text, room text, status text, online boolean, session_id bigint, member text,
    remaining integer, closing_at timestamptz, language text, needs_login boolean
) LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT b.name, b.room, b.status, b.online, b.session_id, b.member, b.remaining,
           b.closing_at, b.language, b.needs_login
    FROM captiva_workstation_board(p_site, p_at, p_offline_after) AS b
$$;

ALTER FUNCTION captiva_account_label(text, timestamptz) OWNER TO captiva_definer;
ALTER FUNCTION captiva_staff_sessions(boolean, integer) OWNER TO captiva_definer;
ALTER FUNCTION captiva_staff_failures(integer) OWNER TO captiva_definer;
ALTER FUNCTION captiva_staff_top_bounds(date, integer) OWNER TO captiva_definer;
ALTER FUNCTION captiva_staff_users_by_device(text, inet) OWNER TO captiva_definer;
ALTER FUNCTION captiva_change_log_of(text, integer) OWNER TO captiva_definer;
ALTER FUNCTION captiva_workstation_staff_board(text, timestamptz, integer)
    OWNER TO captiva_definer;
REVOKE ALL ON FUNCTION captiva_account_label(text, timestamptz),
    captiva_staff_sessions(boolean, integer),
    captiva_staff_failures(integer),
    captiva_staff_top_bounds(date, integer),
    captiva_staff_users_by_device(text, inet),
    captiva_change_log_of(text, integer),
    captiva_workstation_staff_board(text, timestamptz, integer) FROM PUBLIC;
-- The portal: the staff's lists, one user's change log, the workstations' board. It loses
-- the board with codes (75_workstation_board_kiosk.sql grants it; the kiosk function still
-- uses it as its owner).
GRANT EXECUTE ON FUNCTION captiva_staff_sessions(boolean, integer),
    captiva_staff_failures(integer),
    captiva_staff_top_bounds(date, integer),
    captiva_staff_users_by_device(text, inet),
    captiva_change_log_of(text, integer),
    captiva_workstation_staff_board(text, timestamptz, integer) TO captiva_portal;
REVOKE EXECUTE ON FUNCTION captiva_workstation_board(text, timestamptz, integer)
    FROM captiva_portal;
