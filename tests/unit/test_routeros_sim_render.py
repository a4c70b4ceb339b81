"""The simulator's hotspot variables (help.mikrotik.com "Hotspot customisation", "Working
with variables"): $(var), $(if), $(elif), $(else), $(endif), == and !=, nested."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from routeros_sim.hotspot_http import octal, render  # noqa: E402

PAGE = """$(if username == john)john$(elif username == dizzy)Dizzy$(elif ip == 10.1.2.3)old\
$(else)stranger$(endif)"""


@pytest.mark.parametrize(("values", "shown"), [
    ({"username": "john"}, "john"),
    ({"username": "dizzy", "ip": "10.1.2.3"}, "Dizzy"),  # only one branch
    ({"username": "x", "ip": "10.1.2.3"}, "old"),
    ({}, "stranger"),
])
def test_the_documented_if_elif_else_example(values, shown):
    assert render(PAGE, values) == shown


def test_variables_conditions_and_nesting():
    page = ("<$(a)>$(if a)[A$(if b != no)B$(else)-$(endif)]$(endif)"
            "$(if c)never$(if a)inner$(endif)$(endif)<$(unknown)>")
    assert render(page, {"a": "1", "b": "yes"}) == "<1>[AB]<>"
    assert render(page, {"a": "1", "b": "no"}) == "<1>[A-]<>"
    assert render(page, {}) == "<><>"
    assert render('$(if error == "")none$(endif)', {"error": ""}) == "none"


def test_chap_values_are_octal_escapes_one_per_byte():
    assert octal(bytes([0o371, 0, 0x5C])) == "\\371\\000\\134"
