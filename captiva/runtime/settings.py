"""The one reader of the runtime's TOML configurations, shared by the portal and the jobs.

A configuration holds secrets (the database DSN, RADIUS and router secrets, the SMTP
password), so an error names the key and the expected type, never a text value it found (a
number out of range is shown): a mistyped secret must not end up in a journal or a terminal.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration the runtime refuses; the message names the key, never its value."""


def kind_name(value: Any) -> str:
    """What a TOML value is, in words, without showing it."""
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "a list", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def typed(data: dict, key: str, kind: type, default: Any, path: str = "") -> Any:
    """``data[key]`` (or ``default``) checked to be a ``kind``; None stays None."""
    value = data.get(key, default)
    if value is None:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
        raise ConfigError(f"{path}{key}: expected {kind.__name__}, got {kind_name(value)}")
    return value


def positive(value: int | float, name: str) -> int | float:
    if value <= 0:
        raise ConfigError(f"{name}: must be positive, got {value}")
    return value


def read(path: Path | str) -> dict[str, Any]:
    """A configuration file as a table: TOML (JSON for a ``.json`` file). An unreadable file
    or a syntax error is a :class:`ConfigError` naming the file (a syntax error names its
    line and column; the parsers never quote a value)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{path}: cannot read: {reason}") from exc
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except ValueError as exc:  # tomllib.TOMLDecodeError and json.JSONDecodeError
        raise ConfigError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table of keys, got {kind_name(data)}")
    return data


def load(path: Path | str, parse: Callable[[dict[str, Any]], T]) -> T:
    """``parse`` (a configuration's rules) applied to the file at ``path``: every error is a
    :class:`ConfigError` that names the file and the key."""
    data = read(path)
    try:
        return parse(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
