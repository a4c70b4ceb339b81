"""Cards on paper: a layout file (YAML, fpdf2 template elements) rendered with fpdf2.

The layout is the admins' to change (see layouts/default.yml); this file only places cards
on pages and fills the placeholders. QR codes are drawn by segno.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import segno
import yaml
from fpdf import FPDF
from fpdf.template import FlexTemplate

from captiva.vouchers.cards import LayoutError, fill

DEFAULT_LAYOUT = "default.yml"
PAGE_SIZES = {"A4": (210, 297), "A5": (148, 210), "LETTER": (215.9, 279.4)}


def load_layout(path: str | Path | None = None) -> dict[str, Any]:
    if path is None:
        text = resources.files("captiva.vouchers").joinpath("layouts", DEFAULT_LAYOUT).read_text()
        where = f"(built-in) {DEFAULT_LAYOUT}"
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise LayoutError(f"{where}: {exc.strerror}") from None
    try:
        layout = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LayoutError(f"{where}: not valid YAML: {exc}") from None
    _check_layout(layout, where)
    layout["source"] = where
    return layout


def _check_layout(layout: Any, where: str) -> None:
    def need(condition: bool, path: str, reason: str) -> None:
        if not condition:
            raise LayoutError(f"{where}: {path}: {reason}")

    need(isinstance(layout, dict), "(top)", "expected a mapping")
    need(str(layout.get("page", "A4")).upper() in PAGE_SIZES, "page",
         "expected one of " + ", ".join(PAGE_SIZES))
    for key, fields in (("card", ("width", "height")), ("grid", ("columns", "rows"))):
        need(isinstance(layout.get(key), dict), key, "required mapping is missing")
        for field in fields:
            value = layout[key].get(field)
            need(isinstance(value, (int, float)) and value > 0, f"{key}.{field}",
                 "expected a number greater than zero")
    need(isinstance(layout.get("elements"), list) and layout["elements"], "elements",
         "expected a non-empty list of elements")
    for i, element in enumerate(layout["elements"]):
        need(isinstance(element, dict) and {"name", "type", "x1", "y1", "x2", "y2"}
             <= set(element), f"elements[{i}]", "needs name, type, x1, y1, x2 and y2")
        need(str(element["type"]).upper() in {"T", "B", "L", "I", "QR"},
             f"elements[{i}].type", "expected T, B, L, I or QR")
    for language, texts in (layout.get("texts") or {}).items():
        need(isinstance(texts, dict), f"texts.{language}", "expected a mapping of texts")


def qr_png(url: str) -> io.BytesIO:
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="png", scale=8, border=4)
    out.seek(0)
    return out


def render(cards: Iterable[Mapping[str, str]], layout: Mapping[str, Any], *,
           title: str) -> bytes:
    """A PDF with the cards placed row by row, ``columns x rows`` per page."""
    width, height = PAGE_SIZES[str(layout.get("page", "A4")).upper()]
    pdf = FPDF(orientation="P", unit="mm", format=(width, height))
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0)
    pdf.set_title(title)
    pdf.set_creator("captiva-vouchers")
    elements = []
    for element in layout["elements"]:
        element = dict(element)
        if str(element["type"]).upper() == "QR":
            element["type"] = "I"
        elements.append(element)
    template = FlexTemplate(pdf, elements)
    card, grid = layout["card"], layout["grid"]
    per_page = grid["columns"] * grid["rows"]
    gap = grid.get("gap", 0)
    for n, fields in enumerate(cards):
        if n % per_page == 0:
            pdf.add_page()
        row, column = divmod(n % per_page, grid["columns"])
        for source, element in zip(layout["elements"], elements, strict=True):
            where = f"{layout.get('source', 'layout')}: elements {element['name']!r}"
            if str(source["type"]).upper() == "QR":
                template[element["name"]] = qr_png(fields["login_url"])
            elif element["type"].upper() == "T":
                template[element["name"]] = fill(element.get("text", ""), fields, where)
        template.render(offsetx=grid.get("left", 0) + column * (card["width"] + gap),
                        offsety=grid.get("top", 0) + row * (card["height"] + gap))
    return bytes(pdf.output())
