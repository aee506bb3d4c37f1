"""New-user trial 11: regressions found checking session 10's changes as a new user would."""

from __future__ import annotations

import io

from waveguard.cli.trim import TrimmedLines


def test_a_live_frames_last_line_ends_in_no_spaces():
    """rich's Live draws a frame with no newline after its last line; the next refresh begins
    with a carriage return (and erases, line by line, up to the frame's top). In a terminal
    recording (``script``) that last line ended in the table's padding: the held spaces were
    written back before the carriage return as if the line went on."""
    out = io.StringIO()
    file = TrimmedLines(out)
    file.write("0:00  started      ")
    file.flush()
    file.write("\r\x1b[2K\x1b[1A\x1b[2Knext frame  ")
    file.flush()
    file.write("\n")
    assert out.getvalue() == "0:00  started\r\x1b[2K\x1b[1A\x1b[2Knext frame\n"


def test_analyse_keeps_the_etcd_column_where_the_totals_alone_fit_it(runner, monkeypatch):
    """At 72 columns the +Δ→total cells fit only by dropping the etcd column, which the totals
    alone keep (as before the +Δ→total cells): the table falls back to the totals, so the etcd
    column the note describes is shown, not silently left out."""
    from tests.conftest import SHARED
    from waveguard.cli.main import app

    monkeypatch.setenv("COLUMNS", "72")
    result = runner.invoke(app, ["analyse", str(SHARED / "inputs" / "realworld" / "calico")], terminal_width=72)
    assert result.exit_code == 1, result.output
    header = next(line for line in result.stdout.splitlines() if "┃ cluster" in line)
    assert "etcd" in header and "memory" in header
    assert "memory and etcd: the total" in " ".join(result.stdout.split())


def test_an_argument_with_a_metavar_is_named_as_its_help_shows_it(runner):
    """risk's plan argument is PLAN in its --help; an empty one (new this session: paths.py)
    and a missing one said PLAN_PATH, the Python parameter's name."""
    from waveguard.cli.main import app

    empty = runner.invoke(app, ["risk", ""])
    missing = runner.invoke(app, ["risk"])
    assert empty.exit_code == missing.exit_code == 2
    assert "error: PLAN: an empty path" in empty.stderr and "PLAN_PATH" not in empty.stderr
    assert "risk needs PLAN," in missing.stderr
