"""Who is staff, and what their role lets the pages offer (docs/portal.md, "What staff see").

``captiva_staff`` is reconciled from the roster's ``captiva_staff``: ``admin`` acts,
``operator`` and ``viewer`` read; operators act on their sites' workstations. One notion of
role for the whole portal: every room asks :class:`Staff` which forms to offer, and the
database decides again (captiva_audit_record, captiva_workstation_may_act).
"""

from __future__ import annotations

from dataclasses import dataclass

# How old a staff member's role may be when a page reads it (the shell's cache).
STAFF_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class Staff:
    """A staff member and what their role may do: every page asks here which forms to offer
    and refuses first; the database decides again (captiva_audit_record,
    captiva_workstation_may_act), with the same rules."""

    username: str
    role: str  # admin | operator | viewer
    sites: tuple[str, ...]

    @property
    def can_act(self) -> bool:
        """Grants, resets, disconnects, revocations, a student's devices: admins."""
        return self.role == "admin"

    @property
    def can_review(self) -> bool:
        """Sign-up requests (approve, reject): admins and operators."""
        return self.role in ("admin", "operator")

    def can_act_at(self, site: str) -> bool:
        """A site's workstations: admins, and operators of that site (or of every site)."""
        return self.role == "admin" or (self.role == "operator"
                                        and (not self.sites or site in self.sites))


def staff_member(conn, username: str) -> Staff | None:
    row = conn.execute("SELECT username, role, sites FROM captiva_staff WHERE username = %s",
                       (username,)).fetchone()
    return Staff(row[0], row[1], tuple(row[2])) if row else None
