"""How the templates print a rate, a duration, a size (Jinja filters ``rate``, ``duration``,
``bytes``): the templates only print."""

from __future__ import annotations

from captiva.quota.usage import format_bytes


def fmt_rate(bits: int | None) -> str:
    if bits is None:
        return "—"
    for unit, factor in (("Gbit/s", 10**9), ("Mbit/s", 10**6), ("kbit/s", 10**3)):
        if bits >= factor:
            value = bits / factor
            return f"{value:g} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{bits} bit/s"


def fmt_duration(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes:02d}" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def fmt_bytes(n: int | None) -> str:
    return "—" if n is None else format_bytes(int(n))
