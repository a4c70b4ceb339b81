"""The students' status portal: usage, sessions and devices; the staff's console; voucher
holders' and public workstations' pages; a JSON API.

ASGI (Starlette) served by uvicorn (``captiva-portal``). Logins are checked by FreeRADIUS
(RADIUS Access-Request from the portal's own client); the portal reads the database as the
read-only ``captiva_portal`` role and never sees a stored password. docs/portal.md.

A thin shell (app.py, shell.py, login.py, security.py, i18n.py) and one room per audience,
each with its views, data and text: student/, console/, vouchers/, workstations/.
"""
