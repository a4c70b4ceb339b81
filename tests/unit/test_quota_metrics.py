"""The quota jobs' Prometheus textfile: what an alert rule on a failed router reads."""

from __future__ import annotations

from captiva.runtime import metrics


def test_enforce_names_failed_and_unreachable_routers(tmp_path):
    summary = {"ack": 10, "nak": 2, "timeout": 5, "skipped": 95, "failed": 102,
               "failed_routers": {"gw-b": "unreachable: ...", 'gw-"c"': "2 NAK"},
               "routers": {"gw-a": {"unreachable": False}, "gw-b": {"unreachable": True},
                           'gw-"c"': {"unreachable": False}}}
    text = metrics.render("enforce", summary, seconds=9.5, at=1700000000)
    lines = set(text.splitlines())
    assert 'captiva_quota_last_run_failed{job="enforce"} 102' in lines
    assert 'captiva_quota_last_run_duration_seconds{job="enforce"} 9.500' in lines
    assert 'captiva_quota_enforce_disconnects{result="skipped"} 95' in lines
    assert 'captiva_quota_enforce_router_failed{router="gw-a"} 0' in lines
    assert 'captiva_quota_enforce_router_unreachable{router="gw-b"} 1' in lines
    assert 'captiva_quota_enforce_router_failed{router="gw-\\"c\\""} 1' in lines
    path = metrics.write(tmp_path, "enforce", text)
    assert path.name == "captiva_quota_enforce.prom" and path.read_text() == text
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_an_overlapped_start_is_visible():
    text = metrics.render("close-stale", {}, seconds=0.01, overlapped=True)
    assert 'captiva_quota_last_run_overlapped{job="close-stale"} 1' in text
    assert "captiva_quota_enforce" not in text


def test_enforce_exports_the_sources_throttled_for_guessing_codes():
    summary = {"guess_throttled": {"station": {"sources": 2, "requests": 517},
                                   "nas": {"sources": 0, "requests": 0}}}
    lines = set(metrics.render("enforce", summary, seconds=1.0).splitlines())
    assert 'captiva_radius_guess_throttled_sources{scope="station"} 2' in lines
    assert 'captiva_radius_guess_throttled_requests{scope="station"} 517' in lines
    assert 'captiva_radius_guess_throttled_sources{scope="nas"} 0' in lines


def test_each_family_is_one_group_headed_by_its_help_and_type():
    # Prometheus's text format: "All lines for a given metric must be provided as one single
    # group, with the optional HELP and TYPE lines first" (docs/instrumenting/exposition_formats).
    summary = {"ack": 1, "failed_routers": {"gw-b": "2 NAK"},
               "routers": {"gw-a": {"unreachable": False}, "gw-b": {"unreachable": True}},
               "guess_throttled": {"station": {"sources": 1, "requests": 30}}}
    groups: list[tuple[str, list[str]]] = []
    for line in metrics.render("enforce", summary, seconds=1.0).splitlines():
        kind, name = (line.split()[1], line.split()[2]) if line.startswith("#") \
            else ("sample", line.split("{")[0].split()[0])
        if not groups or groups[-1][0] != name:
            groups.append((name, []))
        groups[-1][1].append(kind)
    names = [name for name, _ in groups]
    assert len(names) == len(set(names)), names
    assert all(kinds[:2] == ["HELP", "TYPE"] for _, kinds in groups)
    assert dict(groups)["captiva_quota_enforce_router_failed"] == ["HELP", "TYPE", "sample",
                                                                   "sample"]
