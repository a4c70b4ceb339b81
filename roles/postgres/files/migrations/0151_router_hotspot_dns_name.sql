-- The hotspot's DNS name of each router (the roster's captiva_sites[].routers[].hotspot.dns_name;
-- NULL when it has none), written by the reconcile: the portal's kiosk page sends a
-- workstation's session code only to a hotspot login URL whose host is one of its site's
-- routers' dns_name or address (docs/workstations.md, "The kiosk page").
ALTER TABLE captiva_router ADD COLUMN hotspot_dns_name text;
