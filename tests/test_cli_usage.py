"""Usage errors and help as a new user meets them (the developers' brief: bad input is one clear
line naming what was wrong and what to do, non-zero exit; terminal output fits 80 columns).

Every command of the app is walked, so a command added later is covered without editing here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer

from waveguard.cli.main import app

WIDTH = 80


def _commands() -> list[list[str]]:
    """The argv of every leaf command (``["rollout", "status"]``, ``["analyse"]``, …)."""
    def walk(group, prefix: list[str]) -> list[list[str]]:
        out: list[list[str]] = []
        for name, command in sorted(getattr(group, "commands", {}).items()):
            if getattr(command, "hidden", False):
                continue
            out += walk(command, [*prefix, name]) if hasattr(command, "commands") else [[*prefix, name]]
        return out
    return walk(typer.main.get_command(app), [])


COMMANDS = _commands()


def _one_error_line(result) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("error: ") and ", " in line, line
    assert "╭" not in result.stderr and "Usage:" not in result.stderr and "Try " not in result.stderr
    return line


def test_every_command_is_walked():
    assert ["rollout", "status"] in COMMANDS and ["analyse"] in COMMANDS and ["gate", "check"] in COMMANDS
    assert len(COMMANDS) >= 20


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_an_unknown_option_is_one_line_exit_2_within_80_columns(runner, argv):
    result = runner.invoke(app, [*argv, "--no-such-option"])
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert "--no-such-option" in line and len(line) <= WIDTH, line
    assert result.stdout == ""


@pytest.mark.parametrize(("argv", "expected"), [
    (["rollout", "status", "--interval", "0.01"], "error: --interval: 0.01 is under 50ms, a refresh's cost, see "),
    (["rollout", "status", "--interval", "abc"], "error: --interval: 'abc' is not seconds or a duration (30s, 1m)"),
    (["risk", "plan.yaml", "--samples", "0"], "error: --samples: must be at least 1, see "),
    (["risk", "plan.yaml", "--samples", "x"], "error: --samples: must be a whole number, see "),
    (["demo", "--seed", "x"], "error: --seed: must be a whole number, see "),
    (["analyse", "--fail-on", "bogus", "x"], "error: --fail-on: 'bogus' is not one of warning, error, see "),
    (["schema", "nope"], "error: NAME: 'nope' is not one of "),
    (["rollout", "start"], "error: rollout start needs PLAN_PATH, see "),
    (["gate", "check"], "error: gate check needs --cluster, see "),
    (["rollout", "statu"], "error: rollout has no command 'statu', did you mean 'status' or 'start'?"),
    (["nosuch"], "error: waveguard has no command 'nosuch', see "),
    (["rollout", "status", "--stat"], "error: rollout status has no option --stat, did you mean --state or --watch?"),
    (["rollout", "status", "extra"], "error: rollout status takes no argument 'extra' here, see "),
    (["analyse", "-o"], "error: option '-o' requires an argument, see "),
])
def test_usage_errors_say_what_and_what_to_do_on_one_line(runner, argv, expected):
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    line = _one_error_line(result)
    assert line.startswith(expected) and len(line) <= WIDTH, line


def test_the_installed_command_prints_the_same_line_without_colour(tmp_path):
    """The entry point as a shell runs it (stderr a pipe), not only through the test runner."""
    script = Path(sys.executable).parent / "waveguard"
    if not script.exists():
        pytest.skip("waveguard not installed (pip install -e .)")
    run = subprocess.run([str(script), "rollout", "status", "--bogus"], capture_output=True, text=True,
                         env={"PATH": str(script.parent), "COLUMNS": "80", "TERM": "xterm-256color"})
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr == "error: rollout status has no option --bogus, see --help\n"  # 80 columns


@pytest.mark.parametrize("argv", [[], *COMMANDS], ids=lambda a: " ".join(a) or "waveguard")
def test_help_shows_flags_as_flags_and_fits_80_columns(runner, argv, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    result = runner.invoke(app, [*argv, "--help"], terminal_width=WIDTH)
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.stdout and "╭" not in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= WIDTH


def test_a_boolean_option_is_listed_as_a_flag(runner):
    text = runner.invoke(app, ["rollout", "status", "--help"], terminal_width=WIDTH).stdout
    watch = next(line for line in text.splitlines() if line.strip().startswith("--watch"))
    assert watch.split()[0] == "--watch" and watch.split()[1] == "Follow"  # no metavar after the flag


# --- -o on commands that stream (rollout start/resume/approve/abort) ---------------------------------
@pytest.mark.parametrize("command", [["start", "plan.yaml"], ["resume"], ["approve"], ["abort"]])
def test_a_streaming_command_does_not_offer_an_output_file_it_lacks(runner, tmp_path, command):
    state = tmp_path / "s.db"
    result = runner.invoke(app, ["rollout", *command, "--state", str(state), "-o", "yaml"])
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert line == "error: -o yaml: not an output format (give one of table, json)"
    assert "--output-file FILE" not in runner.invoke(app, ["rollout", *command, "--help"]).stdout
    as_path = runner.invoke(app, ["rollout", *command, "--state", str(state), "-o", "out.json"])
    assert as_path.exit_code == 2 and "--output-file" not in as_path.stderr and not (tmp_path / "out.json").exists()
    assert not state.exists()  # nothing written


def test_rollout_status_writes_its_document_with_output_file(runner, tmp_path):
    import yaml

    from waveguard.rollout.eventlog import EventLog
    from waveguard.rollout.lease import Owner

    state = tmp_path / "s.db"
    log = EventLog(state, create=True)
    log.start([("started", 0.0, None, None, {})], Owner.this_process())
    log.release()
    log.close()
    out = tmp_path / "status.yaml"
    result = runner.invoke(app, ["rollout", "status", "--state", str(state), "-o", "yaml", "--output-file", str(out)])
    assert result.exit_code == 3 and result.stdout == ""  # 3: not ended
    assert yaml.safe_load(out.read_text())["kind"] == "RolloutStatus"
    watch = runner.invoke(app, ["rollout", "status", "--state", str(state), "--watch", "--output-file", str(out)])
    assert watch.exit_code == 2 and "--watch prints a live view" in watch.stderr


# --- durations: one validator, bounds with their reasons ------------------------------------------
DURATION_CASES = [
    # (argv before the option, option, too small, too large)
    (["plan", "examples/incident-telemetry"], "--gate-interval", "500ms", "1d"),
    (["rollout", "start", "plan.yaml"], "--scrape-interval", "10ms", "10m"),
    (["gate", "check", "--cluster", "c"], "--scrape-interval", "0.001", "1h"),
    (["gate", "check", "--cluster", "c"], "--timeout", "50ms", "5m"),
    (["export", "argo"], "--scrape-interval", "0", "6m"),
    (["exporter", "--builtin", "x"], "--scrape-interval", "1ms", "301"),
    (["exporter", "--builtin", "x"], "--duration", "0.5", None),
    (["rollout", "status"], "--interval", "0.01", "1h"),
    (["dashboard"], "--interval", "10ms", "2m"),
]


@pytest.mark.parametrize(("argv", "option", "low", "high"), DURATION_CASES, ids=lambda v: str(v))
def test_a_duration_out_of_its_bounds_is_one_line_naming_the_value_and_the_bound(runner, argv, option, low, high):
    for value, word in ((low, "under"), (high, "over")):
        if value is None:
            continue
        result = runner.invoke(app, [*argv, option, value])
        assert result.exit_code == 2, result.output
        line = _one_error_line(result)
        assert line.startswith(f"error: {option}: {value} is {word} ") and len(line) <= WIDTH, line


def test_gate_interval_longer_than_the_no_data_timeout_names_both():
    from waveguard.cli.common import GATE_INTERVAL, bounded_seconds

    parse = bounded_seconds(GATE_INTERVAL)
    assert parse("30s") == 30.0 and parse("10m") == 600.0 and parse("1") == 1.0
    with pytest.raises(typer.BadParameter, match=r"^1d is over 10m, the no-data timeout$"):
        parse("1d")
    with pytest.raises(typer.BadParameter, match="is not seconds or a duration"):
        parse("soon")


def test_the_bounds_are_the_values_they_name():
    from waveguard.cli import common
    from waveguard.rollout.lease import LEASE_TIMEOUT_S
    from waveguard.rollout.plan import Plan
    from waveguard.sim.pacer import SLICE_WALL_S
    from waveguard.signals.prometheus_config import PrometheusConfig
    from waveguard.sim.scenario import Scenario

    assert common.PLAN_NO_DATA_TIMEOUT_S == Plan.model_fields["no_data_timeout_s"].default
    assert common.GATE_INTERVAL.high_s == common.PLAN_NO_DATA_TIMEOUT_S
    assert common.LEASE_TIMEOUT_S == LEASE_TIMEOUT_S == common.REFRESH_INTERVAL.high_s
    assert common.SCRAPE_INTERVAL.low_s == SLICE_WALL_S / 2
    assert common.SCRAPE_INTERVAL.high_s == common.PROMETHEUS_LOOKBACK_DELTA_S == 300.0
    assert common.QUERY_TIMEOUT.high_s == common.PROMETHEUS_QUERY_TIMEOUT_S == 120.0
    PrometheusConfig(url="http://127.0.0.1:9090", timeout_s="2m")  # the backend file's bound is the same
    with pytest.raises(ValueError, match="less than or equal to 120"):
        PrometheusConfig(url="http://127.0.0.1:9090", timeout_s=121)
    step = Scenario.model_json_schema()["properties"]["step_s"]
    assert common.SIMULATED_DURATION.low_s == step.get("maximum", 1.0) == 1.0


def test_every_duration_option_goes_through_the_one_validator():
    """An option named like a duration (interval, timeout, duration) takes SECONDS with bounds."""
    found = []
    for argv in COMMANDS:
        command = typer.main.get_command(app)
        for name in argv:
            command = command.commands[name]
        for param in command.params:
            if any(word in param.name for word in ("interval", "timeout", "duration")):
                found.append((" ".join(argv), param.opts[0]))
                assert param.metavar == "SECONDS", (argv, param.name)
    assert len(found) >= 9, found
