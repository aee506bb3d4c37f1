"""The demo: the incident replayed with no gates, workload-error gates, and waveguard's plan.
Each expectation is an assertion on the simulated outcome, not on a scripted one."""

from __future__ import annotations

import json

import pytest

from waveguard.cli.main import app
from waveguard.model.fleet import default_fleet
from waveguard.demo import run_demo


@pytest.fixture(scope="module")
def demo():
    return run_demo()


@pytest.fixture(scope="module")
def outcomes(demo):
    return {r.name: r for r in demo.strategies}


def test_none_reaches_the_whole_fleet_and_saturates_most_large_clusters(outcomes):
    none = outcomes["none"]
    assert none.blast_radius_pct == pytest.approx(100.0)
    assert none.halted_at_s is None and not none.rolled_back
    large = [c for c in default_fleet().clusters if c.nodes >= 2000]
    assert none.saturated_clusters >= len(large) * 0.75
    assert none.impact_minutes > 0


def test_workload_errors_halts_only_after_damage(outcomes):
    we = outcomes["workload-errors"]
    assert we.halted_at_s is not None and we.rolled_back
    assert we.saturated_clusters >= 1  # its signal comes after a control plane saturated
    assert 0 < we.blast_radius_pct < 100


def test_waveguard_halts_before_any_production_cluster_saturates(outcomes):
    guard = outcomes["waveguard"]
    assert guard.halted_at_s is not None and guard.rolled_back
    assert guard.saturated_clusters == 0
    assert guard.blast_radius_pct <= 5.0
    assert guard.impact_minutes == 0
    assert guard.fired["gate"] == "projection" and guard.fired["before_apply"]
    none = outcomes["none"]
    assert guard.impact_minutes < outcomes["workload-errors"].impact_minutes < none.impact_minutes


def test_sli_gates_catch_what_the_projection_cannot_know_in_the_first_production_wave(demo):
    case = demo.production_traffic
    assert case.rolled_back and case.fired["gate"] != "projection" and not case.fired["before_apply"]
    assert case.blast_radius_pct <= 1.0 + 1e-9  # the first production wave: a 1 % slice
    assert case.saturated_clusters == 0 and case.impact_minutes < 10


def test_demo_json_and_report(runner, tmp_path, monkeypatch, demo):
    monkeypatch.setattr("waveguard.demo.run_demo", lambda *a, **k: demo)  # the module's run
    report = tmp_path / "demo.html"
    result = runner.invoke(app, ["demo", "-o", "json", "--report", str(report)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [s["name"] for s in doc["strategies"]] == ["none", "workload-errors", "waveguard"]
    assert doc["production_traffic_case"]["rolled_back"] is True
    for s in doc["strategies"]:
        assert {"name", "blast_radius_pct", "halted_at_s", "saturated_clusters", "impact_minutes",
                "rolled_back"} <= set(s)
    html = report.read_text()
    assert html.count("data:image/png;base64,") == 3 and "the gate that fired" in html and "projection" in html
