"""The drift detection timer (playbooks/drift.yml) on a controller host: installed, enabled
and scheduled; drift (exit 2) is not a unit failure. The checkout it would run is the
controller's own and is not in this container, so molecule schedules it where no test runs
(inventory/group_vars/all/drift.yml): the runs themselves are tested by
tests/integration/test_drift.py and test_gitops_pipeline.py, the hourly default by
tests/unit/test_drift_playbook.py."""

from __future__ import annotations

from pathlib import Path

import yaml

testinfra_hosts = ["podman://captiva-mol-portal"]
SCHEDULE = yaml.safe_load(
    (Path(__file__).parents[1] / "inventory/group_vars/all/drift.yml").read_text()
)["captiva_drift_on_calendar"]


def test_the_drift_timer_is_enabled_and_scheduled(host):
    timer = host.service("captiva-drift.timer")
    assert timer.is_enabled
    assert timer.is_running
    show = host.run("systemctl show captiva-drift.timer -p TimersCalendar")
    assert f"OnCalendar={SCHEDULE}" in show.stdout, show.stdout


def test_the_drift_service_runs_the_drift_command_and_accepts_drift(host):
    unit = host.run("systemctl cat captiva-drift.service").stdout
    assert "tools/captiva-drift" in unit
    assert "--metrics /var/lib/prometheus/node-exporter/captiva_drift.prom" in unit
    assert "SuccessExitStatus=2" in unit
    assert host.file("/var/lib/prometheus/node-exporter").is_directory
