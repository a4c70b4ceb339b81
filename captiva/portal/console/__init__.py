"""The helpdesk's console (docs/portal.md, "What staff see"): views.py (routes and handlers),
data.py (search, a user's page, history), overview_data.py (the overview's lists),
actions.py (grants and disconnects, audited), registrations_views.py (the sign-up requests'
review), text.py (French and English strings)."""
