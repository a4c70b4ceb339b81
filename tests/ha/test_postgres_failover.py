"""Stop the PostgreSQL primary under load, then start it again (docs/ha.md).

While the probe sends a login and an accounting record every 100 ms: a replica is promoted
within 30 s, no login is rejected (unanswered ones are counted), every acknowledged
accounting record is in radacct exactly once; the former primary then rejoins as a replica.
"""

from __future__ import annotations

import threading
import time

from conftest import report

import lab

PROMOTION_LIMIT = 30.0


def stop_primary_under_probe(run: str) -> tuple[lab.Host, lab.Host, float, dict]:
    old = lab.wait_until(lab.primaries, 60, 1, "a primary")[0]
    probe = lab.ProbeRun(run, duration=50)
    time.sleep(5)  # traffic flows before the failure
    stopped_at = time.monotonic()
    stopper = threading.Thread(target=lab.stop, args=(old,))
    stopper.start()
    new = lab.wait_until(lambda: [h for h in lab.primaries() if h != old], 60, 0.25,
                         "a new primary")[0]
    promoted_after = time.monotonic() - stopped_at
    stopper.join()
    return old, new, promoted_after, probe.report()


def test_stopping_the_primary_promotes_a_replica_and_loses_no_record(healthy_lab):
    run = f"pg-{int(time.time())}"
    old, new, promoted_after, probe = stop_primary_under_probe(run)
    acknowledged = set(probe["accounting"]["acknowledged"])
    # The RADIUS servers replay their buffers (retry every few seconds) onto the new primary.
    rows = lab.wait_until(lambda: (r := lab.accounting_rows(run)) and acknowledged <= r.keys()
                          and r, 120, 2, "every acknowledged record in radacct")
    figures = {"stopped": old.name, "promoted": new.name,
               "promoted_after_s": round(promoted_after, 1)} | lab.summary(probe, rows)
    report("postgres_primary_stopped", figures)
    assert promoted_after <= PROMOTION_LIMIT, figures
    assert probe["logins"]["rejected"] == 0, figures
    assert probe["logins"]["accepted"] > 0, figures
    assert figures["accounting_unanswered"] == 0, figures
    assert figures["accounting_lost"] == [], figures
    assert figures["accounting_duplicated"] == [], figures


def test_the_former_primary_rejoins_as_a_replica(healthy_lab):
    old = lab.wait_until(lab.primaries, 60, 1, "a primary")[0]
    lab.stop(old)
    new = lab.wait_until(lambda: [h for h in lab.primaries() if h != old], 60, 0.5,
                         "a new primary")[0]
    # A write the former primary never saw: it must have it once it is back.
    code, out = lab.psql(new, "INSERT INTO radacct (acctsessionid, acctuniqueid, username,"
                              " nasipaddress, acctstarttime) VALUES ('rejoin-check',"
                              " :'unique', :'user', '10.89.2.21', now()) RETURNING 1",
                         unique=f"rejoin-{int(time.time())}", user=lab.PROBE_ACCT_USER)
    assert code == 0, out
    started_at = time.monotonic()
    lab.start(old)

    def rejoined():
        member = [m for m in lab.cluster() if m.get("name") == old.name]
        return (member and member[0].get("role") in ("replica", "sync_standby")
                and member[0].get("state") in ("streaming", "running") and member[0])

    member = lab.wait_until(rejoined, 180, 2, f"{old.name} back as a replica")
    rejoin_s = round(time.monotonic() - started_at, 1)
    seen = lab.wait_until(
        lambda: lab.psql(old, "SELECT count(*) FROM radacct WHERE acctsessionid ="
                              " 'rejoin-check'")[1] == "1", 60, 1, "the new write replicated")
    in_recovery = lab.psql(old, "SELECT pg_is_in_recovery()")[1]
    figures = {"former_primary": old.name, "new_primary": new.name, "role": member["role"],
               "state": member["state"], "rejoined_after_start_s": rejoin_s,
               "in_recovery": in_recovery}
    report("former_primary_rejoins", figures)
    assert seen and in_recovery == "t", figures
