"""The smoke test's checks that run on a Captiva host (``make smoke``, docs/deploy.md).

    python -m captiva.smoke radius --config /etc/captiva/portal.toml --username USER
        (the password on stdin): one Access-Request as the portal sends it, from the portal
        host, with the portal's RADIUS client secret.
    python -m captiva.smoke disconnect --config /etc/captiva/quota.toml \\
        --router NAME=ADDRESS:PORT ...
        one Disconnect-Request per router, from the RADIUS host (the address the routers
        accept Disconnect-Requests from), for a session that does not exist: a NAK proves the
        listener is up and the secret right.

Both change nothing: an Access-Request without accounting opens no session, and a
Disconnect-Request for a session that does not exist ends none. Each prints one line per
check, ``ok ...`` or ``FAILED ...`` with the likely cause, and exits 1 when one failed.
"""

from __future__ import annotations

import secrets
import sys

from captiva.runtime import cli

RADIUS_CAUSES = (
    "FreeRADIUS does not answer the portal: is it running (systemctl status freeradius on the "
    "RADIUS hosts), does the portal's address match freeradius_portal_client, is the "
    "captiva_portal_radius_secret the one FreeRADIUS has (a wrong secret is dropped "
    "silently), does a firewall let UDP 1812 through?")
DISCONNECT_CAUSES = (
    "the router does not answer: is /radius/incoming accept=yes (make apply sets it), is the "
    "router's coa_port the listener's port, is this host's address the address of one of the "
    "router's /radius entries, is the router's radius_secret the one in quota.toml (RouterOS "
    "drops a badly signed request silently), does a firewall let UDP through?")


def check_radius(config_path: str, username: str, password: str) -> list[str]:
    from captiva.portal import config as portal_config
    from captiva.portal.radius_auth import RadiusUnavailable, authenticate

    config = portal_config.load(config_path)
    where = f"{config.radius.server}:{config.radius.port}"
    try:
        result = authenticate(config.radius, username, password)
    except RadiusUnavailable as exc:
        return [f"FAILED RADIUS login of {username} at {where}: {exc}; {RADIUS_CAUSES}"]
    if not result.accepted:
        return [f"FAILED RADIUS login of {username} at {where}: Access-Reject"
                f" ({result.reply_message or 'no Reply-Message'}); the smoke user must be an "
                "active roster user whose password is captiva_smoke.password, with data "
                "left (make apply after declaring it)"]
    return [f"ok RADIUS login of {username} at {where}: Access-Accept"]


def check_disconnect(config_path: str, routers: list[str]) -> list[str]:
    from captiva.runtime import coa, jobs_config

    config = jobs_config.load(config_path)
    lines = []
    for spec in routers:
        name, _, target = spec.partition("=")
        address, _, port = target.rpartition(":")
        target = coa.router_for(config, name, address, int(port))
        if target is None:
            lines.append(f"FAILED Disconnect listener of {name}: no secret for it in "
                         f"{config_path} (make apply writes the routers' secrets there)")
            continue
        outcome = coa.disconnect(
            target.address, target.port, target.secret,
            username=f"captiva-smoke-{secrets.token_hex(4)}",
            session_id=f"captiva-smoke-{secrets.token_hex(4)}", framed_ip=None,
            timeout=2.0, retries=1, source=target.source)
        where = f"{name} ({target.address}:{target.port})"
        if outcome.result == "nak":
            lines.append(f"ok Disconnect listener of {where}: NAK for a session that does "
                         f"not exist (Error-Cause {outcome.error_cause})")
        elif outcome.result == "ack":
            lines.append(f"FAILED Disconnect listener of {where}: ACK for a session that "
                         "does not exist; the router acknowledges what it cannot have done")
        elif outcome.result == "timeout":
            lines.append(f"FAILED Disconnect listener of {where}: {outcome.detail}; "
                         f"{DISCONNECT_CAUSES}")
        else:
            lines.append(f"FAILED Disconnect listener of {where}: {outcome.detail}")
    return lines


@cli.command
def main(argv: list[str] | None = None) -> int:
    parser = cli.parser("python -m captiva.smoke", __doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="check", required=True)
    radius = sub.add_parser("radius", help="a RADIUS login as the portal sends it")
    radius.add_argument("--config", required=True, help="the portal's portal.toml")
    radius.add_argument("--username", required=True)
    disconnect = sub.add_parser("disconnect", help="each router's Disconnect listener")
    disconnect.add_argument("--config", required=True, help="the jobs' quota.toml")
    disconnect.add_argument("--router", action="append", required=True,
                            metavar="NAME=ADDRESS:PORT")
    args = parser.parse_args(argv)
    cli.start_logging()
    if args.check == "radius":
        lines = check_radius(args.config, args.username, sys.stdin.readline().rstrip("\n"))
    else:
        lines = check_disconnect(args.config, args.router)
    print("\n".join(lines))
    return 1 if any(line.startswith("FAILED") for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
