"""The jobs' configuration: one TOML (or JSON) file, ``/etc/captiva/quota.toml``.

The quota jobs, the workstations' jobs and ``captiva-vouchers revoke`` read it: the database
(role captiva_jobs), the routers' RADIUS secrets (Disconnect/CoA), the mail server, each
job's settings. Every key and its default is in docs/quota.md; errors name the key, never a
value (:mod:`captiva.runtime.settings`).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from captiva.runtime import settings
from captiva.runtime.coa import Limits
from captiva.runtime.mail import SmtpConfig, parse_smtp
from captiva.runtime.settings import ConfigError, positive, typed

DEFAULT_PATH = Path("/etc/captiva/quota.toml")
# Per job, shorter than the suggested timer period (docs/quota.md, roles/portal timers).
DEFAULT_BUDGETS = {"enforce": 40.0, "close-stale": 240.0, "alerts": 600.0,
                   "retention": 3000.0, "report": 300.0}
# The config table of each job (where its `budget` key lives).
JOB_TABLES = {"enforce": "enforce", "close-stale": "close_stale", "alerts": "alerts",
              "retention": "retention", "report": "report"}


@dataclass(frozen=True)
class RouterSecret:
    secret: str = field(repr=False)
    coa_port: int | None = None  # None: captiva_router.coa_port (the roster's)
    # where to send Disconnect-Requests when not the NAS-IP-Address seen in accounting
    # (a router behind NAT, a management address)
    address: str | None = None
    # the local address Disconnect-Requests leave from (None: enforce.source_address): it
    # must be the address of one of the router's /radius entries, or RouterOS ignores them
    source_address: str | None = None


@dataclass(frozen=True)
class Config:
    dsn: str = field(repr=False)
    routers: dict[str, RouterSecret] = field(default_factory=dict)
    # the [enforce] table's Disconnect/CoA limits: timeout, retries, requests in flight
    # overall and per router (at most 256: the Identifier is one octet), failures in a row
    # after which a router is skipped for the rest of the run
    coa: Limits = field(default_factory=Limits)
    coa_source: str | None = None  # local address to send from (None: the kernel's choice)
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
    radacct_days: int = 30  # closed sessions stay in radacct, the live table, this long
    radpostauth_days: int = 90
    audit_days: int = 365  # the console's and the workstations' audit, sessions and grants
    history_days: int = 0  # 0: history kept forever
    batch_size: int = 5000
    # seconds a run may take, per job (shorter than its timer period): see DEFAULT_BUDGETS
    budgets: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_BUDGETS))
    lock_dir: str = "/run/captiva-quota"  # one <job>.lock per job (flock)
    metrics_dir: str | None = None  # Prometheus textfile collector directory

    def router(self, name: str | None, address: str) -> RouterSecret | None:
        """The secret of a router, by roster name, else by NAS address."""
        if name is not None and name in self.routers:
            return self.routers[name]
        return self.routers.get(address)


def _address(data: dict, key: str, path: str) -> str | None:
    value = typed(data, key, str, None, path)
    if value is not None:
        try:
            ipaddress.ip_address(value)
        except ValueError:  # its message quotes the value
            raise ConfigError(f"{path}{key}: not an IP address") from None
    return value


# The roster's duration syntax (plugins/module_utils/captiva_units.parse_duration, which
# tests/unit/test_quota_interim.py checks this against): close_stale.interim_interval is
# the inventory's captiva_interim_interval as written there ("5m", "1h30m", 300).
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(?:\d+[smhdw])+|\d+")


def _duration(data: dict, key: str, default: int, path: str) -> int:
    value = data.get(key, default)
    if isinstance(value, str) and _DURATION.fullmatch(value.replace(" ", "")):
        text = value.replace(" ", "")
        value = int(text) if text.isdigit() else sum(
            int(n) * _DURATION_UNITS[u] for n, u in re.findall(r"(\d+)([smhdw])", text))
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{path}{key}: expected a positive duration such as 300, '5m' or "
                          f"'1h30m'")
    return value


def _thresholds(data: dict, key: str, default: list[int], path: str) -> tuple[int, ...]:
    """A list of positive integers (alert thresholds: percents, days)."""
    values = typed(data, key, list, default, path)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
        raise ConfigError(f"{path}{key}: expected a list of positive integers")
    return tuple(values)


def parse(data: dict[str, Any]) -> Config:
    if not isinstance(data.get("dsn"), str) or not data["dsn"]:
        raise ConfigError("dsn: required (libpq connection string of the captiva_jobs role)")
    unknown = set(data) - {"dsn", "routers", "enforce", "close_stale", "smtp", "alerts",
                           "retention", "report", "jobs"}
    if unknown:
        raise ConfigError(f"unknown keys: {', '.join(sorted(unknown))}")
    routers = {}
    for name, entry in (data.get("routers") or {}).items():
        if not isinstance(entry, dict):
            raise ConfigError(f"routers.{name}: expected a table with secret (and coa_port)")
        secret = typed(entry, "secret", str, "", f"routers.{name}.")
        if not secret:
            raise ConfigError(f"routers.{name}.secret: required")
        routers[name] = RouterSecret(secret,
                                     typed(entry, "coa_port", int, None, f"routers.{name}."),
                                     typed(entry, "address", str, None, f"routers.{name}."),
                                     _address(entry, "source_address", f"routers.{name}."))
    enforce = data.get("enforce") or {}
    stale = data.get("close_stale") or {}
    smtp = data.get("smtp") or {}
    alerts = data.get("alerts") or {}
    retention = data.get("retention") or {}
    jobs = data.get("jobs") or {}
    budgets = {}
    for job, table in JOB_TABLES.items():
        budget = typed(data.get(table) or {}, "budget", float, DEFAULT_BUDGETS[job], f"{table}.")
        budgets[job] = positive(budget, f"{table}.budget")
    timeout = positive(typed(enforce, "timeout", float, 3.0, "enforce."), "enforce.timeout")
    retries = typed(enforce, "retries", int, 2, "enforce.")
    if retries < 0:
        raise ConfigError(f"enforce.retries: must be 0 or more, got {retries}")
    per_router = positive(typed(enforce, "per_router", int, 32, "enforce."), "enforce.per_router")
    if per_router > 256:
        raise ConfigError(f"enforce.per_router: at most 256 (the RADIUS Identifier is one "
                          f"octet), got {per_router}")
    unreachable_after = positive(typed(enforce, "unreachable_after", int, 5, "enforce."),
                                  "enforce.unreachable_after")
    if unreachable_after > per_router:
        # else a silent router would cost more than one timeout window
        raise ConfigError(f"enforce.unreachable_after: at most enforce.per_router "
                          f"({per_router}), got {unreachable_after}")
    limits = Limits(timeout, retries,
                    positive(typed(enforce, "concurrency", int, 256, "enforce."),
                             "enforce.concurrency"),
                    per_router, unreachable_after)
    if budgets["enforce"] <= limits.window:
        raise ConfigError(f"enforce.budget: must be longer than one request's window "
                          f"(timeout x (retries + 1) = {limits.window:g} s), "
                          f"got {budgets['enforce']:g}")
    mode = typed(retention, "mode", str, "archive", "retention.")
    if mode not in ("archive", "purge"):
        raise ConfigError("retention.mode: expected 'archive' or 'purge'")
    return Config(
        dsn=data["dsn"],
        routers=routers,
        coa=limits,
        coa_source=_address(enforce, "source_address", "enforce."),
        disconnect_grace=typed(enforce, "grace", int, 120, "enforce."),
        interim_interval=_duration(stale, "interim_interval", 300, "close_stale."),
        stale_multiple=positive(typed(stale, "multiple", int, 3, "close_stale."),
                                 "close_stale.multiple"),
        smtp=parse_smtp(smtp),
        templates_dir=typed(alerts, "templates_dir", str, None, "alerts."),
        portal_url=typed(alerts, "portal_url", str, "", "alerts."),
        default_quota_percent=_thresholds(alerts, "quota_percent", [80, 95], "alerts."),
        default_expiry_days=_thresholds(alerts, "expiry_days", [7, 2], "alerts."),
        retention_mode=mode,
        radacct_days=positive(typed(retention, "radacct_days", int, 30, "retention."),
                               "retention.radacct_days"),
        audit_days=positive(typed(retention, "audit_days", int, 365, "retention."),
                             "retention.audit_days"),
        radpostauth_days=positive(typed(retention, "radpostauth_days", int, 90, "retention."),
                                   "retention.radpostauth_days"),
        history_days=typed(retention, "history_days", int, 0, "retention."),
        batch_size=positive(typed(retention, "batch_size", int, 5000, "retention."),
                             "retention.batch_size"),
        budgets=budgets,
        lock_dir=typed(jobs, "lock_dir", str, "/run/captiva-quota", "jobs."),
        metrics_dir=typed(jobs, "metrics_dir", str, None, "jobs."),
    )


def load(path: Path | str = DEFAULT_PATH) -> Config:
    return settings.load(path, parse)
