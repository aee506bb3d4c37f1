"""No line of terminal output ends in spaces (as a user at an 80-column terminal sees it, piped
or copied): rich kept the space it wrapped a paragraph at, padded indented paragraphs (a
finding's message and fix) to the width and box-less tables (``simulate --list``, the rollout's
live view) to their last column's width. ``waveguard.cli.trim`` takes them off where the
console writes."""

from __future__ import annotations

import io

import pytest

from tests.conftest import APISERVER_METRICS, EXAMPLES, SHARED
from waveguard.cli.main import app
from waveguard.cli.trim import TrimmedLines, trim_line

WIDTH = 80
REALWORLD = SHARED / "inputs" / "realworld"


def _ending_in_spaces(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.endswith(" ")]


@pytest.mark.parametrize("args", [
    ["analyse", str(EXAMPLES / "incident-telemetry")],  # findings (indented), the table, its note
    ["analyse", str(REALWORLD / "kured")],
    ["measure", "--metrics", str(APISERVER_METRICS)],
    ["measure", "--audit-log", str(SHARED / "inputs" / "audit" / "audit2rbac-demo-v1.jsonl")],
    ["simulate", "--list"],  # a table without a box
], ids=lambda args: " ".join(a.rsplit("/", 1)[-1] for a in args))
def test_the_main_commands_end_no_line_in_spaces(runner, monkeypatch, args):
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    result = runner.invoke(app, args, terminal_width=WIDTH)
    assert result.exit_code in (0, 1), result.output
    assert result.stdout.count("\n") > 5
    assert _ending_in_spaces(result.stdout) == [] and _ending_in_spaces(result.stderr) == []


def test_a_rollout_ends_no_line_in_spaces(runner, monkeypatch, tmp_path):
    """``rollout start``'s live view (its last frame, on stderr when piped) and ``status``."""
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    plan, state = tmp_path / "plan.yaml", str(tmp_path / "s.db")
    assert runner.invoke(app, ["plan", str(EXAMPLES / "incident-telemetry"), "--output-file", str(plan)]).exit_code == 0
    start = runner.invoke(app, ["rollout", "start", str(plan), "--state", state], terminal_width=WIDTH)
    status = runner.invoke(app, ["rollout", "status", "--state", state], terminal_width=WIDTH)
    assert start.exit_code == status.exit_code == 1, start.output
    assert "clusters of wave 1 (production-1%)" in start.stderr and "halted:" in status.stdout
    for result in (start, status):
        assert _ending_in_spaces(result.stdout) == [] and _ending_in_spaces(result.stderr) == []


def test_trimming_keeps_colour_codes_and_a_line_that_goes_on():
    assert trim_line("\x1b[2mall \x1b[0m  ") == "\x1b[2mall\x1b[0m"
    assert trim_line("a  b") == "a  b"
    out = io.StringIO()
    file = TrimmedLines(out)
    file.write("one   \ntwo ")
    file.flush()  # a line not yet ended: written without its spaces…
    assert out.getvalue() == "one\ntwo"
    file.write("three  \n")  # … which come back when it goes on
    file.write("four  ")
    file.flush()
    file.write("\n")  # … and not when it ends there
    assert out.getvalue() == "one\ntwo three\nfour\n"
