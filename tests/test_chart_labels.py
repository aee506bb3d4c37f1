"""Chart labels never sit on each other (as a person sees the report's PNG): a wave that starts
the minute the rollout halts (the incident's production-1% at 0:21:00, halted by the projection
before its apply) had its name drawn over the halt's label and the outcome of the wave before.
Checked with matplotlib's renderer: the boxes of the texts drawn in each axes do not overlap."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import EXAMPLES
from waveguard.cli.main import app
from waveguard.report import charts


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    """The incident's change rolled out on the simulated fleet: staging passes, production-1%
    starts at 0:21:00 and the projection halts it there."""
    from waveguard.report.rollout_data import read_rollout

    folder = tmp_path_factory.mktemp("labels")
    runner, plan, state = CliRunner(), folder / "plan.yaml", folder / "state.db"
    assert runner.invoke(app, ["plan", str(EXAMPLES / "incident-telemetry"), "--output-file", str(plan)]).exit_code == 0
    assert runner.invoke(app, ["rollout", "start", str(plan), "--state", str(state), "-o", "json"]).exit_code == 1
    return read_rollout(Path(state))


@pytest.fixture
def captured(monkeypatch):
    """The figures the report draws, kept instead of encoded."""
    figures: list = []
    monkeypatch.setattr(charts, "figure_png", lambda fig: figures.append(fig) or "")
    yield figures
    import matplotlib.pyplot as plt

    for fig in figures:
        plt.close(fig)


def _overlapping_texts(fig) -> list[tuple[str, str]]:
    """Pairs of texts (labels, annotations) of one axes whose drawn boxes overlap."""
    renderer = fig.canvas.get_renderer()
    fig.draw_without_rendering()
    pairs = []
    for ax in fig.axes:
        texts = [t for t in ax.texts if t.get_visible() and t.get_text().strip()]
        boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
        pairs += [(a, b) for (a, box_a), (b, box_b) in combinations(boxes, 2) if box_a.overlaps(box_b)]
    return pairs


def test_the_waves_chart_keeps_the_wave_name_off_the_halt_label(record, captured):
    from waveguard.report.rollout_charts import waves_figure

    assert record.halt is not None and record.halt["t"] == 21 * 60
    assert [w.started_s for w in record.waves[:2]] == [0.0, 21 * 60]  # production-1% starts as it halts
    waves_figure(record)
    (fig,) = captured
    (ax,) = fig.axes
    names = {t.get_text() for t in ax.texts}
    assert {"staging", "production-1%", "halted 0:21:00"} <= names  # every label kept, none dropped
    assert _overlapping_texts(fig) == []
    # nor on a bar: a wave's name is read beside its line, not over the green of the wave before
    renderer = fig.canvas.get_renderer()
    bars = [bar.get_window_extent(renderer) for c in ax.containers for bar in c.patches]
    marks = [t.get_window_extent(renderer) for t in ax.texts if t.get_gid() == charts.MARK_LABEL]
    assert len(marks) == 2 and not any(m.overlaps(b) for m in marks for b in bars)


def test_the_gate_panels_keep_their_labels_apart(record, captured):
    from waveguard.report.rollout_charts import gates_figure

    gates_figure(record, {})
    (fig,) = captured
    assert _overlapping_texts(fig) == []


def test_a_mark_label_with_no_free_place_is_left_out_and_its_line_stays():
    """A chart too small for the label anywhere beside its line: the label goes, the line stays."""
    fig, (ax,) = charts.subplots(height_in=1.5)
    ax.barh(0, 10, height=2.0)  # a bar over the whole axes
    ax.set_xlim(0, 10)
    ax.set_ylim(-0.5, 0.5)
    charts.mark_times(ax, [(5.0, "a wave")])
    charts.separate_labels(fig)
    assert [t.get_text() for t in ax.texts if t.get_gid() == charts.MARK_LABEL] == []
    assert len(ax.lines) == 1
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_a_wave_starting_at_the_halt_moves_to_the_free_side_of_the_line():
    """The demo's panels: the halt's label right of its line, the wave starting there on the left."""
    fig, (ax,) = charts.subplots(height_in=2.6)
    ax.set_xlim(0, 90)
    charts.mark_times(ax, [(0.0, "staging"), (21.0, "production-1%")], min_gap_frac=0.03)
    charts.mark_halt(ax, 21.0, "halted 0:21:00")
    charts.separate_labels(fig)
    assert _overlapping_texts(fig) == []
    wave = next(t for t in ax.texts if t.get_text() == "production-1%")
    assert wave.get_horizontalalignment() == "right" and wave.xyann == (-charts.MARK_GAP_PT, -charts.MARK_GAP_PT)
    import matplotlib.pyplot as plt

    plt.close(fig)
