"""The runtime's one way to hash a user's password as RADIUS checks it.

sha512-crypt with the default 5,000 rounds (``$6$salt$hash``, no ``rounds=`` field): what
crypt(3) writes and FreeRADIUS's Crypt-Password checks, and what ``openssl passwd -6`` writes.
The import tools (``import-csv``, ``adopt-db``, ``adopt-routeros``) and the portal (password
change, reset, sign-up) all hash here. The reconcile module runs on the controller, where it
hashes through passlib (``plugins/module_utils/captiva_radius_plan._crypt``); the runtime's
hosts do not install passlib, and tests/unit/test_passwords.py holds the two compatible.
"""

from __future__ import annotations

import warnings


def sha512_crypt(password: str) -> str:
    """A new sha512-crypt hash of ``password`` (a fresh salt each call)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import crypt
        except ImportError:  # Python 3.13+: passlib provides the same scheme
            crypt = None
    if crypt is not None:
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))
    from passlib.hash import sha512_crypt as scheme

    return scheme.using(rounds=5000).hash(password)
