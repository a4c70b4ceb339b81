"""RFC 5176 Disconnect-Request to a NAS (MikroTik /radius incoming), with pyrad.

The request carries User-Name, Acct-Session-Id and Framed-IP-Address of the radacct row and a
Message-Authenticator (RouterOS 7.15+ may require it; BlastRADIUS). No NAS-IP-Address: a value
different from the router's own makes it NAK.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from pyrad import packet
from pyrad.client import Client, Timeout
from pyrad.dictionary import Dictionary

# The few attributes Captiva sends and reads (pyrad cannot load FreeRADIUS's full dictionary).
DICTIONARY_TEXT = """\
ATTRIBUTE\tUser-Name\t\t1\tstring
ATTRIBUTE\tNAS-IP-Address\t\t4\tipaddr
ATTRIBUTE\tFramed-IP-Address\t8\tipaddr
ATTRIBUTE\tReply-Message\t\t18\tstring
ATTRIBUTE\tAcct-Session-Id\t\t44\tstring
ATTRIBUTE\tEvent-Timestamp\t\t55\tdate
ATTRIBUTE\tMessage-Authenticator\t80\toctets
ATTRIBUTE\tError-Cause\t\t101\tinteger
"""


def dictionary() -> Dictionary:
    return Dictionary(io.StringIO(DICTIONARY_TEXT))


@dataclass(frozen=True)
class Outcome:
    result: str  # ack | nak | timeout | error
    error_cause: int | None = None
    detail: str | None = None


def disconnect(nas: str, port: int, secret: str, *, username: str | None,
               session_id: str | None, framed_ip: str | None, timeout: float = 3.0,
               retries: int = 2) -> Outcome:
    """Send one Disconnect-Request and classify the answer."""
    client = Client(server=nas, secret=secret.encode(), dict=dictionary(), coaport=port,
                    timeout=timeout, retries=retries, enforce_ma=True)
    attributes = {}
    if username:
        attributes["User_Name"] = username
    if session_id:
        attributes["Acct_Session_Id"] = session_id
    if framed_ip:
        attributes["Framed_IP_Address"] = framed_ip
    request = client.CreateCoAPacket(code=packet.DisconnectRequest, message_authenticator=True,
                                     **attributes)
    try:
        reply = client.SendPacket(request)
    except Timeout:
        return Outcome("timeout", detail=f"no answer from {nas}:{port}")
    except (OSError, packet.PacketError) as exc:
        return Outcome("error", detail=f"{type(exc).__name__}: {exc}")
    finally:
        client._CloseSocket()  # pyrad keeps the socket otherwise
    cause = reply["Error-Cause"][0] if "Error-Cause" in reply else None
    if isinstance(cause, bytes):
        cause = int.from_bytes(cause, "big")
    if reply.code == packet.DisconnectACK:
        return Outcome("ack", cause)
    if reply.code == packet.DisconnectNAK:
        return Outcome("nak", cause, _ERROR_CAUSES.get(cause))
    return Outcome("error", cause, f"unexpected reply code {reply.code}")


_ERROR_CAUSES = {
    401: "Unsupported Attribute",
    402: "Missing Attribute",
    403: "NAS Identification Mismatch",
    404: "Invalid Request",
    501: "Administratively Prohibited",
    503: "Session Context Not Found",
    504: "Session Context Not Removable",
    506: "Resources Unavailable",
}
