"""Typed reads of the runtime's TOML configurations, shared by the portal and the jobs.

A configuration holds secrets (the database DSN, RADIUS and router secrets, the SMTP
password), so an error names the key and the expected type, never the value it found: a
mistyped secret must not end up in a journal or a terminal.
"""

from __future__ import annotations

from typing import Any


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
