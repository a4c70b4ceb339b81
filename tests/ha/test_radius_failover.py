"""Stop one FreeRADIUS under load: the other answers every request (docs/ha.md)."""

from __future__ import annotations

import time

from conftest import report

import lab


def test_stopping_one_radius_server_leaves_every_request_answered(healthy_lab):
    first, second = lab.group("freeradius")
    run = f"radius-{int(time.time())}"
    probe = lab.ProbeRun(run, duration=25)
    time.sleep(3)
    lab.stop(first)
    result = probe.report()
    acknowledged = set(result["accounting"]["acknowledged"])
    rows = lab.wait_until(lambda: (r := lab.accounting_rows(run)) and acknowledged <= r.keys()
                          and r, 60, 2, "every acknowledged record in radacct")
    figures = {"stopped": first.name} | lab.summary(result, rows)
    report("radius_server_stopped", figures)
    assert result["logins"]["unanswered"] == 0, figures
    assert result["logins"]["rejected"] == 0, figures
    assert figures["accounting_unanswered"] == 0, figures
    assert figures["accounting_lost"] == [] and figures["accounting_duplicated"] == [], figures
    assert result["logins"]["answered_by"].get(second.address, 0) > 0, figures
