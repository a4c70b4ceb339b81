"""Configuration of the portal: one TOML file, ``/etc/captiva/portal.toml``.

``CAPTIVA_PORTAL_CONFIG`` names another file. Every key and its default is in docs/portal.md;
errors name the key and never print a secret.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from captiva.runtime import settings
from captiva.runtime.mail import SmtpConfig, parse_smtp
from captiva.runtime.settings import ConfigError, positive, typed

DEFAULT_PATH = Path("/etc/captiva/portal.toml")
ENV_VAR = "CAPTIVA_PORTAL_CONFIG"
LANGUAGES = ("fr", "en")


@dataclass(frozen=True)
class RadiusConfig:
    server: str
    secret: str = field(repr=False)
    port: int = 1812
    # The portal's own client address (freeradius_portal_client): bind the socket to it.
    source_address: str | None = None
    timeout: float = 3.0
    retries: int = 1
    nas_identifier: str = "captiva-portal"


@dataclass(frozen=True)
class PasswordConfig:
    """Students' own passwords (docs/portal.md, "For students")."""

    # shortest new password (captiva_password_min_length)
    min_length: int = 10
    # the portal's public address: the forgotten-password links point at it (never at the
    # Host a request names). Empty: no links are sent; the page sends students to the helpdesk
    public_url: str = ""
    # links per account per hour (the database counts them), and forgotten-password requests
    # per client address (an IPv6 /64) per hour, whatever the account
    reset_per_account: int = 3
    reset_per_address: int = 20


@dataclass(frozen=True)
class SignupConfig:
    """Sign-up with approval (docs/portal.md, "Sign-up"); its links use password.public_url."""

    enabled: bool = False
    # the registrar's CSV (import-csv's format): only its matricules may sign up; empty: any
    registrar_csv: str = ""
    # requests per client address (an IPv6 /64) per hour
    per_client: int = 5


@dataclass(frozen=True)
class Config:
    dsn: str = field(repr=False)
    session_secret: str = field(repr=False)
    radius: RadiusConfig
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    default_language: str = "fr"
    site_name: str = "Captiva"
    # where the console says the roster declares users (a file name, or an https:// link to
    # it in the Git forge): nothing in the console edits the roster
    roster_source: str = "group_vars/all/users.yml"
    # session
    cookie_name: str = "__Host-captiva"
    idle_timeout: int = 900
    absolute_timeout: int = 28800
    # signed-in sessions kept in memory, in all and per account
    max_sessions: int = 100_000
    max_sessions_per_user: int = 10
    # login rate limiting: attempts in a sliding window, per username at a client address
    # (an IPv6 /64) and per client address
    login_window: int = 900
    max_failures_per_user_address: int = 5
    max_failures_per_address: int = 100
    # seconds a login form (its CSRF token) stays valid
    login_form_validity: int = 1800
    # logins checked at once (RADIUS, then the first page's figures); the others wait their
    # turn, at most the RADIUS check's own time, while pages go on being served
    login_concurrency: int = 2
    # seconds a student's dashboard figures may be served from memory (0: never)
    cache_seconds: float = 30.0
    history_page_size: int = 20
    pool_min_size: int = 2
    pool_max_size: int = 8
    # seconds a request waits for a database connection
    pool_timeout: float = 5.0
    hsts_max_age: int = 31536000
    password: PasswordConfig = field(default_factory=PasswordConfig)
    signup: SignupConfig = field(default_factory=SignupConfig)
    # the mail server (the forgotten-password links), as the quota jobs' [smtp]
    smtp: SmtpConfig = field(default_factory=SmtpConfig)


_PASSWORD = {"min_length", "public_url", "reset_per_account", "reset_per_address"}
_LOGIN = {"window", "max_failures_per_user_address", "max_failures_per_address",
          "form_validity", "concurrency"}
_SESSION = {"cookie_name", "idle_timeout", "absolute_timeout", "max_sessions",
            "max_sessions_per_user"}
