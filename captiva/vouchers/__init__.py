"""Vouchers on the controller: print a batch's cards (PDF) or export it (CSV).

The batch model and the codes live in ``plugins/module_utils/captiva_vouchers.py`` (shared
with the roster's validation); this package only turns validated batches into paper.
"""

from __future__ import annotations

import functools
import re
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A compact code's shape, as FreeRADIUS's policy.d/captiva_voucher and the tables check it.
CODE_SHAPE = re.compile(r"[2-9ACEFHJKMNPRTWXY]{10}")


def compact(typed: str) -> str:
    """The compact form of a code typed as printed (K7HM-3XPW-9H) or not. Hosts without the
    roster (the jobs', the portal's) use this; the database says whether the code exists, so
    no check character here (``captiva_vouchers.normalise`` is the full rule)."""
    return "".join(char for char in typed.upper() if char.isalnum())


# The code rules of plugins/module_utils/captiva_vouchers (ALPHABET, CODE_LENGTH, the
# look-alikes S Z G B, the check character), for hosts without Ansible or the repository (the
# portal's): tests/unit/test_voucher_codes_runtime.py holds them equal to that file's
# ``normalise``, the rule's owner.
_ALPHABET = "23456789ACEFHJKMNPRTWXY"
_LOOKALIKES = str.maketrans({"Z": "2", "S": "5", "G": "6", "B": "8"})


def checked(typed: str) -> str | None:
    """The compact code of what a holder typed when its length, alphabet and check character
    are right (as ``captiva_vouchers.normalise`` reads it), else None: a mistyped code is
    refused before RADIUS is asked."""
    code = "".join(char for char in typed.upper() if char not in " -_.\t").translate(_LOOKALIKES)
    if len(code) != 10 or any(char not in _ALPHABET for char in code):
        return None
    total = sum((i + 1) * _ALPHABET.index(char) for i, char in enumerate(code))
    return code if total % len(_ALPHABET) == 0 else None


def is_code(username: str) -> bool:
    """Whether a RADIUS username is shaped like a compact voucher code."""
    return CODE_SHAPE.fullmatch(username) is not None


@functools.cache
def module_utils() -> types.SimpleNamespace:
    """The shared Python of the collection's ``plugins/module_utils``, on the controller (the
    virtualenv of ``make venv`` imports it, lab/lab ``link_collection``); imported on first use:
    the hosts (portal, jobs) use the code shape above and never this."""
    from ansible_collections.captiva.campus.plugins.module_utils import (
        captiva_roster_io,
        captiva_units,
        captiva_vouchers,
    )

    return types.SimpleNamespace(vouchers=captiva_vouchers, units=captiva_units,
                                 roster_io=captiva_roster_io)
