"""Configuration of the quota jobs: one TOML (or JSON) file, ``/etc/captiva/quota.toml``.

Every key and its default is in docs/quota.md; errors name the key.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path("/etc/captiva/quota.toml")


class ConfigError(ValueError):
    """A configuration the jobs refuse; the message names the key."""


@dataclass(frozen=True)
class RouterSecret:
    secret: str
    coa_port: int | None = None  # None: captiva_router.coa_port (the roster's)
    # where to send Disconnect-Requests when not the NAS-IP-Address seen in accounting
    # (a router behind NAT, a management address)
    address: str | None = None


@dataclass(frozen=True)
class SmtpConfig:
    host: str = "localhost"
    port: int = 587
    starttls: bool = True
    username: str | None = None
    password: str | None = None
    sender: str = "captiva@localhost"
    ca_file: str | None = None  # extra CA to trust (else the system store)
    timeout: float = 30.0


@dataclass(frozen=True)
class Config:
    dsn: str
    routers: dict[str, RouterSecret] = field(default_factory=dict)
    coa_timeout: float = 3.0
    coa_retries: int = 2
    # a session still open this long after a Disconnect-ACK is reported (and asked again)
    disconnect_grace: int = 120
    interim_interval: int = 300
    stale_multiple: int = 3
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    templates_dir: str | None = None
    portal_url: str = ""
    default_quota_percent: tuple[int, ...] = (80, 95)
    default_expiry_days: tuple[int, ...] = (7, 2)
    retention_mode: str = "archive"  # or "purge"
    radacct_days: int = 365
    radpostauth_days: int = 90
    history_days: int = 0  # 0: history kept forever
    batch_size: int = 5000

    def router(self, name: str | None, address: str) -> RouterSecret | None:
        """The secret of a router, by roster name, else by NAS address."""
        if name is not None and name in self.routers:
            return self.routers[name]
        return self.routers.get(address)


def _get(data: dict, key: str, kind, default, path: str):
    value = data.get(key, default)
    if value is None and default is None:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{path}{key}: expected {kind.__name__}, got {value!r}")
    return value


def _positive(value: int, name: str) -> int:
    if value <= 0:
        raise ConfigError(f"{name}: must be positive, got {value}")
    return value


def parse(data: dict[str, Any]) -> Config:
    if not isinstance(data.get("dsn"), str) or not data["dsn"]:
        raise ConfigError("dsn: required (libpq connection string of the captiva_jobs role)")
    unknown = set(data) - {"dsn", "routers", "enforce", "close_stale", "smtp", "alerts",
                           "retention"}
    if unknown:
        raise ConfigError(f"unknown keys: {', '.join(sorted(unknown))}")
    routers = {}
    for name, entry in (data.get("routers") or {}).items():
        if not isinstance(entry, dict):
            raise ConfigError(f"routers.{name}: expected a table with secret (and coa_port)")
        secret = _get(entry, "secret", str, "", f"routers.{name}.")
        if not secret:
            raise ConfigError(f"routers.{name}.secret: required")
        routers[name] = RouterSecret(secret,
                                     _get(entry, "coa_port", int, None, f"routers.{name}."),
                                     _get(entry, "address", str, None, f"routers.{name}."))
    enforce = data.get("enforce") or {}
    stale = data.get("close_stale") or {}
    smtp = data.get("smtp") or {}
    alerts = data.get("alerts") or {}
    retention = data.get("retention") or {}
    # AUTH over a clear connection gives the SMTP password to anyone on the path.
    if (smtp.get("username") or smtp.get("password")) and smtp.get("starttls", True) is False:
        raise ConfigError("smtp.starttls: must be true when smtp.username or smtp.password is "
                          "set (AUTH is refused without TLS)")
    mode = _get(retention, "mode", str, "archive", "retention.")
    if mode not in ("archive", "purge"):
        raise ConfigError(f"retention.mode: expected 'archive' or 'purge', got {mode!r}")
    return Config(
        dsn=data["dsn"],
        routers=routers,
        coa_timeout=_get(enforce, "timeout", float, 3.0, "enforce."),
        coa_retries=_get(enforce, "retries", int, 2, "enforce."),
        disconnect_grace=_get(enforce, "grace", int, 120, "enforce."),
        interim_interval=_positive(_get(stale, "interim_interval", int, 300, "close_stale."),
                                   "close_stale.interim_interval"),
        stale_multiple=_positive(_get(stale, "multiple", int, 3, "close_stale."),
                                 "close_stale.multiple"),
        smtp=SmtpConfig(
            host=_get(smtp, "host", str, "localhost", "smtp."),
            port=_get(smtp, "port", int, 587, "smtp."),
            starttls=_get(smtp, "starttls", bool, True, "smtp."),
            username=_get(smtp, "username", str, None, "smtp."),
            password=_get(smtp, "password", str, None, "smtp."),
            sender=_get(smtp, "from", str, "captiva@localhost", "smtp."),
            ca_file=_get(smtp, "ca_file", str, None, "smtp."),
            timeout=_get(smtp, "timeout", float, 30.0, "smtp."),
        ),
        templates_dir=_get(alerts, "templates_dir", str, None, "alerts."),
        portal_url=_get(alerts, "portal_url", str, "", "alerts."),
        default_quota_percent=tuple(_get(alerts, "quota_percent", list, [80, 95], "alerts.")),
        default_expiry_days=tuple(_get(alerts, "expiry_days", list, [7, 2], "alerts.")),
        retention_mode=mode,
        radacct_days=_positive(_get(retention, "radacct_days", int, 365, "retention."),
                               "retention.radacct_days"),
        radpostauth_days=_positive(_get(retention, "radpostauth_days", int, 90, "retention."),
                                   "retention.radpostauth_days"),
        history_days=_get(retention, "history_days", int, 0, "retention."),
        batch_size=_positive(_get(retention, "batch_size", int, 5000, "retention."),
                             "retention.batch_size"),
    )


def load(path: Path | str = DEFAULT_PATH) -> Config:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    try:
        return parse(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