_TOP = {"dsn", "session_secret", "trusted_proxies", "roster_source", "default_language",
        "site_name", "radius", "session", "login", "dashboard", "database", "hsts_max_age",
        "password", "smtp", "signup"}


def parse(data: dict[str, Any]) -> Config:
    if "admins" in data:
        raise ConfigError("admins: removed; staff and their role (admin, operator, viewer) "
                          "are declared in the roster's captiva_staff (docs/portal.md)")
    unknown = set(data) - _TOP
    if unknown:
        raise ConfigError(f"unknown keys: {', '.join(sorted(unknown))}")
    dsn = typed(data, "dsn", str, "")
    if not dsn:
        raise ConfigError("dsn: required (libpq connection string of the captiva_portal role)")
    secret = typed(data, "session_secret", str, "")
    if len(secret) < 32:
        raise ConfigError("session_secret: required, 32 characters at least")
    radius = data.get("radius")
    if not isinstance(radius, dict):
        raise ConfigError("radius: required table (server, secret)")
    server = typed(radius, "server", str, "", "radius.")
    radius_secret = typed(radius, "secret", str, "", "radius.")
    if not server or not radius_secret:
        raise ConfigError("radius.server and radius.secret: required")
    # Its own value: a session key shared with another secret falls with it.
    if secret == radius_secret or secret in dsn:
        raise ConfigError("session_secret: must be its own random value, not the database "
                          "password or radius.secret")
    unknown = set(radius) - {"server", "port", "secret", "source_address", "timeout",
                             "retries", "nas_identifier"}
    if unknown:
        raise ConfigError(f"radius: unknown keys: {', '.join(sorted(unknown))}")
    proxies = []
    for entry in typed(data, "trusted_proxies", list, []):
        try:
            proxies.append(ipaddress.ip_network(entry, strict=False))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"trusted_proxies: {entry!r} is not an address or network") \
                from exc
    language = typed(data, "default_language", str, "fr")
    if language not in LANGUAGES:
        raise ConfigError(f"default_language: expected one of {', '.join(LANGUAGES)}")
    session = data.get("session") or {}
    login = data.get("login") or {}
    dashboard = data.get("dashboard") or {}
    database = data.get("database") or {}
    cookie_name = typed(session, "cookie_name", str, "__Host-captiva", "session.")
    if not cookie_name.startswith("__Host-"):
        raise ConfigError("session.cookie_name: must start with __Host- (Secure, Path=/, "
                          "no Domain)")
    idle = positive(typed(session, "idle_timeout", int, 900, "session."),
                     "session.idle_timeout")
    absolute = positive(typed(session, "absolute_timeout", int, 28800, "session."),
                         "session.absolute_timeout")
    if idle > absolute:
        raise ConfigError("session.idle_timeout: must not exceed session.absolute_timeout")
    if "max_failures_per_account" in login:
        raise ConfigError("login.max_failures_per_account: renamed to "
                          "login.max_failures_per_user_address (a lockout is per "
                          "username and client address now)")
    password = data.get("password") or {}
    for table, values, known in (("session", session, _SESSION), ("login", login, _LOGIN),
                                 ("password", password, _PASSWORD)):
        unknown = set(values) - known
        if unknown:
            raise ConfigError(f"{table}: unknown keys: {', '.join(sorted(unknown))}")
    per_user_address = positive(typed(login, "max_failures_per_user_address", int, 5, "login."),
                                 "login.max_failures_per_user_address")
    per_address = positive(typed(login, "max_failures_per_address", int, 100, "login."),
                            "login.max_failures_per_address")
    if per_address < per_user_address:
        raise ConfigError("login.max_failures_per_address: must not be lower than "
                          "login.max_failures_per_user_address (one address is shared by "
                          "many users behind a NAT)")
    pool_min = typed(database, "pool_min_size", int, 2, "database.")
    pool_max = positive(typed(database, "pool_max_size", int, 8, "database."),
                         "database.pool_max_size")
    if not 0 <= pool_min <= pool_max:
        raise ConfigError("database.pool_min_size: must be 0..pool_max_size")
    return Config(
        dsn=dsn,
        session_secret=secret,
        radius=RadiusConfig(
            server=server,
            secret=radius_secret,
            port=typed(radius, "port", int, 1812, "radius."),
            source_address=typed(radius, "source_address", str, None, "radius.") or None,
            timeout=positive(typed(radius, "timeout", float, 3.0, "radius."), "radius.timeout"),
            retries=positive(typed(radius, "retries", int, 1, "radius."), "radius.retries"),
            nas_identifier=typed(radius, "nas_identifier", str, "captiva-portal", "radius."),
        ),
        trusted_proxies=tuple(proxies),
        default_language=language,
        site_name=typed(data, "site_name", str, "Captiva"),
        roster_source=typed(data, "roster_source", str, "group_vars/all/users.yml"),
        cookie_name=cookie_name,
        idle_timeout=idle,
        absolute_timeout=absolute,
        max_sessions=positive(typed(session, "max_sessions", int, 100_000, "session."),
                               "session.max_sessions"),
        max_sessions_per_user=positive(
            typed(session, "max_sessions_per_user", int, 10, "session."),
            "session.max_sessions_per_user"),
        login_window=positive(typed(login, "window", int, 900, "login."), "login.window"),
        max_failures_per_user_address=per_user_address,
        max_failures_per_address=per_address,
        login_form_validity=positive(typed(login, "form_validity", int, 1800, "login."),
                                      "login.form_validity"),
        login_concurrency=positive(typed(login, "concurrency", int, 2, "login."),
                                   "login.concurrency"),
        cache_seconds=typed(dashboard, "cache_seconds", float, 30.0, "dashboard."),
        history_page_size=positive(typed(dashboard, "history_page_size", int, 20,
                                         "dashboard."), "dashboard.history_page_size"),
        pool_min_size=pool_min,
        pool_max_size=pool_max,
        pool_timeout=positive(typed(database, "timeout", float, 5.0, "database."),
                               "database.timeout"),
        hsts_max_age=typed(data, "hsts_max_age", int, 31536000),
        password=parse_password(password),
        signup=parse_signup(data.get("signup") or {}),
        smtp=parse_smtp(data.get("smtp") or {}),
    )


