"""``captiva-portal``: serve the portal with uvicorn.

    captiva-portal [--config FILE] [--host 127.0.0.1] [--port 8080] [--check]

One process on purpose: sessions and login rate limits live in its memory (security.py).
nginx in front terminates TLS and passes X-Forwarded-For / X-Forwarded-Proto; the portal
believes them only from ``trusted_proxies``. Exit status 2: bad configuration.
"""

from __future__ import annotations

import argparse
import logging
import sys

from captiva.portal import config as config_mod
from captiva.runtime import cli

log = logging.getLogger("captiva.portal")


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser("captiva-portal", "Captiva status portal")
    parser.add_argument("--config", default=None,
                        help=f"TOML file (default: ${config_mod.ENV_VAR} or "
                             f"{config_mod.DEFAULT_PATH})")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="listen port (8080)")
    parser.add_argument("--log-level", default="info",
                        choices=["critical", "error", "warning", "info", "debug"])
    parser.add_argument("--access-log", action="store_true",
                        help="log every request (nginx already does)")
    parser.add_argument("--check", action="store_true",
                        help="only read the configuration and exit")
    return parser


@cli.command
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cli.start_logging(args.log_level.upper())
    config = config_mod.load(args.config)
    if args.check:
        print("configuration OK")
        return 0
    import uvicorn

    from captiva.portal.app import create_app

    uvicorn.run(create_app(config), host=args.host, port=args.port, workers=1,
                log_level=args.log_level, access_log=args.access_log,
                proxy_headers=False, server_header=False, date_header=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
