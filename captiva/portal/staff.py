"""Who is staff, and what their role lets the pages offer (docs/portal.md, "What staff see").

``captiva_staff`` is reconciled from the roster's ``captiva_staff``. What a role may do is
the one policy's, captiva/authz.py: every room asks :class:`Staff` which forms to offer,
Staff asks the policy, and the database decides again from the same policy
(captiva_authz_role, 15_authz.sql).
"""

from __future__ import annotations

from dataclasses import dataclass

from captiva import authz

# How old a staff member's role may be when a page reads it (the shell's cache).
STAFF_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class Staff:
    """A staff member; what their role lets them do is the policy's (captiva.authz): every
    page asks here which forms to offer and refuses first, and the database decides again
    from the same policy."""

    username: str
    role: str  # admin | operator | viewer
    sites: tuple[str, ...]

    def may(self, action: str, site: str | None = None) -> bool:
        """Whether the policy lets this member take ``action`` (at ``site``)."""
        return authz.allows(self.role, action, sites=self.sites, site=site)

    @property
    def can_act(self) -> bool:
        """A user's account: grants, resets, disconnects, devices (the policy gives them all
        one row, tests/unit/test_authz.py)."""
        return self.may("grant")

    @property
    def can_revoke(self) -> bool:
        """A voucher code, now."""
        return self.may("voucher-revoke")

    @property
    def can_review(self) -> bool:
        """Sign-up requests (approve, reject)."""
        return self.may("registration-approve")

    def can_act_at(self, site: str) -> bool:
        """A site's workstations (the policy gives their actions one row)."""
        return self.may("issue", site)


def staff_member(conn, username: str) -> Staff | None:
    row = conn.execute("SELECT username, role, sites FROM captiva_staff WHERE username = %s",
                       (username,)).fetchone()
    return Staff(row[0], row[1], tuple(row[2])) if row else None
