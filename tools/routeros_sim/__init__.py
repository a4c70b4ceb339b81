"""A RouterOS API server for Captiva's tests and lab: the real wire protocol over menus whose
fields come from community.routeros's schema (imported at runtime, never copied here), and the
router's RADIUS Disconnect/CoA listener (coa.py)."""
