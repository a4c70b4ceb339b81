"""The students' status portal: usage, sessions and devices; an admin view; a JSON API.

ASGI (Starlette) served by uvicorn (``captiva-portal``). Logins are checked by FreeRADIUS
(RADIUS Access-Request from the portal's own client); the portal reads the database as the
read-only ``captiva_portal`` role and never sees a stored password. docs/portal.md.
"""
