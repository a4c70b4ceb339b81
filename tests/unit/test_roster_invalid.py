"""The corpus of invalid rosters: each file states the exact error lines it must produce.

A corpus file holds the variables that differ from a small valid roster, and one
``# expect: <line>: <yaml path>: <reason>`` comment per error, in order.
"""

from pathlib import Path

import pytest
import yaml
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster import validate
from ansible_collections.captiva.campus.plugins.module_utils.captiva_roster_io import Locator
from roster_base import DEFAULTS_FILE, base_variables

CORPUS = sorted((Path(__file__).parent / "invalid_rosters").glob("*.yml"))


def expectations(path: Path) -> list[str]:
    return [line.removeprefix("# expect: ").strip()
            for line in path.read_text().splitlines() if line.startswith("# expect: ")]


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_invalid_roster_reports_exact_errors(path):
    variables = base_variables()
    variables.update(yaml.safe_load(path.read_text()))
    roster, errors = validate(variables)
    assert roster is None
    locator = Locator([str(DEFAULTS_FILE), str(path)], display_root=str(path.parent))
    rendered = [error.render(locator) for error in errors]
    assert rendered == [f"{path.name}:{line}" for line in expectations(path)]


def test_the_base_roster_is_valid():
    roster, errors = validate(base_variables())
    assert errors == []
    assert set(roster.profiles) == {"etudiant-standard"}
