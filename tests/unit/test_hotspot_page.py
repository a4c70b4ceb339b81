"""The files planner behind the hotspot login page, and the page's copy of the code rules."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ansible_collections.captiva.campus.plugins.module_utils import captiva_vouchers
from ansible_collections.captiva.campus.plugins.module_utils.captiva_routeros import RouterOSError
from ansible_collections.captiva.campus.plugins.module_utils.captiva_routeros_files import (
    CONTENTS_LIMIT,
    digest,
    plan,
    reconcile,
    validate_files,
    wire_contents,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "roles" / "mikrotik" / "templates" / "hotspot" / "login.html.j2"
PAGE = "flash/hotspot/login.html"


class ReadOnlyRouter:
    """A router that answers prints and fails any write (check mode must not write)."""

    def __init__(self, rows):
        self.rows = rows

    def print(self, path, *words):
        assert path == "/file"
        return self.rows

    def add(self, *args):
        raise AssertionError("write in check mode")

    set = add


def test_plan_creates_updates_and_leaves_unchanged_files():
    current = [{".id": "*1", "name": PAGE, "type": "file", "contents": "old"},
               {".id": "*2", "name": "flash/hotspot/status.html", "contents": "same"}]
    actions = plan([{"name": PAGE, "contents": "new"},
                    {"name": "flash/hotspot/status.html", "contents": "same"},
                    {"name": "flash/hotspot/extra.html", "contents": "x"}], current)
    assert [(a.name, a.op, a.entry_id) for a in actions] == [
        (PAGE, "update", "*1"), ("flash/hotspot/status.html", "none", "*2"),
        ("flash/hotspot/extra.html", "create", None)]
    assert actions[0].summary()["before_sha256"] == digest("old")


def test_check_mode_reads_and_writes_nothing():
    router = ReadOnlyRouter([{".id": "*1", "name": PAGE, "contents": "old"}])
    result = reconcile(router, [{"name": PAGE, "contents": "new"}], check_mode=True)
    assert result["changed"] and result["files"][0]["action"] == "update"
    assert result["diff"] == [{"before_header": PAGE, "after_header": PAGE,
                               "before": "old", "after": "new"}]
    same = reconcile(router, [{"name": PAGE, "contents": "old"}], check_mode=True)
    assert not same["changed"] and same["diff"] == []


def test_html_travels_as_ascii_with_character_references():
    assert wire_contents(PAGE, "<p>Accès</p>") == "<p>Acc&#232;s</p>"
    assert validate_files([{"name": "notes.txt", "contents": "Accès"}]) == [
        "files[0].contents: only an HTML page may hold non-ASCII text (sent as character "
        "references); the RouterOS API carries ASCII"]


def test_bad_files_are_refused_with_every_reason():
    errors = validate_files([{"name": "/abs.html", "contents": "x"},
                             {"name": PAGE, "contents": "x" * (CONTENTS_LIMIT + 1)},
                             {"name": PAGE, "contents": 3}])
    assert errors == [
        "files[0].name: a relative path such as flash/hotspot/login.html, got '/abs.html'",
        f"files[1].contents: {CONTENTS_LIMIT + 1} bytes; RouterOS takes at most "
        f"{CONTENTS_LIMIT} bytes of contents over the API",
        f"files[2].name: {PAGE} is given twice", "files[2].contents: text expected"]
    with pytest.raises(RouterOSError, match="a directory is in the way"):
        plan([{"name": PAGE, "contents": "x"}], [{"name": PAGE, "type": "directory"}])


def test_the_page_uses_the_code_rules_of_captiva_vouchers():
    page = TEMPLATE.read_text()
    assert re.search(r'var ALPHABET = "([^"]+)"', page).group(1) == captiva_vouchers.ALPHABET
    assert int(re.search(r"var CODE_LENGTH = (\d+)", page).group(1)) == (
        captiva_vouchers.CODE_LENGTH)
    lookalikes = json.loads(re.search(r"var LOOKALIKES = (\{[^}]+\})", page).group(1))
    assert {ord(k): v for k, v in lookalikes.items()} == captiva_vouchers._LOOKALIKES
    script = page.split("<script>", 1)[1]
    assert script.isascii(), "the script travels over the ASCII API: use \\u escapes"


def test_the_page_reads_the_fragment_the_cards_qr_code_writes():
    from captiva.vouchers import cards

    url = cards.default_login_url("wifi.campus.test", ["https", "cookie"])
    fragment = url.split("#", 1)[1]
    assert fragment == "code={code}"
    # the page's pattern, run as JavaScript would on location.hash
    pattern = re.search(r"/\(\?:\^#\|&\)(\w+)=\(\[\^&\]\*\)/", TEMPLATE.read_text())
    assert pattern is not None and pattern.group(1) == fragment.split("=")[0]
