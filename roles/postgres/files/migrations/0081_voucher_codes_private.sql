-- A voucher's code is its password: only the reconcile (which writes it) and the SECURITY
-- DEFINER functions of functions/80_vouchers.sql (owner captiva_definer) read
-- captiva_voucher. 0080 let the portal and the jobs read it; they reach a code's state
-- through captiva_voucher_judge and captiva_voucher_sessions_to_disconnect instead.
REVOKE SELECT ON captiva_voucher FROM captiva_portal, captiva_jobs;
-- What the admin pages and reports need: batches and counts, never the codes.
GRANT SELECT (batch, index) ON captiva_voucher TO captiva_portal, captiva_jobs;
