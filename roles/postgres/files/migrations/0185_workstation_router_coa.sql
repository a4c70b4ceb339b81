-- Public workstations add time by CoA (docs/workstations.md, "Add time on the live session"):
-- the enforce job sends the router a CoA-Request with the new Session-Timeout and, on a
-- CoA-ACK, records the router's new end in router_until. After a NAK or no answer, the grant
-- it tried is kept here, so the same grant is not tried again every minute: the kiosk's
-- re-login is the fallback, and a later time change (another grant) tries a CoA again.
ALTER TABLE captiva_workstation_session ADD COLUMN router_coa_failed_granted integer;
