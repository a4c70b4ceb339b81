-- Students' devices (docs/portal.md, "For students"): the name a student gives a device (a MAC
-- address of their sessions) and whether it is blocked for that account. FreeRADIUS rejects a
-- blocked device's Access-Request for that user (policy.d/captiva_device_block). MAC addresses
-- are kept in one form, AA:BB:CC:DD:EE:FF (captiva_mac_normal, functions/91_student_devices.sql).
-- No login role writes this table: captiva_device_act does, each change audited.
CREATE TABLE captiva_device (
    username text NOT NULL REFERENCES captiva_user (username) ON DELETE CASCADE,
    mac text NOT NULL CHECK (mac ~ '^([0-9A-F]{2}:){5}[0-9A-F]{2}$'),
    name text CHECK (char_length(name) BETWEEN 1 AND 40),
    blocked boolean NOT NULL DEFAULT false,
    -- the account itself or a staff member
    changed_by text NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (username, mac)
);

REVOKE ALL ON captiva_device FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON captiva_device TO captiva_definer;
-- The student's page and the console's user page show the names and blocks.
GRANT SELECT ON captiva_device TO captiva_portal;
