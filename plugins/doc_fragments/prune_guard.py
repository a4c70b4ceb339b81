"""The prune guard's options of captiva_radius and captiva_routeros (module_utils
captiva_prune.ARGUMENT_SPEC), documented once."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  prune_max_ratio:
    description:
      - The prune guard (README, "Prune guard"), one rule for the RADIUS database and the
        routers. A run may remove at most
        C(min(prune_max_count, max(1, ceil(prune_max_ratio x owned)))) of the C(owned) entries
        Captiva manages there (the users, or a router's entries); a plan that removes more
        fails before any write.
    type: float
    default: 0.1
  prune_max_count:
    description: Largest number of entries one run may remove (see O(prune_max_ratio)).
    type: int
    default: 500
  allow_mass_prune:
    description: Lift the prune guard for this run.
    type: bool
    default: false
"""
