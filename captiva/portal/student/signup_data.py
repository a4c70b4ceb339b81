"""Sign-up with approval (docs/portal.md, "Sign-up"): the form's checks, the links' tokens,
the registrar's list, the mails and the database calls (functions/92_registrations.sql holds
the rules and audits the decisions).

A link's token is ``<request id>.<HMAC-SHA256(session_secret, purpose, id)>``: nothing to
store, and the portal can mail the status link again with a decision. The verification link
works once (the request is then pending); the status link only shows where it stands.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import string
import threading
from dataclasses import dataclass
from pathlib import Path

from captiva.portal.rows import dicts
from captiva.runtime.mail import Mail, Mailer, mail_from_text

from .signup_text import MAILS

MATRICULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
NAME_MAX = 100
LIST_LIMIT = 500
log = logging.getLogger("captiva.portal")


@dataclass(frozen=True)
class Request:
    matricule: str
    first_name: str
    last_name: str
    email: str
    promotion: str
    language: str


def problems(form: dict[str, str], promotions: list[str]) -> tuple[Request, list[str]]:
    """The request a form describes, and what is wrong with it (message keys)."""
    request = Request(
        matricule=form.get("matricule", "").strip(),
        first_name=" ".join(form.get("first_name", "").split()),
        last_name=" ".join(form.get("last_name", "").split()),
        email=form.get("email", "").strip(),
        promotion=form.get("promotion", "").strip(),
        language=form.get("language", "fr") if form.get("language") in ("fr", "en") else "fr")
    found = []
    if not MATRICULE.match(request.matricule):
        found.append("signup.bad_matricule")
    if not (0 < len(request.first_name) <= NAME_MAX and 0 < len(request.last_name) <= NAME_MAX):
        found.append("signup.bad_name")
    if len(request.email) > 254 or not EMAIL.match(request.email):
        found.append("signup.bad_email")
    if request.promotion not in promotions:
        found.append("signup.bad_promotion")
    return request, found


# -- tokens -------------------------------------------------------------------------------------


def token(secret: str, purpose: str, request_id: int) -> str:
    mac = hmac.new(secret.encode(), f"captiva-registration:{purpose}:{request_id}".encode(),
                   hashlib.sha256).digest()
    return f"{request_id}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


def link(config, purpose: str, request_id: int) -> str:
    """A mail's link to the request's ``purpose`` page (verify, status) on the public
    portal (``config``: the portal's Config)."""
    return (f"{config.password.public_url}/signup/{purpose}/"
            f"{token(config.session_secret, purpose, request_id)}")


def request_of(secret: str, purpose: str, value: str) -> int | None:
    """The request id a token proves, or None."""
    head, _, _ = value.partition(".")
    if not head.isdigit() or len(head) > 18:
        return None
    request_id = int(head)
    return request_id if hmac.compare_digest(token(secret, purpose, request_id),
                                             value) else None


# -- the registrar's list -----------------------------------------------------------------------


class RegistrarList:
    """The matricules of the registrar's CSV (the file import-csv reads; its username column,
    mapped as import-csv maps it), read again when the file changes."""

    def __init__(self, path: str):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._names: frozenset[str] = frozenset()

    def __contains__(self, matricule: str) -> bool:
        from captiva.onboarding import csv_import

        stat = self.path.stat()
        with self._lock:
            if self._stamp != (stat.st_mtime_ns, stat.st_size):
                table = csv_import.read_csv(self.path.read_bytes(), source=str(self.path))
                mapping = csv_import.column_mapping(table.headers, {}, source=str(self.path))
                users = csv_import.to_users(table.rows, mapping)
                self._names = frozenset(u.user["username"].lower() for u in users
                                        if u.user.get("username"))
                self._stamp = (stat.st_mtime_ns, stat.st_size)
            return matricule.lower() in self._names


# -- mails --------------------------------------------------------------------------------------


def mail(kind: str, to: str, language: str, **values: str) -> Mail:
    texts = MAILS[kind]
    text = string.Template(texts[language if language in texts else "fr"]).safe_substitute(
        values)
    return mail_from_text(to, text)


def send(smtp, message: Mail) -> None:
    """Sends ``message`` (after the page's response: a worker thread); a failure is logged
    without the address, and the student asks again."""
    try:
        with Mailer(smtp) as mailer:
            mailer.send(message)
    except Exception as exc:  # smtplib and socket errors
        log.error("sign-up mail not sent: %s", type(exc).__name__)


# -- the database -------------------------------------------------------------------------------


def promotions(conn) -> list[str]:
    return [r[0] for r in conn.execute("SELECT name FROM captiva_promotion ORDER BY name")]


def submit(conn, request: Request, password_hash: str, client: str,
           per_client: int) -> tuple[int | None, str]:
    """(request id, outcome): created, exists or throttled (functions/92_registrations.sql)."""
    row = conn.execute(
        "SELECT id, outcome FROM captiva_registration_submit(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (request.matricule, request.first_name, request.last_name, request.email,
         request.promotion, request.language, password_hash, client, per_client)).fetchone()
    return row[0], row[1]


def verify(conn, request_id: int) -> str | None:
    return conn.execute("SELECT captiva_registration_verify(%s)", (request_id,)).fetchone()[0]


@dataclass(frozen=True)
class State:
    matricule: str
    first_name: str
    language: str
    state: str  # unverified, expired, pending, approved, imported, rejected
    reason: str | None


def state(conn, request_id: int) -> State | None:
    row = conn.execute("SELECT matricule, first_name, language, state, reason"
                       " FROM captiva_registration_state(%s)", (request_id,)).fetchone()
    return State(*row) if row else None


def listing(conn) -> list[dict]:
    return dicts(conn.execute("SELECT * FROM captiva_registration_list(%s)", (LIST_LIMIT,)))


@dataclass(frozen=True)
class Decision:
    matricule: str
    first_name: str
    email: str
    language: str
    state: str
    reason: str | None


def decide(conn, actor: str, request_id: int, approve: bool, reason: str) -> Decision | None:
    """The decision, audited; None when the request is not pending. Raises
    psycopg.errors.InsufficientPrivilege for a role that may not decide."""
    row = conn.execute(
        "SELECT matricule, first_name, email, language, state, reason"
        " FROM captiva_registration_decide(%s, %s, %s, %s)",
        (actor, request_id, approve, reason[:500])).fetchone()
    return Decision(*row) if row else None
