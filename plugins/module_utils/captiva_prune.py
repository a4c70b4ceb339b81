"""The prune guard: one rule for every reconcile that removes what is no longer declared.

A truncated or emptied roster must not wipe the RADIUS database or a router. A run may remove
at most ``limit(owned) = min(max_count, max(1, ceil(max_ratio * owned)))`` of the ``owned``
entries Captiva manages there (at least one, so a small roster can always lose one entry),
unless mass pruning is allowed explicitly for that run. Settings (README, "Prune guard"):
``captiva_prune_max_ratio``, ``captiva_prune_max_count``, ``captiva_allow_mass_prune``;
module options ``prune_max_ratio``, ``prune_max_count``, ``allow_mass_prune``.

Pure Python, no Ansible imports.
"""

from __future__ import annotations

import math

DEFAULT_MAX_RATIO = 0.1
DEFAULT_MAX_COUNT = 500
# The modules' options (documented in plugins/doc_fragments/prune_guard.py).
ARGUMENT_SPEC = {
    "prune_max_ratio": {"type": "float", "default": DEFAULT_MAX_RATIO},
    "prune_max_count": {"type": "int", "default": DEFAULT_MAX_COUNT},
    "allow_mass_prune": {"type": "bool", "default": False},
}


class PruneRefused(Exception):
    """Removing this many entries needs an explicit ``allow_mass_prune``."""


def prune_limit(owned: int, max_ratio: float = DEFAULT_MAX_RATIO,
                max_count: int = DEFAULT_MAX_COUNT) -> int:
    """How many of ``owned`` entries one run may remove."""
    return min(max_count, max(1, math.ceil(max_ratio * owned)))


def check_prune(removed: int, owned: int, what: str, *, max_ratio: float = DEFAULT_MAX_RATIO,
                max_count: int = DEFAULT_MAX_COUNT, allow_mass_prune: bool = False) -> None:
    """Raise :class:`PruneRefused` when removing ``removed`` of ``owned`` ``what`` (a plural
    noun for the message) exceeds :func:`prune_limit`, unless ``allow_mass_prune``."""
    limit = prune_limit(owned, max_ratio, max_count)
    if allow_mass_prune or removed <= limit:
        return
    raise PruneRefused(
        f"refusing to remove {removed} of the {owned} {what} (the prune guard allows {limit}: "
        f"{max_ratio:.0%} of them, at least 1, at most {max_count}); check the roster, or if "
        "this is intended run again with allow_mass_prune (-e captiva_allow_mass_prune=true)")
