"""Vouchers on the controller: print a batch's cards (PDF) or export it (CSV).

The batch model and the codes live in ``plugins/module_utils/captiva_vouchers.py`` (shared
with the roster's validation); this package only turns validated batches into paper.
"""

from __future__ import annotations

import functools
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def module_utils() -> types.SimpleNamespace:
    """The shared Python of ``plugins/module_utils`` (run from a checkout of the repository,
    on the controller, like ``ansible-playbook``)."""
    import ansible.module_utils

    path = str(ROOT / "plugins" / "module_utils")
    if path not in ansible.module_utils.__path__:
        ansible.module_utils.__path__.append(path)
    from ansible.module_utils import captiva_roster_io, captiva_units, captiva_vouchers

    return types.SimpleNamespace(vouchers=captiva_vouchers, units=captiva_units,
                                 roster_io=captiva_roster_io)
