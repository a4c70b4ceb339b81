-- Ownership marker (docs/architecture.md): rows Captiva writes carry managed_by = 'captiva';
-- any other row (NULL or another value) belongs to someone else and is never read for
-- planning, changed or deleted by Captiva.
ALTER TABLE radcheck ADD COLUMN managed_by varchar(32) NULL;
ALTER TABLE radreply ADD COLUMN managed_by varchar(32) NULL;
ALTER TABLE radgroupcheck ADD COLUMN managed_by varchar(32) NULL;
ALTER TABLE radgroupreply ADD COLUMN managed_by varchar(32) NULL;
ALTER TABLE radusergroup ADD COLUMN managed_by varchar(32) NULL;

-- One Captiva membership per user; memberships of other owners are not constrained.
CREATE UNIQUE INDEX radusergroup_captiva_username_key ON radusergroup (username)
    WHERE managed_by = 'captiva';

-- The reconcile reads all rows of one owner at once.
CREATE INDEX radcheck_managed_by_idx ON radcheck (managed_by, username)
    WHERE managed_by IS NOT NULL;
CREATE INDEX radreply_managed_by_idx ON radreply (managed_by, username)
    WHERE managed_by IS NOT NULL;
CREATE INDEX radgroupcheck_managed_by_idx ON radgroupcheck (managed_by, groupname)
    WHERE managed_by IS NOT NULL;
CREATE INDEX radgroupreply_managed_by_idx ON radgroupreply (managed_by, groupname)
    WHERE managed_by IS NOT NULL;
CREATE INDEX radusergroup_managed_by_idx ON radusergroup (managed_by, username)
    WHERE managed_by IS NOT NULL;
