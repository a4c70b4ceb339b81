-- Urgent revocations through captiva_voucher_revoke (functions/87_voucher_revocation.sql)
-- only. INSERT ... ON CONFLICT (code) needs SELECT on code, which the portal and the jobs
-- lost in 0140: the function records the row as its owner, and no login role but the
-- reconcile writes the table directly any more.
REVOKE INSERT ON captiva_voucher_revocation FROM captiva_portal, captiva_jobs;
GRANT INSERT ON captiva_voucher_revocation TO captiva_definer;
