"""A RouterOS API server for Captiva's tests and lab: the real wire protocol over menus whose
fields come from community.routeros's schema (imported at runtime, never copied here), and the
router's RADIUS Disconnect/CoA listener (coa.py). ``/file`` keeps files as RouterOS 7.9+
does over the API (add/set with contents, print with size and contents, 60 KB at most): the
mikrotik role puts the hotspot login page there."""
