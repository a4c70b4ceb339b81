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
    # A record the stopped server acknowledged from its buffer (its SQL write had failed, e.g.
    # under load) waits there until the server starts again: not lost, and counted here.
    try:
        lab.wait_until(lambda: acknowledged <= lab.accounting_rows(run).keys(), 20, 2,
                       "every acknowledged record in radacct")
        held = 0
    except AssertionError:
        held = len(acknowledged - lab.accounting_rows(run).keys())
    lab.start(first)  # its buffer replays on start (docs/ha.md, "What fails over")
    rows = lab.wait_until(lambda: (r := lab.accounting_rows(run)) and acknowledged <= r.keys()
                          and r, 90, 2, "every acknowledged record in radacct")
    figures = ({"stopped": first.name, "held_in_the_stopped_servers_buffer": held}
               | lab.summary(result, rows))
    report("radius_server_stopped", figures)
    assert result["logins"]["unanswered"] == 0, figures
    assert result["logins"]["rejected"] == 0, figures
    assert figures["accounting_unanswered"] == 0, figures
    assert figures["accounting_lost"] == [] and figures["accounting_duplicated"] == [], figures
    assert result["logins"]["answered_by"].get(second.address, 0) > 0, figures
