-- FreeRADIUS's authorize reads, folded into two statements (docs/freeradius.md, "A login's
-- reads").
--
--   captiva_authorize_fold   THE rule "may this user's group pass be folded", and the group
--   captiva_authorize_check  authorize_check_query: radcheck, the group's check rows, the login check
--   captiva_authorize_reply  authorize_reply_query: radreply, the group's reply rows, Fall-Through
--   captiva_authorize_groups group_membership_query, for the users that are not folded
--
-- rlm_sql 3.2.1 (rlm_sql.c, mod_authorize and rlm_sql_process_groups) reads a login in five
-- statements: the user's check rows, the user's reply rows, the user's groups, then the first
-- group's check and reply rows; a further group only when the one before replies
-- Fall-Through = Yes, or when its check rows do not match the request. Each rows' batch is
-- merged on its own (radius_pairmove: an operator sees only what the list held before the
-- batch). The login check (40_quota_login.sql) was a sixth statement, at post-auth.
--
-- Folded, the same login is two statements and gives FreeRADIUS the same lists, for the rows
-- this can be proved for:
--   - every check row, the user's and the group's, assigns with ":=" or "+=": paircompare
--     skips those, so they always match and only the first group counts;
--   - every reply row assigns with ":=", "=" or "+=", and none is Fall-Through;
--   - no group row ":=" an attribute the user's own rows hold (the sequential merge would
--     overwrite the user's; one merge would keep both), and a group reply row "=" whose
--     attribute the user's reply holds is left out (the sequential merge skips it).
-- The reply rows then end with Fall-Through := No, so rlm_sql skips its group pass (an
-- internal attribute: never sent to the NAS). Any other user, such as one whose rows an adopted
-- installation wrote with comparisons, gets rlm_sql's own five statements, unchanged.
--
-- The fold is computed once a login, by the check: its first row, Tmp-String-9 := <marker>,
-- says what it decided, and the reply query passes %{control:Tmp-String-9} back (rlm_sql
-- moves the check rows into the control list before it expands the reply query, and asks
-- the reply only when the check returned rows that matched). The marker is "fold:" and the
-- group's name in hex (UTF-8; '' when the user is in none), or "-" when not folded: hex, as
-- rlm_sql escapes a value it puts in a query (=XX for whatever is not in its
-- safe_characters), which would change a group's name but leaves hex digits alone.
-- control:Tmp-String-9 is set by nothing else (Tmp-String-9 is otherwise the request's: the
-- login buffer's record); an internal attribute, never sent. The marker comes first, so a
-- radcheck row of that attribute, were one written, comes after it and is not the one read.
--
-- Runs as FreeRADIUS's role, which reads the rad* tables; read-only, so a replica answers
-- (docs/ha.md). plpgsql: plans kept per connection.

-- The group to fold for p_username ('' when the user is in none), or NULL when rlm_sql must
-- read the user's groups itself.
CREATE OR REPLACE FUNCTION captiva_authorize_fold(p_username text)
RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    grp text;
BEGIN
    IF EXISTS (SELECT FROM radcheck AS r
               WHERE r.username = p_username AND r.op NOT IN (':=', '+='))
       OR EXISTS (SELECT FROM radreply AS r
                  WHERE r.username = p_username
                    AND (r.op NOT IN (':=', '=', '+=') OR r.attribute = 'Fall-Through')) THEN
        RETURN NULL;
    END IF;
    SELECT m.groupname INTO grp FROM radusergroup AS m
    WHERE m.username = p_username
    ORDER BY m.priority, m.groupname
    LIMIT 1;
    IF grp IS NULL THEN
        RETURN '';
    END IF;
    IF EXISTS (SELECT FROM radgroupcheck AS c
               WHERE c.groupname = grp
                 AND (c.op NOT IN (':=', '+=')
                      OR (c.op = ':=' AND (
                          c.attribute IN ('Cleartext-Password', 'Crypt-Password')
                          OR EXISTS (SELECT FROM radcheck AS r
                                     WHERE r.username = p_username
                                       AND r.attribute = c.attribute)))))
       OR EXISTS (SELECT FROM radgroupreply AS g
                  WHERE g.groupname = grp
                    AND (g.op NOT IN (':=', '=', '+=') OR g.attribute = 'Fall-Through'
                         OR (g.op = ':=' AND EXISTS (SELECT FROM radreply AS r
                                                     WHERE r.username = p_username
                                                       AND r.attribute = g.attribute)))) THEN
        RETURN NULL;
    END IF;
    RETURN grp;
END
$$;

-- authorize_check_query. The fold's marker (above), then the user's radcheck rows
-- (captiva_radcheck: a student-set password in place of the roster's); folded, the group's
-- check rows after them and, when p_nas is given (the quota is on), the login check's answer
-- as Tmp-String-0 := (the string captiva_login_check_xlat returns, which policy.d/
-- captiva_quota reads at post-auth instead of asking again). The login check is left to
-- post-auth when the Simultaneous-Use in force is not one ":=" value; the Simultaneous-Use
-- rows are collected while the rows are returned, not read again. No radcheck row: no row
-- at all, not even the marker, as rlm_sql then reads the groups.
CREATE OR REPLACE FUNCTION captiva_authorize_check(
    p_username text, p_nas text DEFAULT NULL, p_calling_station text DEFAULT ''
) RETURNS SETOF captiva_radius_row
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    grp text := captiva_authorize_fold(p_username);
    rad captiva_radius_row;
    found_rows boolean := false;
    simultaneous text[] := '{}';
BEGIN
    FOR rad IN SELECT * FROM captiva_radcheck(p_username) LOOP
        IF NOT found_rows THEN
            found_rows := true;
            RETURN NEXT ROW(0, p_username, 'Tmp-String-9',
                            CASE WHEN grp IS NULL THEN '-'
                                 ELSE 'fold:' || encode(convert_to(grp, 'UTF8'), 'hex') END,
                            ':=')::captiva_radius_row;
        END IF;
        IF rad.attribute = 'Simultaneous-Use' THEN
            simultaneous := simultaneous || (rad.op || rad.value);
        END IF;
        RETURN NEXT rad;
    END LOOP;
    IF NOT found_rows OR grp IS NULL THEN
        RETURN;
    END IF;
    FOR rad IN SELECT c.id, c.groupname::text, c.attribute::text, c.value::text, c.op::text
               FROM radgroupcheck AS c WHERE c.groupname = grp ORDER BY c.id LOOP
        IF rad.attribute = 'Simultaneous-Use' THEN
            simultaneous := simultaneous || (rad.op || rad.value);
        END IF;
        RETURN NEXT rad;
    END LOOP;
    IF p_nas IS NULL THEN
        RETURN;
    END IF;
    IF cardinality(simultaneous) = 0
       OR (cardinality(simultaneous) = 1 AND simultaneous[1] ~ '^:=[0-9]{1,9}$') THEN
        -- RETURN NEXT of an expression, not RETURN QUERY: no statement to run.
        RETURN NEXT ROW(0, p_username, 'Tmp-String-0',
                        captiva_login_check_xlat(p_username, p_nas, p_calling_station,
                                                 COALESCE(substr(simultaneous[1], 3), '')),
                        ':=')::captiva_radius_row;
    END IF;
END
$$;

-- authorize_reply_query. The user's radreply rows; folded, the group's reply rows after them
-- and Fall-Through := No. p_fold is the check's marker: "fold:<hex>" or "-" as the check
-- decided; '' or NULL (no marker: a configuration from before the marker, a direct call)
-- decides here, as the check does. Any other value is refused: the marker is never taken for
-- anything but a fold. It names a group to read, which gives the caller nothing it could not
-- read itself: the function runs with the caller's rights (FreeRADIUS's role, the only one
-- allowed to call it, reads the rad* tables).
DROP FUNCTION IF EXISTS captiva_authorize_reply(text);
CREATE OR REPLACE FUNCTION captiva_authorize_reply(p_username text, p_fold text DEFAULT '')
RETURNS SETOF captiva_radius_row
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    grp text;
BEGIN
    IF COALESCE(p_fold, '') = '' THEN
        grp := captiva_authorize_fold(p_username);
    ELSIF p_fold ~ '^fold:([0-9a-f]{2})*$' THEN
        grp := convert_from(decode(substr(p_fold, 6), 'hex'), 'UTF8');
    ELSIF p_fold <> '-' THEN
        RAISE EXCEPTION 'captiva_authorize_reply: not a fold marker (41_authorize.sql)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY SELECT r.id, r.username::text, r.attribute::text, r.value::text, r.op::text
                 FROM radreply AS r WHERE r.username = p_username ORDER BY r.id;
    IF grp IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY SELECT g.id, g.groupname::text, g.attribute::text, g.value::text, g.op::text
                 FROM radgroupreply AS g
                 WHERE g.groupname = grp
                   AND NOT (g.op = '=' AND EXISTS (SELECT FROM radreply AS r
                                                   WHERE r.username = p_username
                                                     AND r.attribute = g.attribute))
                 ORDER BY g.id;
    -- RETURN NEXT of an expression, not RETURN QUERY: no statement to run.
    RETURN NEXT ROW(0, p_username, 'Fall-Through', 'No', ':=')::captiva_radius_row;
END
$$;

-- group_membership_query: the user's groups in rlm_sql's order (priority; the name breaks a
-- tie, as captiva_authorize_fold does). Only asked for users that are not folded, and by
-- SQL-Group comparisons.
CREATE OR REPLACE FUNCTION captiva_authorize_groups(p_username text)
RETURNS TABLE (groupname text)
LANGUAGE sql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT m.groupname::text FROM radusergroup AS m
    WHERE m.username = p_username
    ORDER BY m.priority, m.groupname
$$;

REVOKE ALL ON FUNCTION captiva_authorize_fold(text), captiva_authorize_check(text, text, text),
    captiva_authorize_reply(text, text), captiva_authorize_groups(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION captiva_authorize_fold(text), captiva_authorize_check(text, text, text),
    captiva_authorize_reply(text, text), captiva_authorize_groups(text) TO captiva_freeradius;
