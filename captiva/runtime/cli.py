"""The one preamble of Captiva's command lines (``captiva-quota``, ``captiva-workstations``,
``captiva-vouchers``, ``captiva-portal``, ``python -m captiva.onboarding``).

Every command has ``--version``, reads its configuration with ``--config`` through
:mod:`captiva.runtime.settings` (an error names the file and the key, never a value), logs
to stderr (the journal under systemd) as ``LEVEL logger: message`` and exits with:

- 0: done (or nothing to do);
- 1: some action failed (a NAK, a timeout, an unreachable router, a mail), or the input was
  refused and nothing was written;
- 2: bad configuration, or the database cannot be reached.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from collections.abc import Callable

from captiva import __version__
from captiva.runtime.db import Unreachable
from captiva.runtime.settings import ConfigError

OK, FAILED, BAD_CONFIG = 0, 1, 2


def parser(prog: str, description: str | None = None) -> argparse.ArgumentParser:
    """A command's parser with ``--version``."""
    top = argparse.ArgumentParser(prog=prog, description=description)
    top.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return top


def add_config(parser: argparse.ArgumentParser, default: str | None,
               help_text: str) -> None:
    """``--config FILE``: required when there is no ``default``."""
    parser.add_argument("--config", default=default, required=default is None, help=help_text)


def start_logging(level: int | str = logging.INFO) -> None:
    logging.basicConfig(stream=sys.stderr, level=level,
                        format="%(levelname)s %(name)s: %(message)s")


def command(run: Callable[..., int]) -> Callable[..., int]:
    """A command's ``main``: ``run``'s exit status; a configuration the command refuses or
    a database it cannot reach is logged (by the command's package logger) and gives 2."""

    @functools.wraps(run)
    def main(argv: list[str] | None = None) -> int:
        try:
            return run(argv)
        except (ConfigError, Unreachable) as exc:
            package = run.__module__.rpartition(".")[0] or "captiva"  # "__main__": python -m
            logging.getLogger(package).error("%s", exc)
            return BAD_CONFIG

    return main
