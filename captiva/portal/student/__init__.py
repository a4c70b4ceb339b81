"""The students' pages (docs/portal.md, "What students see" and "For students"): views.py,
data.py and text.py are their own page (/me); each other feature has the same rooms,
``<feature>_views.py`` / ``_data.py`` / ``_text.py``: password_*, devices_*, signup_* (the
staff's review of the requests is the console's, console/registrations_views.py)."""
