"""docs/threat-model.md proves each claim by naming tests (`file::test`, then `::test` for
another test of the same file): every name points at a file and a test function that exist,
so a renamed or deleted test cannot leave a claim standing on nothing."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "threat-model.md"
SECTION = "## Claims and the tests that prove them"


def claims() -> list[tuple[str, list[str]]]:
    """(claim, the backquoted names of its "proved by" cell) for every row of the tables."""
    text = PAGE.read_text()
    assert SECTION in text, f"{PAGE}: no section {SECTION!r}"
    rows = []
    for line in text.split(SECTION, 1)[1].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) != 2 or cells[0] in ("claim", "---"):
            continue
        rows.append((cells[0], re.findall(r"`([^`]+)`", cells[1])))
    return rows


def references(names: list[str]) -> list[tuple[str, str | None]]:
    """(file, test or None) for each name; a bare `::test` belongs to the file named before it."""
    found, current = [], None
    for name in names:
        path, _, test = name.partition("::")
        current = path or current
        found.append((current, test or None))
    return found


def functions_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    return {node.name for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_every_claim_names_tests_that_exist():
    rows = claims()
    assert len(rows) > 50, "the claims tables were not found"
    missing = []
    for claim, names in rows:
        if not names:
            missing.append(f"{claim!r}: names no test")
        for path, test in references(names):
            if path is None or not (ROOT / path).is_file():
                missing.append(f"{claim!r}: {path} is not a file")
            elif test is not None and test not in functions_in(ROOT / path):
                missing.append(f"{claim!r}: {path} has no {test}")
    assert missing == [], "\n".join(missing)
