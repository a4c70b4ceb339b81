"""Students' devices: the actions on one device of an account, by the student or an admin
(functions/91_student_devices.sql decides, normalises the MAC address and audits; docs/portal.md,
"For students"). The list itself is the dashboard's (data.py, ``devices``)."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

NAME_MAX = 40
# form action -> audited action (captiva_audit.action)
ACTIONS = {"rename": "device-rename", "block": "device-block", "unblock": "device-unblock",
           "disconnect": "device-disconnect"}


class DeviceRefused(ValueError):
    """An action refused; the message key says why (devices_text)."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


@dataclass(frozen=True)
class Done:
    mac: str  # as stored: AA:BB:CC:DD:EE:FF
    sessions: int  # disconnect: the sessions asked to end

    def notice(self, action: str) -> str:
        if action == "disconnect":
            return "devices.disconnected" if self.sessions else "devices.nothing_to_disconnect"
        return {"rename": "devices.renamed", "block": "devices.blocked_done",
                "unblock": "devices.unblocked_done"}[action]


def act(conn, actor: str, username: str, action: str, mac: str, name: str = "",
        reason: str = "") -> Done:
    """One action on ``username``'s device ``mac`` (any usual form) by ``actor``: the
    account itself, or a staff member whose role the database checks (admin)."""
    if action not in ACTIONS:
        raise DeviceRefused("error.not_found")
    if action == "rename" and len(name.strip()) > NAME_MAX:
        raise DeviceRefused("devices.name_too_long")
    try:
        with conn.transaction():
            row = conn.execute(
                "SELECT mac, sessions FROM captiva_device_act(%s, %s, %s, %s, %s, %s)",
                (actor, username, mac[:64], ACTIONS[action], name, reason[:500])).fetchone()
    except psycopg.errors.InsufficientPrivilege:
        raise DeviceRefused("error.read_only") from None
    except psycopg.errors.InvalidParameterValue:
        raise DeviceRefused("devices.bad_mac") from None
    return Done(row[0], row[1])
