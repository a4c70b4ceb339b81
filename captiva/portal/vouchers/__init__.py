"""Voucher holders' page and the staff's batch view (docs/vouchers.md, "Portal"): views.py
(routes and handlers), data.py (what they read and write, through SQL functions), text.py
(their French and English strings)."""
