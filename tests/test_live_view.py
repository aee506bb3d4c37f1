"""The live rollout view (issue 16, item 1): the view model from the fold, the terminal rendering
as people see it (60, 80 and 120 columns, colours and NO_COLOR), the incremental tail, and
`rollout status --watch` on a state file another process drives."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console

from tests.conftest import ROOT
from tests.live_rollout import BAKE_S, INTERVAL_S, RolloutWriter
from waveguard.cli.main import app
from waveguard.cli.rollout_live import watch
from waveguard.report.live import figure, render_view
from waveguard.rollout.eventlog import EventLog
from waveguard.rollout.state import fold
from waveguard.rollout.tail import LogTail
from waveguard.rollout.view import LiveFold, build_view, rollout_now

LONG_REASON = ("gate apiserver_p99_latency failed on c0001: p99 latency of mutating requests 2.5 s above its "
               "threshold of 1 s for three consecutive evaluations while the DaemonSet's informers relisted")


def _view_of(path: Path):
    tail = LogTail(path)
    tail.poll()
    tail.close()
    return build_view(tail.live)


def _text(view, width: int, *, color: bool = False, **console) -> str:
    """What a terminal of ``width`` columns shows (with the escape codes when ``color``)."""
    file = io.StringIO()
    out = Console(width=width, force_terminal=color, color_system="truecolor" if color else None, file=file,
                  **console)
    out.print(render_view(view, width, last_event_age_s=3.0))
    return file.getvalue()


@pytest.fixture
def writer(tmp_path):
    w = RolloutWriter(tmp_path / "r.db", clusters=30)
    yield w
    w.close()


def test_the_view_marks_the_current_wave_the_bake_clock_and_each_cluster(writer):
    writer.start_wave()
    writer.evaluate()
    writer.pass_wave()
    writer.start_wave()
    for _ in range(4):
        writer.evaluate({"dns_probe": None})
    view = _view_of(writer.log.path)
    assert view.wave == 1 and [w.where for w in view.waves] == ["done", "current", "pending"]
    assert view.bake is not None and view.bake.elapsed == 4 * INTERVAL_S
    assert view.bake.remaining == BAKE_S - 4 * INTERVAL_S
    assert [(c.name, c.state, c.share, c.target) for c in view.clusters] == [
        ("c0001", "baking", 0.01, 0.01), ("c0002", "baking", 0.01, 0.01)]
    gates = {g.gate: g for g in view.gates}
    assert gates["dns_probe"].status == "no-data" and gates["dns_probe"].value is None
    assert gates["dns_probe"].no_data == 2
    assert gates["apiserver_p99_latency"].status == "pass" and gates["apiserver_p99_latency"].unit == "seconds"
    assert view.events[0].kind == "applied"  # newest first; gate results are in the gate table


def test_a_halt_shows_the_failing_gate_its_cluster_figure_and_reason(writer):
    writer.start_wave()
    writer.halt("apiserver_p99_latency", 2.5, LONG_REASON)
    view = _view_of(writer.log.path)
    assert view.status == "rolled_back" and view.halt["reason"] == LONG_REASON
    assert {c.state for c in view.clusters} == {"rolled_back"} and view.bake is None
    assert [w.where for w in view.waves] == ["halted", "pending", "pending"]
    text = _text(view, 120)
    assert "apiserver_p99_latency on c0000: 2.5 s against 1 s" in text
    worst = next(g for g in view.gates if g.gate == "apiserver_p99_latency")
    assert (worst.status, worst.value, worst.cluster, worst.failed) == ("fail", 2.5, "c0000", 1)


@pytest.mark.parametrize("width", [60, 80, 120])
def test_every_line_fits_the_width_and_nothing_wraps(writer, width):
    """Long reasons, long cluster lists and all tables: cut with an ellipsis, never wrapped."""
    writer.start_wave()
    writer.evaluate()
    writer.pass_wave()
    writer.start_wave()
    writer.evaluate()
    writer.pass_wave()
    writer.start_wave()
    writer.evaluate({"apf_seat_utilisation": None})
    writer.halt("apiserver_p99_latency", 2.5, LONG_REASON)
    view = _view_of(writer.log.path)
    lines = _text(view, width).splitlines()
    assert max(cell_len(line) for line in lines) <= width
    halted = [line for line in lines if line.startswith("halted:")]
    assert len(halted) == 1 and halted[0].rstrip().endswith("…") == (width < len(LONG_REASON) + 8)
    # one line per row: the gate table holds exactly its three gates, each on one line
    assert sum(line.startswith(("apiserver_p99", "apf_seat", "dns_probe")) for line in lines) == 3
    assert "… 17 more" in "\n".join(lines)  # 27 clusters: 10 rows shown, the rest counted


def test_statuses_are_coloured_and_no_color_turns_colour_off(writer, monkeypatch):
    writer.start_wave()
    writer.evaluate({"apiserver_p99_latency": 3.0, "dns_probe": None})
    view = _view_of(writer.log.path)
    coloured = _text(view, 80, color=True)
    assert "\x1b[1;31mfail" in coloured and "\x1b[33mno-data" in coloured and "\x1b[32mpass" in coloured
    monkeypatch.setenv("NO_COLOR", "1")
    plain = _text(view, 80, color=True)
    assert "fail" in plain and "\x1b[31m" not in plain and "\x1b[33m" not in plain and "\x1b[32m" not in plain


def test_figures_carry_their_unit():
    assert figure(0.84, "seconds") == "0.84 s" and figure(0.125, "ratio") == "12.5%"
    assert figure(30, "requests/s") == "30 req/s" and figure(None, "seconds") == "no data"


def test_the_tail_reads_only_appended_events_and_folds_as_the_whole_log_does(writer):
    tail = LogTail(writer.log.path)
    writer.start_wave()
    first = tail.poll()
    writer.evaluate()
    writer.evaluate()
    assert tail.poll() == 2 * 3 * 1  # two evaluations × three gates × the staging cluster
    assert tail.poll() == 0
    writer.pass_wave()
    assert tail.poll() == 1 and first == 4  # started, wave_started, apply_started, applied
    whole = fold(EventLog(writer.log.path).events())
    assert tail.live.state == whole
    tail.close()


def test_the_live_fold_keeps_each_gate_series_with_no_data_gaps(writer):
    writer.start_wave()
    writer.evaluate()
    writer.evaluate({"dns_probe": None})
    writer.evaluate({"dns_probe": 0.02})
    live = LiveFold()
    for e in EventLog(writer.log.path).events():
        live.apply(e)
    series = build_view(live, with_series=True).series["dns_probe"]
    assert [(t, v) for t, v, _ in series] == [(30.0, 0.005), (60.0, None), (90.0, 0.02)]
    assert build_view(live).series == {}


def test_watch_follows_another_writer_until_the_rollout_ends(writer, capsys):
    """Between two refreshes (the sleep) the writer appends: each refresh that saw new events
    prints one JSON object; the watch ends with the rollout."""
    steps = iter([writer.start_wave, writer.evaluate, writer.pass_wave, writer.complete])

    def sleep(_: float) -> None:
        next(steps)()

    assert watch(writer.log.path, True, 0.0, sleep=sleep) == "completed"
    states = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [s["status"] for s in states] == ["running"] * 4 + ["completed"]
    assert {(s["apiVersion"], s["kind"]) for s in states} == {("waveguard.io/v1alpha1", "RolloutView")}
    assert states[1]["wave"] == 0 and states[1]["clusters"][0]["state"] == "baking"
    assert states[2]["gates"][0]["gate"] == "apiserver_p99_latency" and states[3]["waves"][0]["where"] == "done"


def test_status_watch_in_a_process_of_its_own_while_another_process_writes(tmp_path):
    """Two real processes: the writer (tests/live_rollout.py, about 7 s of steps) and
    `waveguard rollout status --watch -o json`, started once the state file exists."""
    path = tmp_path / "r.db"
    writer = subprocess.Popen([sys.executable, "-m", "tests.live_rollout", str(path)], cwd=ROOT)
    try:
        while not path.exists() or path.stat().st_size == 0:
            assert writer.poll() is None, "the writer died"
        watcher = subprocess.run([sys.executable, "-m", "waveguard.cli.main", "rollout", "status", "--state",
                                  str(path), "--watch", "-o", "json", "--interval", "0.2"],
                                 capture_output=True, text=True, timeout=120, cwd=ROOT)
    finally:
        writer.wait(timeout=120)
    states = [json.loads(line) for line in watcher.stdout.splitlines()]
    assert watcher.returncode == 1, watcher.stderr  # rolled back
    assert len(states) >= 3 and states[-1]["status"] == "rolled_back"
    assert [s["seq"] for s in states] == sorted(set(s["seq"] for s in states))  # one object per change
    assert states[-1]["halt"]["gate"] == "apiserver_p99_latency"


def test_status_watch_piped_prints_the_view_within_80_columns(writer, runner):
    writer.start_wave()
    writer.halt("apiserver_p99_latency", 2.5, LONG_REASON)
    result = runner.invoke(app, ["rollout", "status", "--state", str(writer.log.path), "--watch"],
                           env={"COLUMNS": "80"})
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("rollout rolled_back") and max(cell_len(line) for line in lines) <= 80
    assert any(line.startswith("halted: gate apiserver_p99_latency failed") for line in lines)


def test_start_shows_the_live_view_on_stderr_within_80_columns(tmp_path, runner):
    """`rollout start` on the simulated fleet, stderr piped: the view's last frame, once."""
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("clusters:\n  - {name: staging, labels: {env: staging}, nodes: 50}\n"
                     "  - {name: prod-large, labels: {env: prod}, nodes: 7500}\n")
    plan = tmp_path / "plan.yaml"
    assert runner.invoke(app, ["plan", str(ROOT / "examples" / "incident-telemetry"), "--fleet", str(fleet),
                               "-o", str(plan)]).exit_code == 0
    result = runner.invoke(app, ["rollout", "start", str(plan), "--fleet", str(fleet), "--state",
                                 str(tmp_path / "r.db")], env={"COLUMNS": "80"})
    assert result.exit_code == 1, result.output  # the projection halts prod-large's wave
    lines = result.stderr.splitlines()
    assert max(cell_len(line) for line in lines) <= 80
    assert sum(line.startswith("rollout rolled_back") for line in lines) == 1
    assert any(line.startswith("  projection on prod-large:") for line in lines)


