"""Voucher batches through `make plan`/`make apply`'s reconcile (issue 13): the plan counts
vouchers, growing a batch adds codes and changes none, revoking removes one, removing a batch
meets the prune guard, an urgent revocation is kept and reported until the roster lists it,
and no code ever appears in the output."""

import yaml
from ansible_run import ansible_playbook, recap
from test_radius_module import write_inventory

SECRET = "the-vaulted-voucher-secret-of-this-campus-0123456789"


def set_batches(inventory, batches):
    roster_file = inventory / "group_vars" / "all" / "roster.yml"
    roster = yaml.safe_load(roster_file.read_text())
    roster["captiva_voucher_secret"] = SECRET
    roster["captiva_voucher_batches"] = batches
    roster_file.write_text(yaml.safe_dump(roster))


def batch(count, **changes):
    return {"name": "portes-ouvertes", "count": count, "profile": "etudiant-standard",
            "time_credit": "2h", "valid_from": "2026-01-01", "valid_until": "2030-12-31",
            **changes}


def codes(radius_db):
    with radius_db.connect() as conn:
        return dict(conn.execute("SELECT index, code FROM captiva_voucher ORDER BY index"))


def test_batches_plan_apply_grow_revoke_and_urgent(tmp_path, radius_db):
    inventory = write_inventory(tmp_path, radius_db, ["alice01"])
    set_batches(inventory, [batch(300)])
    plan = ansible_playbook(inventory, "reconcile.yml", "--check", "--diff")
    assert plan.returncode == 0, plan.stdout
    assert "vouchers: +300 ~0 -0" in plan.stdout
    assert "voucher_batch portes-ouvertes" in plan.stdout and "codes: +300 -0" in plan.stdout

    assert ansible_playbook(inventory, "reconcile.yml").returncode == 0
    first = codes(radius_db)
    assert len(first) == 300
    with radius_db.connect() as conn:
        users = conn.execute("SELECT count(*) FROM radusergroup WHERE groupname = "
                             "'etudiant-standard' AND managed_by = 'captiva'").fetchone()[0]
    assert users == 301  # alice and the 300 codes
    again = ansible_playbook(inventory, "reconcile.yml", "--diff")
    assert recap(again.stdout)["changed"] == 0
    assert not any(code in again.stdout for code in first.values())

    # Grow the batch: two codes more, the first 300 unchanged. Revoke number 17.
    set_batches(inventory, [batch(302, revoked=[17])])
    grown = ansible_playbook(inventory, "reconcile.yml", "--diff")
    assert grown.returncode == 0, grown.stdout
    assert "vouchers: +2 ~0 -1" in grown.stdout, grown.stdout[-2500:]
    assert "voucher portes-ouvertes#17" in grown.stdout
    now = codes(radius_db)
    assert {i: now[i] for i in first} == first and len(now) == 302
    assert not any(code in grown.stdout for code in now.values())

    # An urgent revocation (a code photographed and shared), made in the database.
    with radius_db.connect() as conn:
        conn.execute("INSERT INTO captiva_voucher_revocation (code, source, reason) "
                     "VALUES (%s, 'urgent', 'shared on social media')", (now[42],))
    kept = ansible_playbook(inventory, "reconcile.yml", "--check")
    assert kept.returncode == 0, kept.stdout
    assert recap(kept.stdout)["changed"] == 0  # the reconcile respects it...
    assert "portes-ouvertes#42" in kept.stdout  # ... and reports it until the YAML has it
    set_batches(inventory, [batch(302, revoked=[17, 42])])
    listed = ansible_playbook(inventory, "reconcile.yml")
    assert listed.returncode == 0, listed.stdout
    with radius_db.connect() as conn:
        assert conn.execute("SELECT source FROM captiva_voucher_revocation WHERE code = %s",
                            (now[42],)).fetchone() == ("roster",)

    # Removing the batch removes 302 codes at once: the prune guard refuses.
    set_batches(inventory, [])
    removed = ansible_playbook(inventory, "reconcile.yml")
    assert removed.returncode != 0
    assert "refusing to remove 302 of the 302 vouchers" in removed.stdout
    assert len(codes(radius_db)) == 302
