"""Public workstations (docs/workstations.md): the operators' console per site and the kiosk
page: views.py (routes and handlers), data.py (the SQL functions they call), live.py (the
boards' live updates), text.py (their French and English strings)."""
