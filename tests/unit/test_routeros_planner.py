"""The pure planner of captiva_routeros, with plain dicts as the router's state."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible_collections.captiva.campus.plugins.module_utils import captiva_routeros as ros

ROOT = Path(__file__).resolve().parents[2]
MARKER = "captiva"


def ledger(*lines: str) -> list[ros.LedgerChunk]:
    return [ros.LedgerChunk("captiva-ledger-1", "*L1", list(lines))]


@pytest.mark.parametrize(("name", "a", "b"), [
    ("rate-limit", "10M/2M", "10000000/2000000"),
    ("rate-limit", "2M/10M 4M/20M 1M/5M 10s/10s", "2000k/10M 4M/20M 1M/5M 10/10"),
    ("session-timeout", "1h", "01:00:00"),
    ("session-timeout", "1d2h", "1d02:00:00"),
    ("timeout", "300ms", "00:00:00.3"),
    ("radius-interim-update", "5m", "300"),
    ("use-radius", True, "true"),
    ("use-radius", "yes", True),
    ("disabled", "no", False),
    ("shared-users", 1, "1"),
    ("shared-users", "unlimited", "unlimited"),
    ("login-by", "https,cookie", "cookie,https"),
    ("authentication-port", 1812, "1812"),
])
def test_equal_values_normalise_alike(name, a, b):
    assert ros.normalise(name, a) == ros.normalise(name, b)


@pytest.mark.parametrize(("name", "a", "b"), [
    ("rate-limit", "10M/2M", "2M/10M"),
    ("session-timeout", "1h", "1m"),
    ("idle-timeout", "none", "10m"),
    ("shared-users", "unlimited", 1),
    ("use-radius", True, False),
])
def test_different_values_stay_different(name, a, b):
    assert ros.normalise(name, a) != ros.normalise(name, b)


PROFILE = {"name": "etudiant", "rate-limit": "2M/10M", "session-timeout": "8h"}


def test_create_from_empty_claims_ledger_names_first():
    plan = ros.plan({"/ip/hotspot/user/profile": [PROFILE]}, {}, [], marker=MARKER)
    assert [(a.menu, a.op) for a in plan.writes] == [
        ("/system/script", "create"), ("/ip/hotspot/user/profile", "create")]
    assert "# /ip/hotspot/user/profile etudiant" in plan.ledger_claims[0].write["source"]


def test_canonical_router_values_are_not_a_change():
    row = {".id": "*1", "name": "etudiant", "rate-limit": "2000000/10000000",
           "session-timeout": "08:00:00", "shared-users": 1}
    plan = ros.plan({"/ip/hotspot/user/profile": [PROFILE]},
                    {"/ip/hotspot/user/profile": [row]},
                    ledger("/ip/hotspot/user/profile etudiant"))
    assert not plan.changed


def test_update_writes_only_the_changed_fields():
    row = {".id": "*7", "name": "etudiant", "rate-limit": "1M/1M", "session-timeout": "8h"}
    plan = ros.plan({"/ip/hotspot/user/profile": [PROFILE]},
                    {"/ip/hotspot/user/profile": [row]},
                    ledger("/ip/hotspot/user/profile etudiant"))
    (action,) = plan.writes
    assert (action.op, action.id, action.write) == ("update", "*7", {"rate-limit": "2M/10M"})
    assert ros.diff(plan) == {
        "before": {"/ip/hotspot/user/profile": {"name=etudiant": {"rate-limit": "1M/1M"}}},
        "after": {"/ip/hotspot/user/profile": {"name=etudiant": {"rate-limit": "2M/10M"}}}}


def test_foreign_entries_are_neither_updated_nor_pruned():
    rows = [{".id": "*1", "service": "hotspot", "address": "10.0.0.1", "secret": "a"},
            {".id": "*2", "service": "hotspot", "address": "10.0.0.2", "secret": "b",
             "comment": "admin"}]
    plan = ros.plan({"/radius": []}, {"/radius": rows})
    assert not plan.changed and plan.owned == 0


def test_owned_comment_entries_not_desired_are_pruned():
    rows = [{".id": "*1", "service": "hotspot", "address": "10.0.0.1", "comment": MARKER}]
    plan = ros.plan({"/radius": []}, {"/radius": rows})
    assert [(a.op, a.id) for a in plan.actions] == [("delete", "*1")]
    assert not ros.plan({"/radius": []}, {"/radius": rows}, prune=False).changed


def test_ledger_conflict_fails_before_planning_writes():
    row = {".id": "*1", "name": "etudiant"}
    with pytest.raises(ros.RouterOSError, match="did not create.*etudiant"):
        ros.plan({"/ip/hotspot/user/profile": [PROFILE]}, {"/ip/hotspot/user/profile": [row]})


def test_stale_ledger_lines_are_released():
    plan = ros.plan({"/ip/hotspot/user/profile": []}, {"/ip/hotspot/user/profile": []},
                    ledger("/ip/hotspot/user/profile gone"))
    (release,) = plan.ledger_release
    assert release.op == "delete" and release.id == "*L1"


def test_prune_guard():
    rows = [{".id": f"*{i}", "name": f"p{i}"} for i in range(4)]
    owned = ledger(*(f"/ip/hotspot/user/profile p{i}" for i in range(4)))
    plan = ros.plan({"/ip/hotspot/user/profile": rows[:1]},
                    {"/ip/hotspot/user/profile": rows}, owned)
    with pytest.raises(ros.RouterOSError, match="refusing to remove 3 of the 4 entries"):
        ros.check_prune_guard(plan, prune_max_ratio=0.5)
    ros.check_prune_guard(plan, prune_max_ratio=0.5, allow_mass_prune=True)
    ros.check_prune_guard(plan, prune_max_ratio=0.75)
    with pytest.raises(ros.RouterOSError, match="allows 2"):  # the count caps the ratio
        ros.check_prune_guard(plan, prune_max_ratio=0.75, prune_max_count=2)


def test_ledger_chunks_fill_then_split_and_keep_their_lines():
    lines = [f"/ip/hotspot/user/profile profile-{i:05d}" for i in range(300)]
    chunks = ros.ledger_changes([], lines, (), MARKER)
    assert len(chunks) > 1
    assert all(len(ros.ledger_source(c.lines)) <= ros.LEDGER_CHUNK_CHARS for c in chunks)
    after = ros.ledger_changes(chunks, [], [lines[0]], MARKER)
    changed = [c.name for c, d in zip(chunks, after, strict=True) if c.lines != d.lines]
    assert changed == [chunks[0].name]  # one removal rewrites one chunk
    parsed = ros.parse_ledger([{".id": "*1", "name": c.name, "comment": MARKER,
                                "source": ros.ledger_source(c.lines)} for c in chunks], MARKER)
    assert ros.ledger_owned(parsed)["/ip/hotspot/user/profile"] == {
        line.split(" ", 1)[1] for line in lines}


@pytest.mark.parametrize(("desired", "message"), [
    ({"/ip/hotspot/user": []}, "never creates local hotspot users"),
    ({"/ip/firewall/filter": []}, "unsupported menu path"),
    ({"/radius/incoming": [{"accept": True}]}, "settings menu takes a dict"),
    ({"/radius": [{"service": "hotspot", "comment": "x"}]}, "ownership marker"),
    ({"/ip/hotspot/profile": [{"use-radius": True}]}, "'name' is required"),
    ({"/ip/hotspot/profile": [{"name": "a"}, {"name": "a"}]}, "same name as entry 0"),
    ({"/ip/hotspot/user/profile": [{"name": "a", "colour": 1}]}, "unknown field 'colour'"),
])
def test_invalid_desired_states(desired, message):
    errors = ros.validate_desired(desired)
    assert any(message in e for e in errors), errors


def test_secret_values_are_collected_for_masking():
    desired = {"/radius": [{"address": "10.0.0.1", "secret": "s1"}, {"address": "10.0.0.2"}],
               "/ip/hotspot/profile": [{"name": "c", "mac-auth-password": "m"}]}
    assert ros.secret_values(desired) == {"s1", "m"}
