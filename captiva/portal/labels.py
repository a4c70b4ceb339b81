"""What the portal's log says of a login name: never a code (docs/portal.md, "Labels, never codes").

For a voucher or a workstation session the username is also the password, so a log line
naming it would hand the code to whoever reads the log. A name shaped like a code is logged
as ``code#<fingerprint>``: a keyed hash (the session secret is the key) that lets one follow
the attempts of one code, and gives nothing to guess it from. Other names are logged with
``repr()``, so a newline in a name cannot forge a log line.

The staff's pages and exports get their labels from SQL (``batch#index``; the workstation and
the session id: roles/postgres/files/functions/85_staff_labels.sql); the log has no database
at hand, hence the fingerprint.
"""

from __future__ import annotations

import hashlib
import re

from captiva.vouchers import is_code

# Look-alikes a guest may type for a code's characters (docs/vouchers.md, "Typed input").
_LOOKALIKES = str.maketrans("SZGB", "5268")
# A workstation session code: P and digits (8 today; up to 16 are masked, so a longer code
# drawn later is still never logged; keep in step with the roster's SESSION_CODE,
# plugins/module_utils/captiva_workstations.py).
_SESSION_CODE = re.compile(r"P[0-9]{8,16}")


def _compact(name: str) -> str:
    return "".join(char for char in name.upper() if char.isalnum())


def looks_like_code(name: str) -> bool:
    """Whether ``name``, typed in any case, with spaces or dashes, is shaped like a voucher
    code or a workstation session code."""
    compact = _compact(name)
    return is_code(compact.translate(_LOOKALIKES)) or _SESSION_CODE.fullmatch(compact) is not None


def log_name(name: str, key: bytes) -> str:
    """``name`` as a log line may show it."""
    if looks_like_code(name):
        compact = _compact(name).translate(_LOOKALIKES)
        digest = hashlib.blake2b(compact.encode(), key=key[:64], digest_size=4).hexdigest()
        return f"code#{digest}"
    return repr(name)
