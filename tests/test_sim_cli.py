"""``waveguard simulate`` on the command line: output formats and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from waveguard.cli.main import app

@pytest.fixture
def small(two_cluster_scenario) -> str:
    """Clusters a (100 nodes) and b (400): the change reaches a at 10 s and b at 30 s."""
    return two_cluster_scenario(
        "small", "    - name: a\n      nodes: 100\n    - name: b\n      nodes: 400\n",
        "  - cluster: a\n    at_s: 10\n  - clusters: [b]\n    at_s: 30\n", duration_s=120, seed=1)


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_table_output(runner, tmp_path, small):
    result = runner.invoke(app, ["simulate", str(write(tmp_path, small))])
    assert result.exit_code == 0, result.output
    assert "small" in result.output and "saturated at" in result.output
    assert "0:00:11" in result.output  # the change reached cluster a after 10 s


def test_json_output(runner, tmp_path, small):
    result = runner.invoke(app, ["simulate", str(write(tmp_path, small)), "-o", "json", "--seed", "4"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["scenario"] == "small" and out["seed"] == 4
    assert [c["name"] for c in out["clusters"]] == ["a", "b"]
    for c in out["clusters"]:
        assert set(c) >= {"name", "nodes", "saturated_at_s", "dns_failing_at_s", "peak_error_rate", "impact_minutes"}
        assert c["saturated_at_s"] is None and 0.0 <= c["peak_error_rate"] <= 1.0


def test_report_and_metrics_files(runner, tmp_path, small):
    report, series = tmp_path / "out.html", tmp_path / "series.csv"
    result = runner.invoke(app, ["simulate", str(write(tmp_path, small)), "--report", str(report),
                                 "--metrics-out", str(series)])
    assert result.exit_code == 0, result.output
    html = report.read_text()
    # four fleet charts, then one per worst cluster (both of the two)
    assert html.startswith("<!doctype html>") and html.count("data:image/png;base64,") == 4 + 2
    assert "http://" not in html and "https://" not in html  # self-contained
    lines = series.read_text().splitlines()
    assert lines[0].startswith("time_s,cluster,")
    assert 'apiserver_request_total{code=""429""}:rate' in lines[0]
    assert len(lines) == 1 + 2 * 120


def test_list_and_builtin(runner):
    listed = runner.invoke(app, ["simulate", "--list"])
    assert listed.exit_code == 0
    for name in ("incident-2024-12-11", "incident-2024-12-11-node-filtered", "relist-storm",
                 "relist-storm-no-backoff"):
        assert name in listed.output
    unknown = runner.invoke(app, ["simulate", "--builtin", "nope"])
    assert unknown.exit_code == 2
    assert "no built-in scenario" in unknown.output


def bad(runner, tmp_path, text: str):
    path = write(tmp_path, text)
    result = runner.invoke(app, ["simulate", str(path)])
    lines = [l for l in result.output.splitlines() if l.strip()]
    return result.exit_code, lines, str(path)


@pytest.mark.parametrize("mutation, key", [
    (lambda s: s.replace("duration_s: 120", "duration_s: 120\nspeed: 3"), "speed"),
    (lambda s: s.replace("nodes: 400", "nodes: -4"), "fleet.clusters.1.nodes"),
    (lambda s: s.replace("  - clusters: [b]", "  - clusters: [zz]"), "schedule.1.clusters"),
    (lambda s: s.replace("seed: 1", "seed: 1\nstep_s: 0"), "step_s"),
    (lambda s: s.replace("    at_s: 10", "    at_s: -10"), "schedule.0.at_s"),
    (lambda s: s.replace("      - {verb: list", "      - {verb: lsit"), "change.profile"),
    (lambda s: s.replace("    client: DaemonSet/x/agent", "    client: DaemonSet/x/agent\n    colour: red"),
     "change.profile"),
])
def test_bad_input_one_line_with_file_and_key(runner, tmp_path, mutation, key, small):
    code, lines, path = bad(runner, tmp_path, mutation(small))
    assert code == 2
    assert len(lines) == 1, lines
    assert path in lines[0] and key in lines[0]
    assert "Traceback" not in lines[0]


def test_bad_input_names_the_line(runner, tmp_path, small):
    code, lines, path = bad(runner, tmp_path, small.replace("  - cluster: a", "  - cluster: nope"))
    assert code == 2 and f"{path}:" in lines[0] and "schedule.0.cluster" in lines[0] and "nope" in lines[0]
    line_no = small.splitlines().index("  - cluster: a") + 1
    assert f"{path}:{line_no}:" in lines[0]


def test_malformed_yaml_and_missing_file(runner, tmp_path):
    code, lines, path = bad(runner, tmp_path, "name: [unclosed\n")
    assert code == 2 and len(lines) == 1 and path in lines[0]
    missing = runner.invoke(app, ["simulate", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and "nope.yaml" in missing.output


def test_scenario_and_builtin_are_exclusive(runner, tmp_path, small):
    both = runner.invoke(app, ["simulate", str(write(tmp_path, small)), "--builtin", "relist-storm"])
    neither = runner.invoke(app, ["simulate"])
    assert both.exit_code == neither.exit_code == 2
