"""Password check by RADIUS: an Access-Request from the portal's client to FreeRADIUS.

FreeRADIUS knows the portal by its source address and secret (``freeradius_portal_client``):
it checks the password, the status groups and Expiration, but not Simultaneous-Use nor the
quota, so a student over quota can still read their figures. Requests and replies carry a
Message-Authenticator, and a reply without a valid one is ignored (BlastRADIUS).
The password is only ever in the encrypted User-Password attribute; it is never logged.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from pyrad import packet
from pyrad.client import Client, Timeout
from pyrad.dictionary import Dictionary

from captiva.portal.config import RadiusConfig

log = logging.getLogger("captiva.portal.radius")

# The attributes the portal sends or reads (RFC 2865, RFC 2869).
_DICTIONARY = """\
ATTRIBUTE User-Name 1 string
ATTRIBUTE User-Password 2 string encrypt=1
ATTRIBUTE NAS-IP-Address 4 ipaddr
ATTRIBUTE Service-Type 6 integer
ATTRIBUTE Reply-Message 18 string
ATTRIBUTE Class 25 octets
ATTRIBUTE Calling-Station-Id 31 string
ATTRIBUTE NAS-Identifier 32 string
ATTRIBUTE Message-Authenticator 80 octets
VALUE Service-Type Login-User 1
"""
DICTIONARY = Dictionary(io.StringIO(_DICTIONARY))


class RadiusUnavailable(RuntimeError):
    """No valid answer from the RADIUS server."""


@dataclass(frozen=True)
class AuthResult:
    accepted: bool
    reply_message: str | None = None


def authenticate(config: RadiusConfig, username: str, password: str,
                 calling_station: str | None = None) -> AuthResult:
    """One Access-Request (PAP); raises RadiusUnavailable on timeout or socket error."""
    client = Client(server=config.server, authport=config.port, secret=config.secret.encode(),
                    dict=DICTIONARY, retries=config.retries, timeout=config.timeout,
                    enforce_ma=True)
    try:
        if config.source_address:
            client.bind((config.source_address, 0))
        request = client.CreateAuthPacket(code=packet.AccessRequest, User_Name=username,
                                          NAS_Identifier=config.nas_identifier,
                                          Service_Type="Login-User",
                                          message_authenticator=True)
        request["User-Password"] = request.PwCrypt(password)
        if calling_station:
            request["Calling-Station-Id"] = calling_station[:64]
        try:
            reply = client.SendPacket(request)
        except Timeout as exc:
            raise RadiusUnavailable(f"no answer from {config.server}:{config.port}") from exc
        except OSError as exc:
            raise RadiusUnavailable(f"{config.server}:{config.port}: {exc}") from exc
    finally:
        client._CloseSocket()  # noqa: SLF001 - pyrad has no public close
    message = None
    if "Reply-Message" in reply:
        message = " ".join(reply["Reply-Message"])
    return AuthResult(reply.code == packet.AccessAccept, message)
