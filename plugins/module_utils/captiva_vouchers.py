"""Vouchers: guest access codes declared as batches, derived from a vaulted secret.

Pure Python, no Ansible imports: pytest imports this file directly; the roster's action plugin
and the printing command (``captiva.vouchers``) call it.

A batch in the roster::

    captiva_voucher_batches:
      - name: portes-ouvertes-2026     # unique; the batch's identity (codes derive from it)
        count: 300                     # vouchers 1..300; growing the count adds codes only
        profile: invite                # bandwidth and timeouts of an existing profile
        time_credit: 2h                # online time, counted across sessions, and/or
        window_after_first_use: 24h    # wall-clock window from the first Access-Accept
        valid_from: 2026-03-01         # inclusive, 00:00 in the batch's timezone
        valid_until: 2026-03-31        # inclusive, until 24:00 in the batch's timezone
        data: 1GiB                     # optional total data cap, exact integer bytes
        simultaneous_use: 1            # or "unlimited"
        sites: [campus-ndogbong]       # optional: only on these sites' routers
        language: fr                   # the card's first language
        revoked: [17, "K7HM-3XPW-9H"]  # by index or by code

**Time rule.** At least one of ``time_credit`` and ``window_after_first_use`` is required;
when both are set, both apply and the smaller remainder wins. The session may never outlast
``valid_until`` either: Session-Timeout = min(remaining credit, end of window, end of validity).

**Timezone.** ``valid_from``/``valid_until`` are read in the timezone shared by the batch's
sites when they all set the same one, otherwise in ``captiva_timezone``.

**Codes.** A code is 9 data characters from a 23-character alphabet (digits 2-9 and
letters without 0 O D Q, 1 I L, Z S G B, U V: 23^9 > 2^40.7) and one check character,
grouped ``K7HM-3XPW-9H``. Data characters come from HMAC-SHA256(secret, batch name, index),
so the same batch gives the same codes on every run and the repository reveals none. The
check character makes sum(position x value) = 0 modulo 23 over all ten positions; 23 is
prime and the positions 1..10 are distinct and non-zero modulo 23, so every single-character
substitution and every transposition of two adjacent (or once-removed) characters changes
the sum and is caught.
The RADIUS username and password are the compact code (``K7HM3XPW9H``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster_schema import (
    INVALID,
    Field,
    RosterError,
    date_or_datetime,
    duration,
    fail,
    integer,
    language,
    list_of,
    name,
    positive,
    record,
    simultaneous,
    size,
    suggest,
    text,
    type_name,
    zone,
)

ALPHABET = "23456789ACEFHJKMNPRTWXY"
BASE = len(ALPHABET)  # 23, a prime: what makes the check character catch every error below
DATA_LENGTH = 9
CODE_LENGTH = DATA_LENGTH + 1
GROUPS = (4, 4, 2)
ENTROPY_BITS = DATA_LENGTH * 4.523561956057013  # log2(23) per character: 40.7 bits

MAX_BATCH_COUNT = 10_000
MAX_TOTAL_COUNT = 200_000
MIN_SECRET_LENGTH = 32
BATCHES_KEY = "captiva_voucher_batches"
SECRET_KEY = "captiva_voucher_secret"  # noqa: S105 - the variable's name

# A username FreeRADIUS takes for a voucher's code (policy.d/captiva_voucher writes it compact
# and upper case; roles/freeradius's guessing throttle counts its failures): 4, 4 and 2
# characters of the alphabet, any case, groups apart by a dash or a space, or not.
_CHAR = f"[{ALPHABET}]"
TYPED_CODE = re.compile(rf"^\s*{_CHAR}{{4}}[- ]?{_CHAR}{{4}}[- ]?{_CHAR}{{2}}\s*$",
                        re.IGNORECASE)

_VALUE = {char: i for i, char in enumerate(ALPHABET)}
_INVERSE_OF_LAST_WEIGHT = pow(CODE_LENGTH, -1, BASE)


class VoucherCodeError(ValueError):
    """Typed input that is not a voucher code; the message is meant for the guest."""


# --------------------------------------------------------------------------------------------
# Codes


def check_character(data: str) -> str:
    """The character that makes ``sum((i + 1) * value(c_i)) % 23 == 0`` over the full code."""
    total = sum((i + 1) * _VALUE[char] for i, char in enumerate(data))
    return ALPHABET[(-total * _INVERSE_OF_LAST_WEIGHT) % BASE]


def checksum_ok(code: str) -> bool:
    """True when a compact code of the right length and alphabet has a correct check."""
    if len(code) != CODE_LENGTH or any(char not in _VALUE for char in code):
        return False
    return sum((i + 1) * _VALUE[char] for i, char in enumerate(code)) % BASE == 0


def derive_code(secret: str, batch: str, index: int, attempt: int = 0) -> str:
    """The compact code of voucher ``index`` of ``batch``: HMAC-SHA256 then base 23."""
    message = f"captiva-voucher\x00{batch}\x00{index}\x00{attempt}".encode()
    number = int.from_bytes(hmac.new(secret.encode(), message, hashlib.sha256).digest(), "big")
    data = []
    for _ in range(DATA_LENGTH):
        number, digit = divmod(number, BASE)
        data.append(ALPHABET[digit])
    data_text = "".join(data)
    return data_text + check_character(data_text)


def batch_codes(secret: str, batch: str, count: int) -> list[str]:
    """Codes of vouchers 1..count. A code equal to an earlier one in the batch is derived
    again with the next attempt number, so growing a batch never changes an existing code."""
    codes: list[str] = []
    seen: set[str] = set()
    for index in range(1, count + 1):
        attempt = 0
        code = derive_code(secret, batch, index)
        while code in seen:
            attempt += 1
            code = derive_code(secret, batch, index, attempt)
        seen.add(code)
        codes.append(code)
    return codes


def format_code(code: str) -> str:
    """``K7HM3XPW9H`` -> ``K7HM-3XPW-9H`` (for reading aloud and printing)."""
    out, start = [], 0
    for length in GROUPS:
        out.append(code[start:start + length])
        start += length
    return "-".join(out)


# Letters the alphabet leaves out because they look like one of its digits: a guest who types
# them meant the digit (and the check character catches a wrong guess).
_LOOKALIKES = str.maketrans({"Z": "2", "S": "5", "G": "6", "B": "8"})


def normalise(typed: str) -> str:
    """The compact code from what a guest typed: any case, spaces, dashes or none.

    Raises :class:`VoucherCodeError` with a bilingual message when the input cannot be a code
    (wrong length, a character the alphabet does not use, or a failed check character)."""
    if not isinstance(typed, str):
        raise VoucherCodeError("Code invalide / Invalid code")
    compact = "".join(char for char in typed.upper() if char not in " -_.\t")
    compact = compact.translate(_LOOKALIKES)
    if len(compact) != CODE_LENGTH:
        raise VoucherCodeError(
            f"Le code a {CODE_LENGTH} caracteres / A code has {CODE_LENGTH} characters "
            f"(e.g. {format_code('K7HM3XPW9' + check_character('K7HM3XPW9'))})")
    bad = sorted({char for char in compact if char not in _VALUE})
    if bad:
        raise VoucherCodeError(
            "Caractere absent des codes / character never used in codes: " + " ".join(bad)
            + ". Les codes n'ont ni 0, O, 1, I, L / codes have no 0, O, 1, I, L.")
    if not checksum_ok(compact):
        raise VoucherCodeError("Code mal saisi, verifiez-le / Code mistyped, please check it")
    return compact


# --------------------------------------------------------------------------------------------
# Validation


def _revoked_item(value, path, errors):
    if isinstance(value, int) and not isinstance(value, bool):
        return integer(1)(value, path, errors)
    if isinstance(value, str):
        try:
            return normalise(value)
        except VoucherCodeError:
            return fail(errors, path, f"invalid voucher code {value!r}: expected an index "
                                       "(1, 2, ...) or a code such as K7HM-3XPW-9H")
    return fail(errors, path, f"expected an index or a code, got {type_name(value)}")


BATCH = record({
    "name": Field(name, required=True),
    "description": Field(text, default=""),
    "count": Field(integer(1, MAX_BATCH_COUNT), required=True),
    "profile": Field(name, required=True),
    "time_credit": Field(positive(duration, "time_credit")),
    "window_after_first_use": Field(positive(duration, "window_after_first_use")),
    "valid_from": Field(date_or_datetime, required=True),
    "valid_until": Field(date_or_datetime, required=True),
    "data": Field(positive(size, "data cap")),
    "simultaneous_use": Field(simultaneous, default=1),
    "sites": Field(list_of(name, unique=True), default=[]),
    "language": Field(language),
    "revoked": Field(list_of(_revoked_item), default=[]),
})


def validate_batches(
    variables: Mapping[str, Any],
    *,
    profiles: Iterable[str],
    sites: Mapping[str, str | None],
    usernames: Iterable[str],
    default_timezone: str,
    default_language: str,
) -> tuple[list[dict] | None, list[RosterError]]:
    """Validate ``captiva_voucher_batches`` against the rest of a validated roster.

    ``profiles`` are the known profile names, ``sites`` maps each site to its timezone (or
    None), ``usernames`` are the roster's usernames. Returns ``(batches, [])`` or
    ``(None, errors)``; each batch is the normalised mapping plus ``timezone``, ``starts_at``,
    ``ends_at`` (aware datetimes, ``ends_at`` exclusive), ``codes`` (compact, index 1 first)
    and ``revoked_indexes`` (a sorted list).
    """
    errors: list[RosterError] = []
    for i, user in enumerate(variables.get("captiva_users") or []):
        if isinstance(user, dict) and isinstance(user.get("username"), str) \
                and TYPED_CODE.match(user["username"]):
            fail(errors, f"captiva_users[{i}].username",
                 f"{user['username']!r} has the shape of a voucher code (10 characters of "
                 f"{ALPHABET}, any case): FreeRADIUS would take it for one; choose another "
                 "username")
    raw = variables.get(BATCHES_KEY)
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        fail(errors, BATCHES_KEY, f"expected a list, got {type_name(raw)}")
        return None, errors
    if not raw:
        return ([], []) if not errors else (None, errors)
    secret = variables.get(SECRET_KEY)
    if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
        fail(errors, SECRET_KEY,
              "required when vouchers are declared: a vaulted random string of at least "
              f"{MIN_SECRET_LENGTH} characters (e.g. 'openssl rand -base64 32 | "
              "ansible-vault encrypt_string'); changing it changes every code")
        secret = None

    known_profiles = set(profiles)
    folded_users = {u.lower(): u for u in usernames}
    batches: list[tuple[str, dict]] = []
    names: dict[str, int] = {}
    owners: dict[str, tuple[str, int]] = {}
    total = 0
    for i, item in enumerate(raw):
        path = f"{BATCHES_KEY}[{i}]"
        batch = BATCH(item, path, errors)
        if batch is INVALID:
            continue
        if isinstance(batch["name"], str):
            if batch["name"] in names:
                first = names[batch["name"]]
                fail(errors, f"{path}.name", f"duplicate batch name {batch['name']!r} "
                                              f"(already used by {BATCHES_KEY}[{first}])")
                continue
            names[batch["name"]] = i
        if isinstance(batch["profile"], str) and batch["profile"] not in known_profiles:
            fail(errors, f"{path}.profile", f"unknown profile {batch['profile']!r}"
                                             + suggest(batch["profile"], known_profiles))
        if batch["time_credit"] is None and batch["window_after_first_use"] is None:
            fail(errors, f"{path}.time_credit", "set time_credit (online time) or "
                  "window_after_first_use (wall-clock time from the first login), or both")
        for j, site in enumerate(batch["sites"] if isinstance(batch["sites"], list) else []):
            if isinstance(site, str) and site not in sites:
                fail(errors, f"{path}.sites[{j}]",
                      f"unknown site {site!r}" + suggest(site, sites))
        batch["language"] = batch["language"] or default_language
        batch["timezone"] = _batch_timezone(batch["sites"], sites, default_timezone)
        _check_validity(batch, path, errors)
        if isinstance(batch["count"], int):
            total += batch["count"]
        batches.append((path, batch))
    if total > MAX_TOTAL_COUNT:
        fail(errors, BATCHES_KEY, f"{total} vouchers in all: at most {MAX_TOTAL_COUNT}; "
                                   "remove batches that have ended")
    if errors or secret is None:
        return None, errors
    # Codes only for a batch list that is otherwise valid (deriving them is the costly part).
    for path, batch in batches:
        batch["codes"] = batch_codes(secret, batch["name"], batch["count"])
        _check_codes(batch, path, owners, folded_users, errors)
        batch["revoked_indexes"] = _revoked_indexes(batch, path, errors)
    if errors:
        return None, errors
    return [batch for _, batch in batches], []


def _batch_timezone(batch_sites, sites, default_timezone):
    zones = {sites.get(s) for s in batch_sites} if isinstance(batch_sites, list) else set()
    if len(zones) == 1 and None not in zones:
        return zones.pop()
    return default_timezone


def _instant(value, timezone_name, *, end: bool) -> dt.datetime:
    tz = zone(timezone_name)
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    day = value + dt.timedelta(days=1) if end else value
    return dt.datetime.combine(day, dt.time(), tzinfo=tz)


def _check_validity(batch, path, errors):
    start, until = batch["valid_from"], batch["valid_until"]
    if INVALID in (start, until):
        return
    batch["starts_at"] = _instant(start, batch["timezone"], end=False)
    batch["ends_at"] = _instant(until, batch["timezone"], end=True)
    if batch["ends_at"] <= batch["starts_at"]:
        fail(errors, f"{path}.valid_until",
              f"valid_until ({until}) is before valid_from ({start})")


def _check_codes(batch, path, owners, folded_users, errors):
    for index, code in enumerate(batch["codes"], start=1):
        if code in owners:
            other, other_index = owners[code]
            fail(errors, f"{path}.name",
                  f"voucher {index} has the same code as voucher {other_index} of batch "
                  f"{other!r} (a 1 in 10^12 chance): rename this batch before printing it")
            continue
        owners[code] = (batch["name"], index)
        if code.lower() in folded_users:
            fail(errors, f"{path}.name",
                  f"voucher {index}'s code {format_code(code)} is the username "
                  f"{folded_users[code.lower()]!r}: rename that user or this batch")


def _revoked_indexes(batch, path, errors) -> list[int]:
    by_code = {code: index for index, code in enumerate(batch["codes"], start=1)}
    indexes = set()
    for j, item in enumerate(batch["revoked"]):
        where = f"{path}.revoked[{j}]"
        if isinstance(item, int):
            if item > batch["count"]:
                fail(errors, where, f"voucher {item} does not exist: the batch has "
                                     f"{batch['count']} vouchers")
                continue
            index = item
        elif item in by_code:
            index = by_code[item]
        else:
            fail(errors, where, f"{format_code(item)} is not a code of batch "
                                 f"{batch['name']!r}")
            continue
        if index in indexes:
            fail(errors, where, f"voucher {index} is revoked twice")
        indexes.add(index)
    return sorted(indexes)


# --------------------------------------------------------------------------------------------
# Desired state


def compile_vouchers(batches: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The rows validated batches give, in the shape of the roster's compiled RADIUS state.

    ``radius_users``: each code's RADIUS user (username and cleartext password: the code;
    group: the batch's profile). A revoked code keeps its user, so FreeRADIUS can say why it
    is refused. ``tables``: Captiva's voucher tables (``captiva_voucher_first_use`` and
    urgent revocations are the database's own and never desired). ``summary``: counts.
    """
    users: dict[str, dict] = {}
    batch_rows, voucher_rows, revocation_rows = [], [], []
    for batch in batches:
        batch_rows.append({
            "name": batch["name"],
            "profile": batch["profile"],
            "time_credit": batch["time_credit"],
            "window_after_first_use": batch["window_after_first_use"],
            "starts_at": batch["starts_at"],
            "ends_at": batch["ends_at"],
            "data_cap": batch["data"],
            "simultaneous_use": batch["simultaneous_use"],
            "sites": list(batch["sites"]),
            "language": batch["language"],
            "count": batch["count"],
        })
        for index, code in enumerate(batch["codes"], start=1):
            voucher_rows.append({"code": code, "batch": batch["name"], "index": index})
            users[code] = {"group": batch["profile"],
                           "password": {"scheme": "cleartext", "value": code}, "check": []}
        revocation_rows.extend({"code": batch["codes"][index - 1], "source": "roster"}
                               for index in batch["revoked_indexes"])
    return {
        "radius_users": users,
        "tables": {
            "captiva_voucher_batch": batch_rows,
            "captiva_voucher": voucher_rows,
            "captiva_voucher_revocation": revocation_rows,
        },
        "summary": {"voucher_batches": len(batch_rows), "vouchers": len(voucher_rows),
                    "vouchers_revoked": len(revocation_rows)},
    }
