"""Students' own passwords: the policy, the stored form, the reset links and the database
calls (functions/90_student_passwords.sql decides who may do what; docs/portal.md, "For
students").

The portal's database role reads no credential: it stores a new one through
``captiva_student_password_set`` (after RADIUS accepted the current password) or
``captiva_password_reset_redeem`` (with a link's token), and FreeRADIUS alone reads it back.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import unicodedata
from dataclasses import dataclass

from captiva.passwords import sha512_crypt
from captiva.runtime.mail import Mail, mail_from_text

from .password_text import RESET_MAIL

MAX_LENGTH = 128  # what the login form accepts, and RADIUS's User-Password (128 octets)
RESET_MINUTES = 30  # a link's life (the database caps it there too)
# zxcvbn's score (0-4): below this, a password is one of the most common ones or a pattern
# of them (its frequency lists: passwords, names, words), whatever its length.
MIN_SCORE = 2
# zxcvbn refuses longer input (its matching is quadratic): a longer password is scored on its
# first SCORED_LENGTH characters, which are then uncommon enough or not.
SCORED_LENGTH = 72
CRYPT = "Crypt-Password"
CLEARTEXT = "Cleartext-Password"


def problems(password: str, username: str, min_length: int,
             user_inputs: tuple[str, ...] = ()) -> list[tuple[str, dict]]:
    """What is wrong with a new password, as (message key, values); empty: acceptable.

    Not shorter than ``min_length``, not the username (nor containing it), no control
    character, and not a commonly used password: zxcvbn's frequency lists (30,000 common
    passwords, names and words, with their l33t and keyboard variants) and its guess estimate.
    """
    found: list[tuple[str, dict]] = []
    if any(unicodedata.category(c).startswith("C") for c in password):
        found.append(("password.bad_characters", {}))
    if len(password) < min_length:
        found.append(("password.too_short", {"min_length": min_length}))
    if len(password) > MAX_LENGTH:
        found.append(("password.too_long", {}))
    if username and username.lower() in password.lower():
        found.append(("password.is_username", {}))
    if not found and strength(password, (username, *user_inputs)) < MIN_SCORE:
        found.append(("password.common", {}))
    return found


def strength(password: str, user_inputs: tuple[str, ...] = ()) -> int:
    """zxcvbn's score of ``password`` (0 to 4); its lists ship with the package."""
    from zxcvbn import zxcvbn

    return int(zxcvbn(password[:SCORED_LENGTH],
                      user_inputs=[u for u in user_inputs if u])["score"])


def stored_form(password: str, attribute: str) -> str:
    """What the database keeps: a sha512-crypt hash (as the roster's password_hash), or the
    password itself where the roster keeps cleartext for CHAP."""
    if attribute == CLEARTEXT:
        return password
    if attribute != CRYPT:
        raise ValueError(f"unknown password attribute {attribute!r}")
    return sha512_crypt(password)


# -- reset links --------------------------------------------------------------------------------


def new_token() -> str:
    """A link's token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    """What the database keeps of a token (a random token needs no salt or stretching)."""
    return hashlib.sha256(token.encode()).digest()


def reset_url(public_url: str, token: str) -> str:
    return f"{public_url}/password/reset/{token}"


def reset_mail(to: str, language: str, first_name: str | None, url: str,
               site_name: str) -> Mail:
    language = language if language in RESET_MAIL else "fr"
    text = string.Template(RESET_MAIL[language]).substitute(
        first_name=first_name or "", url=url, minutes=RESET_MINUTES, site_name=site_name)
    return mail_from_text(to, text)


# -- the database -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResetRecipient:
    username: str
    email: str
    language: str
    first_name: str | None


def storage_of(conn, username: str) -> str | None:
    """CRYPT or CLEARTEXT: how this student's new password is stored; None: not changeable
    here (not a roster user with a roster password)."""
    return conn.execute("SELECT captiva_student_password_storage(%s)", (username,)).fetchone()[0]


def set_password(conn, username: str, attribute: str, value: str, end_sessions: bool,
                 client: str) -> int:
    """Store the new password (audited); returns the Wi-Fi sessions asked to end."""
    return conn.execute("SELECT captiva_student_password_set(%s, %s, %s, %s, %s)",
                        (username, attribute, value, end_sessions, client)).fetchone()[0]


def issue_reset(conn, username: str, token: str, client: str,
                per_account: int) -> ResetRecipient | None:
    """Record a link for ``username`` if one may be sent (the database decides: an enabled
    account with an e-mail address, under ``per_account`` links an hour)."""
    row = conn.execute(
        "SELECT username, email, language, first_name FROM captiva_password_reset_issue("
        "%s, %s, %s, %s, %s)", (username, token_hash(token), client, RESET_MINUTES,
                                per_account)).fetchone()
    return ResetRecipient(*row) if row else None


def reset_username(conn, token: str) -> str | None:
    """The account of a link still good (unused, under 30 minutes old), else None."""
    return conn.execute("SELECT captiva_password_reset_valid(%s)",
                        (token_hash(token),)).fetchone()[0]


def redeem_reset(conn, token: str, attribute: str, value: str, client: str) -> str | None:
    """Use a link up and store its new password (audited); None: the link is not good."""
    return conn.execute("SELECT captiva_password_reset_redeem(%s, %s, %s, %s)",
                        (token_hash(token), attribute, value, client)).fetchone()[0]