@pytest.mark.parametrize("pace", [1.0, 200.0])  # real clusters; a simulator paced at 200× wall time
def test_the_clock_runs_on_between_events_at_the_logs_pace_up_to_the_next_evaluation(writer, pace):
    writer.start_wave()
    for _ in range(3):
        writer.evaluate()
    live = LiveFold()
    for e in EventLog(writer.log.path).events():
        live.apply(e, wall=1000.0 + e.t / pace)  # written as the rollout's clock ran
    last_wall = 1000.0 + 90.0 / pace
    assert rollout_now(live, last_wall) == 90.0
    assert rollout_now(live, last_wall + 10.0 / pace) == pytest.approx(100.0)
    assert rollout_now(live, last_wall + 3600.0) == 90.0 + INTERVAL_S  # never past the next evaluation
    view = build_view(live, now=rollout_now(live, last_wall + 10.0 / pace))
    assert view.bake.elapsed == pytest.approx(100.0) and view.bake.remaining == pytest.approx(BAKE_S - 100.0)
    writer.halt("dns_probe", 0.5, "dns")
    for e in EventLog(writer.log.path).events(after=live.state.last_seq):
        live.apply(e, wall=last_wall + 1.0)
    assert rollout_now(live, last_wall + 3600.0) == live.state.last_t  # ended: the clock stops


def test_the_tail_knows_when_each_event_was_written(writer):
    before = time.time()
    writer.start_wave()
    tail = LogTail(writer.log.path)
    tail.poll()
    assert len(tail.live.clock) == 4 and all(before - 1 <= w <= time.time() for w, _ in tail.live.clock)
    tail.close()