def parse_password(table: dict[str, Any]) -> PasswordConfig:
    min_length = positive(typed(table, "min_length", int, 10, "password."),
                          "password.min_length")
    if not 8 <= min_length <= 64:
        raise ConfigError("password.min_length: expected 8 to 64")
    public_url = typed(table, "public_url", str, "", "password.").rstrip("/")
    if public_url and not public_url.startswith("https://"):
        raise ConfigError("password.public_url: must start with https:// (the links carry a "
                          "reset token)")
    return PasswordConfig(
        min_length=min_length, public_url=public_url,
        reset_per_account=positive(typed(table, "reset_per_account", int, 3, "password."),
                                   "password.reset_per_account"),
        reset_per_address=positive(typed(table, "reset_per_address", int, 20, "password."),
                                   "password.reset_per_address"))


def parse_signup(table: dict[str, Any]) -> SignupConfig:
    unknown = set(table) - {"enabled", "registrar_csv", "per_client"}
    if unknown:
        raise ConfigError(f"signup: unknown keys: {', '.join(sorted(unknown))}")
    return SignupConfig(
        enabled=typed(table, "enabled", bool, False, "signup."),
        registrar_csv=typed(table, "registrar_csv", str, "", "signup."),
        per_client=positive(typed(table, "per_client", int, 5, "signup."),
                            "signup.per_client"))


def load(path: Path | str | None = None) -> Config:
    """Read ``path``, else ``$CAPTIVA_PORTAL_CONFIG``, else /etc/captiva/portal.toml."""
    return settings.load(Path(path or os.environ.get(ENV_VAR) or DEFAULT_PATH), parse)
