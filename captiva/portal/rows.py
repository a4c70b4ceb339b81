"""Query results as the pages and the JSON API use them: rows as dicts, values JSON can carry."""

from __future__ import annotations

import datetime as dt
from typing import Any


def dicts(cursor) -> list[dict[str, Any]]:
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if isinstance(value, dt.datetime | dt.date):
            value = value.isoformat()
        elif value is not None and not isinstance(value, int | float | str | bool | list):
            value = str(value)
        out[key] = value
    return out


def jsonable_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [jsonable(row) for row in rows]
