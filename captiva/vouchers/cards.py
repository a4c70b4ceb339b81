"""What each card says: the pure part of printing (no PDF, no files)."""

from __future__ import annotations

import datetime as dt
import string
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from captiva.vouchers import module_utils

LANGUAGES = ("fr", "en")
# What a code gives, per language; the card shows the phrases that apply, joined.
PHRASES = {
    "fr": {"time_credit": "{} de connexion", "window": "{} dès la première connexion",
           "data": "{} de données", "devices": "{} appareils à la fois"},
    "en": {"time_credit": "{} online", "window": "{} from the first login",
           "data": "{} of data", "devices": "{} devices at a time"},
}


class LayoutError(ValueError):
    """A layout that cannot be used; the message names the file and the problem."""


def fill(text: str, fields: Mapping[str, str], where: str) -> str:
    """``text`` with its ``{placeholders}`` replaced by ``fields``."""
    try:
        return string.Formatter().vformat(text, (), fields)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise LayoutError(f"{where}: unknown placeholder or bad braces in {text!r}: "
                          f"{exc}") from None


class SelectionError(ValueError):
    """A reprint selection that names no voucher of the batch."""


DAYS = {"fr": "jours", "en": "days"}


def duration_text(seconds: int, language: str) -> str:
    """For guests: 7200 -> '2 h', 5400 -> '1 h 30 min', 172800 -> '2 jours' / '2 days'."""
    if seconds >= 2 * 86400 and seconds % 86400 == 0:
        return f"{seconds // 86400} {DAYS[language]}"
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    if hours and minutes:
        return f"{hours} h {minutes:02d} min"
    return f"{hours} h" if hours else f"{max(minutes, 1)} min"


def limits(batch: Mapping[str, Any], language: str) -> str:
    units = module_utils().units
    phrases = PHRASES[language]
    out = []
    if batch.get("time_credit"):
        out.append(phrases["time_credit"].format(duration_text(batch["time_credit"], language)))
    if batch.get("window_after_first_use"):
        out.append(phrases["window"].format(
            duration_text(batch["window_after_first_use"], language)))
    if batch.get("data"):
        out.append(phrases["data"].format(size_text(batch["data"], units.SIZE_UNITS)))
    if batch.get("simultaneous_use") and batch["simultaneous_use"] > 1:
        out.append(phrases["devices"].format(batch["simultaneous_use"]))
    return ", ".join(out)


