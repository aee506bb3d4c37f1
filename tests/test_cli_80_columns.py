"""What a user at an 80-column terminal sees (new-user trial): no line wider than 80 cells,
and no word of identifying text cut. Run through typer's CliRunner with COLUMNS=80 (stdout
is not a terminal there, as when piped: $COLUMNS is what sets the width)."""

from __future__ import annotations

import pytest
from rich.cells import cell_len

from waveguard.cli.main import app

WIDTH = 80
CHANGE = "examples/incident-telemetry"


@pytest.fixture
def at80(monkeypatch):
    monkeypatch.setenv("COLUMNS", str(WIDTH))


def _widest(text: str) -> int:
    return max((cell_len(line) for line in text.splitlines()), default=0)


def _words(text: str) -> list[str]:
    return " ".join(text.split()).split(" ")


def test_simulate_list_wraps_to_80_columns_keeping_every_name(runner, at80):
    result = runner.invoke(app, ["simulate", "--list"], terminal_width=WIDTH)
    assert result.exit_code == 0, result.output
    assert _widest(result.stdout) <= WIDTH
    assert "incident-2024-12-11" in result.stdout


def test_plan_findings_on_stderr_wrap_with_a_hanging_indent(runner, at80):
    result = runner.invoke(app, ["plan", CHANGE], terminal_width=WIDTH)
    assert result.exit_code == 0, result.output
    assert _widest(result.stdout) <= WIDTH and _widest(result.stderr) <= WIDTH
    assert "WG204 info:" in result.stderr
    lines = result.stderr.splitlines()
    assert lines[1].startswith("  ") and not lines[1].startswith("  fix:")  # the message goes on, indented
    assert "prod-01-200," in _words(result.stderr)  # cluster names whole


def test_plan_check_findings_wrap_to_80_columns(runner, at80, tmp_path):
    plan = tmp_path / "plan.yaml"
    assert runner.invoke(app, ["plan", CHANGE, "--output-file", str(plan)]).exit_code == 0
    result = runner.invoke(app, ["plan", "--check", str(plan)], terminal_width=WIDTH)
    assert "WG204" in result.stdout and _widest(result.stdout) <= WIDTH


def test_breakglass_check_wraps_each_item_under_its_verdict(runner, at80, tmp_path):
    manifests = tmp_path / "bg.yaml"
    # no FlowSchema nor level: the Kubernetes defaults are checked (an empty file is bad input)
    manifests.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    result = runner.invoke(app, ["breakglass", "check", "--manifests", str(tmp_path), "--change", CHANGE],
                           terminal_width=WIDTH)
    assert result.exit_code == 1, result.output
    assert _widest(result.stdout) <= WIDTH
    assert "waveguard-system/waveguard-controller" in _words(result.stdout) or \
        "waveguard-system/waveguard-controller:" in _words(result.stdout)
    fails = [line for line in result.stdout.splitlines() if line.startswith("  FAIL  ")]
    continued = [line for line in result.stdout.splitlines() if line.startswith(" " * 8)]
    assert len(fails) == 3 and continued


def test_rollout_start_halted_line_wraps(runner, at80, tmp_path):
    from tests.test_rollout_cli import FLEET_YAML, _fast_plan

    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(FLEET_YAML)
    plan = _fast_plan(runner, tmp_path, fleet)
    result = runner.invoke(app, ["rollout", "start", plan, "--fleet", str(fleet), "--state", str(tmp_path / "s.db"),
                                 "--force"], terminal_width=WIDTH)
    assert result.exit_code == 1, result.output
    halted = [i for i, line in enumerate(result.stdout.splitlines()) if line.startswith("halted: ")]
    assert halted, result.stdout
    assert _widest(result.stdout) <= WIDTH
