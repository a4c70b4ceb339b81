"""What students do themselves on the portal (issue 25): each feature in the same rooms,
``<feature>_views.py`` / data / text; the password pages are views.py, data.py, text.py."""
