"""playbooks/drift.yml schedules drift detection every hour by default, with a random delay
so that many controllers do not plan at the same second, and catches up a run missed while
the controller was off."""

from __future__ import annotations

from pathlib import Path

import jinja2
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_the_drift_timer_is_hourly_by_default_and_catches_up():
    (play,) = yaml.safe_load((ROOT / "playbooks/drift.yml").read_text())
    # Configuration files, not HTML: Ansible renders them unescaped.
    environment = jinja2.Environment(autoescape=False)  # noqa: S701
    calendar = environment.from_string(play["vars"]["__drift_on_calendar"]).render()
    assert calendar == "hourly"
    environment.filters["comment"] = lambda text: f"# {text}"  # Ansible's, for the header
    timer = environment.from_string(
        (ROOT / "playbooks/templates/captiva-drift.timer.j2").read_text()
    ).render(__drift_on_calendar=calendar, ansible_managed="managed")
    lines = timer.splitlines()
    assert "OnCalendar=hourly" in lines
    assert "Persistent=true" in lines
    assert any(line.startswith("RandomizedDelaySec=") for line in lines)