def size_text(n_bytes: int, size_units: Mapping[str, int]) -> str:
    """A data cap as the roster declared it: exact, in the unit that gives the smallest whole
    number, decimal or binary (5000000 -> '5 MB', 5368709120 -> '5 GiB'); never rounded."""
    exact = [(n_bytes // factor, unit) for unit, factor in size_units.items()
             if factor > 1 and n_bytes >= factor and n_bytes % factor == 0]
    if not exact:
        return f"{n_bytes} B"
    number, unit = min(exact, key=lambda pair: (pair[0], not pair[1].endswith("iB")))
    return f"{number} {unit}"


def _last_day(batch: Mapping[str, Any]) -> str:
    until = batch["valid_until"]
    return until.isoformat(sep=" ", timespec="minutes") if isinstance(until, dt.datetime) \
        else until.isoformat()


def _first_day(batch: Mapping[str, Any]) -> str:
    start = batch["valid_from"]
    return start.isoformat(sep=" ", timespec="minutes") if isinstance(start, dt.datetime) \
        else start.isoformat()


def select(batch: Mapping[str, Any], only: Iterable[str] = ()) -> list[int]:
    """Indexes to print: all unrevoked ones, or those named by ``only`` (``17``, ``10-20`` or
    a code as printed). Naming a revoked voucher, or one outside the batch, is an error."""
    vouchers = module_utils().vouchers
    count, revoked = batch["count"], set(batch["revoked_indexes"])
    only = list(only)
    if not only:
        return [i for i in range(1, count + 1) if i not in revoked]
    by_code = {code: i for i, code in enumerate(batch["codes"], start=1)}
    chosen: list[int] = []
    for item in only:
        low, _, high = item.partition("-")
        if low.isdigit() and (not high or high.isdigit()):
            first, last = int(low), int(high or low)
            if not 1 <= first <= last <= count:
                raise SelectionError(f"{item}: the batch has vouchers 1 to {count}")
            indexes = range(first, last + 1)
        else:
            try:
                code = vouchers.normalise(item)
            except vouchers.VoucherCodeError as exc:
                raise SelectionError(f"{item}: {exc}") from None
            if code not in by_code:
                raise SelectionError(f"{item}: not a code of batch {batch['name']!r}")
            indexes = [by_code[code]]
        for index in indexes:
            if index in revoked:
                raise SelectionError(f"voucher {index} is revoked: it cannot be reprinted")
            if index not in chosen:
                chosen.append(index)
    return chosen


def card_fields(batch: Mapping[str, Any], index: int, *, wifi_name: str, login_url: str,
                texts: Mapping[str, Mapping[str, str]], where: str = "layout") -> dict[str, str]:
    """The placeholders of one card (see layouts/default.yml)."""
    vouchers = module_utils().vouchers
    code = batch["codes"][index - 1]
    fields = {
        "code": vouchers.format_code(code),
        "username": code,
        "index": str(index),
        "batch": batch["name"],
        "wifi_name": wifi_name,
        "login_url": login_url_for(login_url, code),
        "valid_from": _first_day(batch),
        "valid_until": _last_day(batch),
    }
    for language in LANGUAGES:
        fields[f"limits_{language}"] = limits(batch, language)
        for key, text in texts.get(language, {}).items():
            fields[f"{key}_{language}"] = fill(text, fields, f"{where}: texts.{language}.{key}")
    first = batch["language"]
    order = (first, *[lang for lang in LANGUAGES if lang != first])
    for rank, language in enumerate(order, start=1):
        for key in [k[: -len(language) - 1] for k in fields if k.endswith(f"_{language}")]:
            fields[f"{key}_{rank}"] = fields[f"{key}_{language}"]
    return fields


def login_url_for(template: str, code: str) -> str:
    """The hotspot login URL with the code filled in (``{code}`` in the template)."""
    return template.replace("{code}", code)


# The hotspot's login methods with a login form (roster: captiva_hotspot_login_by).
FORM_METHODS = ("https", "http-chap", "http-pap")


class LoginMethodError(ValueError):
    """A card URL that cannot log a guest in with the router's login methods."""


def default_login_url(dns_name: str, login_by: list[str]) -> str:
    """What a card's QR code opens: the router's login page with the code in the URL's
    fragment, which Captiva's login page puts into its code form and sends by the method the
    router offers. A fragment never reaches a server or its logs. https when the routers log
    in over HTTPS, else plain http (http-chap or http-pap)."""
    if "https" in login_by:
        scheme = "https"
    elif any(method in login_by for method in FORM_METHODS):
        scheme = "http"
    else:
        raise LoginMethodError(
            "captiva_hotspot_login_by has no login method with a form (https, http-chap or "
            "http-pap): a card's code cannot be typed or sent anywhere")
    return f"{scheme}://{dns_name}/login#code={{code}}"


def login_url_warnings(template: str, login_by: list[str]) -> list[str]:
    """Why a given card URL does not fit the routers' login methods: raises LoginMethodError
    when it cannot work, returns warnings when it works badly."""
    url = urllib.parse.urlsplit(template)
    query = urllib.parse.parse_qs(url.query)
    warnings = []
    if "password" in query:
        if "http-pap" not in login_by:
            raise LoginMethodError(
                "this URL logs in with a GET that carries the password, which the router "
                "accepts only with http-pap in captiva_hotspot_login_by (it has "
                f"{','.join(login_by)}): leave --login-url out, the default opens the login "
                "page with the code filled in (.../login#code=...)")
        warnings.append("this URL carries the code as a password in its query: it crosses the "
                        "WiFi in clear and lands in proxy and browser logs; the default "
                        "(.../login#code=...) does not")
    if url.scheme == "https" and "https" not in login_by:
        raise LoginMethodError(
            "an https:// URL, but captiva_hotspot_login_by has no https: the router serves no "
            "HTTPS login page; use http://")
    if url.scheme == "http" and not any(m in login_by for m in ("http-chap", "http-pap")):
        raise LoginMethodError(
            "an http:// URL, but captiva_hotspot_login_by logs in over HTTPS only: use "
            "https://")
    return warnings


CSV_COLUMNS = ("batch", "index", "code", "username", "login_url", "wifi_name", "valid_from",
               "valid_until", "limits_fr", "limits_en")


def csv_rows(batch, indexes, *, wifi_name, login_url) -> list[dict[str, str]]:
    rows = []
    for index in indexes:
        fields = card_fields(batch, index, wifi_name=wifi_name, login_url=login_url, texts={})
        rows.append({column: fields[column] for column in CSV_COLUMNS})
    return rows
