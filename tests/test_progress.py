"""Progress of the long commands (issue 16, item 4): a bar on stderr on a terminal, nothing when
stderr is piped. A terminal is stood in for by rich's FORCE_COLOR (a console that believes it
writes to a terminal), so each test also shows the progress it checks the absence of."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from rich.console import Console

from tests.conftest import ROOT
from tests.test_measure_audit import _agent_log, write
from waveguard.cli import progress as progress_module
from waveguard.cli.main import app
from waveguard.report.demo_results import DemoResult
from waveguard.fidelity import FidelityResult


def _simulate(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "waveguard.cli.main", "simulate", "--builtin",
                           "incident-2024-12-11", "-o", "json"], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env={**os.environ, **env})


def test_piped_simulate_carries_no_progress_and_a_terminal_gets_a_bar():
    env = {k: "" for k in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    piped = _simulate(env)
    assert piped.returncode == 0 and piped.stderr == ""
    assert piped.stdout.lstrip().startswith("{")
    on_a_terminal = _simulate({"FORCE_COLOR": "1", "COLUMNS": "100"})
    assert "simulating incident-2024-12-11" in on_a_terminal.stderr and "━" in on_a_terminal.stderr
    assert on_a_terminal.stdout == piped.stdout  # the result itself is untouched


@pytest.fixture
def terminal(monkeypatch):
    """Progress goes to a console that is a terminal; what it wrote is returned by the fixture."""
    out = io.StringIO()
    monkeypatch.setattr(progress_module, "progress_console",
                        lambda: Console(file=out, force_terminal=True, width=100))
    return out


def _fake_demo(*_, progress=None, **__):
    for done in range(5):
        progress(done, 4)
    return DemoResult(scenario="incident-2024-12-11", strategies=[], production_traffic=None)


def _fake_fidelity(progress=None):
    progress(1, 1)
    return FidelityResult([], {}, 0.0)


@pytest.mark.parametrize("command, patch, fake, text", [
    (["demo", "-o", "json"], "waveguard.demo.run_demo", _fake_demo, "simulating the incident's rollouts"),
    (["fidelity", "-o", "json"], "waveguard.fidelity.run_fidelity", _fake_fidelity, "simulating the published cases"),
])
def test_demo_and_fidelity_report_progress_only_to_a_terminal(runner, monkeypatch, command, patch, fake, text,
                                                            terminal):
    """The command's progress hook reaches the bar (the simulations themselves replaced: their
    results are tested elsewhere); CliRunner's stderr is not a terminal: nothing there."""
    monkeypatch.setattr(patch, fake)
    result = runner.invoke(app, command)
    assert "━" not in result.stderr and text not in result.stderr
    assert result.exit_code == 0, result.output
    assert text in terminal.getvalue()
    assert ("4/4" if "demo" in command else "1/1") in terminal.getvalue()


def test_measure_shows_a_spinner_on_a_terminal_only(runner, tmp_path, terminal):
    log = write(tmp_path / "agent.log", _agent_log())
    result = runner.invoke(app, ["measure", "--audit-log", str(log), "-o", "json"])
    assert result.exit_code == 0 and "measuring" not in result.stderr
    assert "measuring 1 audit log file(s)" in terminal.getvalue()


def test_stderr_not_a_terminal_means_no_progress_at_all(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(progress_module, "progress_console", lambda: Console(file=out))  # a file: no terminal
    with progress_module.progress("working", 3) as update:
        for i in range(4):
            update(i)
    assert out.getvalue() == ""
