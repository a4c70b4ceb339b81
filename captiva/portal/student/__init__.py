"""The students' pages (docs/portal.md, "What students see" and "For students"): views.py and
data.py are their own page (/me); each other feature has its own rooms,
``<feature>_views.py`` / ``_data.py`` / ``_text.py``: password_*, devices_*, signup_* (the
sign-up's review by staff included)."""
