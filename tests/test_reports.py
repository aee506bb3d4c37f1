"""The HTML reports tell the truth at a glance (issue 16, item 3).

Structure, not pixels: every page names the version, command line, seed and time that made it
and states the one definition of "saturated"; the plotted data has a gap (NaN) wherever no
apiserver replica is up, shaded "apiserver down"; the demo's "saturated so far" lines end at
the table's counts; the fidelity page charts each figure against its published value. The
screenshot test in tests/test_report_screenshot.py looks at a page as a person does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from waveguard.cli.main import app
from waveguard.report import charts
from waveguard.sim.result import SATURATED_MEANS, SimulationResult

META = re.compile(r'<p class="meta">waveguard \S+ · <code>([^<]+)</code> ·\s+seed (.+?) · generated '
                  r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC)</p>")


@pytest.fixture(scope="module")
def down_result(tmp_path_factory, down_scenario) -> SimulationResult:
    from waveguard.sim import load_scenario, simulate

    path = tmp_path_factory.mktemp("down") / "down.yaml"
    path.write_text(down_scenario)
    return simulate(load_scenario(path))


@pytest.fixture
def captured(monkeypatch):
    """The matplotlib figures the reports draw, kept (instead of encoded) to read their data."""
    figures: list = []

    def keep(fig) -> str:
        figures.append(fig)
        return ""

    monkeypatch.setattr(charts, "figure_png", keep)
    yield figures
    import matplotlib.pyplot as plt

    for fig in figures:
        plt.close(fig)


def meta_of(html: str) -> tuple[str, str, str]:
    found = META.search(html)
    assert found, "no metadata line (version, command, seed, time) in the page"
    return found.group(1), found.group(2), found.group(3)


# --- the one definition of saturated --------------------------------------------------------------

def test_saturated_is_the_symptom_runs_of_sixty_seconds_and_saturated_at_its_first_step(down_result):
    r = down_result
    for cluster in r.clusters:
        sat, symptoms = r.saturated(cluster), r.saturated_mask(cluster)
        assert not (sat & ~symptoms).any()  # only where a symptom is
        first = np.flatnonzero(sat)
        assert r.saturated_at(cluster) == (float(r.times[first[0]]) if len(first) else None)
    down = r.series("up", "solo", job="apiserver") < 0.5
    assert down.sum() * r.step_s >= 80  # the hold: 90 s with no replica up …
    assert r.saturated("solo")[down].all()  # … which is saturation, for all of it


def test_a_short_blip_is_a_symptom_but_not_saturation():
    from waveguard.sim.result import _sustained

    mask = np.array([False] * 5 + [True] * 30 + [False] * 5 + [True] * 60 + [False] * 3)
    sat = _sustained(mask, 60.0, 1.0)
    assert not sat[:40].any() and sat[40:100].all() and not sat[100:].any()


# --- simulate ------------------------------------------------------------------------------------

def test_simulate_report_has_gaps_and_bands_where_no_apiserver_is_up(down_result, captured):
    from waveguard.report.sim import render_report

    html = render_report(down_result, seed=3)
    down = down_result.series("up", "solo", job="apiserver") < 0.5
    solo = next(f for f in captured if "solo" in f.axes[0].get_title(loc="left"))
    seats, rejections, p99, memory = solo.axes
    for ax in (rejections, p99, memory):
        y = np.asarray(ax.lines[0].get_ydata(), dtype=float)
        assert np.isnan(y[down]).all(), ax.get_ylabel()  # a gap, never a zero
        assert np.isfinite(y[~down]).all(), ax.get_ylabel()
        bands = [p for p in ax.patches if p.get_label() == charts.DOWN_LABEL]
        assert len(bands) == 1, ax.get_ylabel()
        x0, x1 = bands[0].get_x(), bands[0].get_x() + bands[0].get_width()
        t = down_result.times[down] / 60.0
        assert x0 <= t.min() and x1 >= t.max() - 1e-9
    assert SATURATED_MEANS in html
    assert "No apiserver up at some point on 1 cluster;" in html


def test_simulate_report_page_names_what_made_it(runner, tmp_path, monkeypatch, down_scenario):
    scenario = tmp_path / "down.yaml"
    scenario.write_text(down_scenario)
    report = tmp_path / "out.html"
    monkeypatch.setattr("sys.argv", ["/venv/bin/waveguard", "simulate", str(scenario), "--report", str(report)])
    result = runner.invoke(app, ["simulate", str(scenario), "--report", str(report), "--seed", "5"])
    assert result.exit_code == 0, result.output
    html = report.read_text(encoding="utf-8")
    command, seed, _ = meta_of(html)
    assert command == f"waveguard simulate {scenario} --report {report}" and seed == "5"
    assert html.index('class="summary"') < html.index("<img")  # the summary first
    assert not list(tmp_path.glob(".out.html.*.tmp"))  # written through a temporary file, renamed


def test_a_report_that_cannot_be_written_leaves_nothing(tmp_path, down_result):
    from waveguard.model.errors import InputError
    from waveguard.report.sim import write_report

    folder = tmp_path / "a folder"
    folder.mkdir()
    with pytest.raises(InputError, match="cannot write report"):
        write_report(down_result, folder)
    assert list(tmp_path.iterdir()) == [folder] and not list(folder.iterdir())


# --- demo ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo():
    from waveguard.demo import run_demo

    return run_demo()


def test_demo_charts_end_at_the_tables_saturated_counts(demo):
    for r in demo.strategies + [demo.production_traffic]:
        so_far = r.timeline["saturated_so_far"]
        assert so_far[-1] == r.saturated_clusters, r.name  # the chart's last value is the table's
        assert max(r.timeline["saturated_clusters"]) <= r.saturated_clusters
        impact = sum(r.timeline["impacted_clusters"]) * (r.timeline["t"][1] - r.timeline["t"][0]) / 60.0
        assert impact == pytest.approx(r.impact_minutes)  # the impact chart's area is the table's minutes
    none = demo.strategies[0]
    golden = json.loads((Path(__file__).parent / "golden" / "demo.json").read_text())
    assert none.saturated_clusters == golden["strategies"][0]["saturated_clusters"] and none.waves[0][1] == "staging"


def test_demo_report_structure(demo, captured):
    from waveguard.report.demo import render_report

    html = render_report(demo)
    assert SATURATED_MEANS in html and meta_of(html)[1] == str(demo.seed)
    assert html.index('class="summary"') < html.index("<table")
    share, saturation, errors = captured
    assert len(saturation.axes) == len(demo.strategies) + 1  # one panel per strategy
    for ax, r in zip(saturation.axes, demo.strategies + [demo.production_traffic], strict=True):
        so_far = next(line for line in ax.lines if line.get_label() == "saturated so far")
        assert so_far.get_ydata()[-1] == r.saturated_clusters
        assert f"{r.saturated_clusters} of {r.production_clusters}" in ax.get_title(loc="left")
        halted = [t.get_text() for t in ax.texts if t.get_text().startswith("halted")]
        assert halted == ([] if r.halted_at_s is None else [f"halted {_clock(r.halted_at_s)}"])
    guard = saturation.axes[2]
    assert "staging" in [t.get_text() for t in guard.texts]  # wave starts are labelled
    for fig in (share, saturation, errors):
        assert fig.get_figwidth() * charts.DPI == 2 * charts.PAGE_WIDTH_PX  # 2× the page's width


def _clock(s: float) -> str:
    from waveguard.report.sim import clock

    return clock(s)


# --- fidelity ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fidelity():
    from waveguard.fidelity import run_fidelity

    return run_fidelity()


def test_fidelity_charts_each_figure_against_the_published_value(fidelity, captured):
    from waveguard.report.fidelity import render_report

    html = render_report(fidelity)
    assert len(captured) == len(fidelity.rows)
    for fig, row in zip(captured, fidelity.rows, strict=True):
        strip = fig.axes[0]
        labels = [line.get_label() for line in strip.lines]
        if row.check.published is not None:
            published = next(line for line in strip.lines if line.get_label().startswith("published"))
            assert published.get_xdata()[0] == row.check.published
        simulated = [line for line in strip.lines if line.get_label().startswith("simulated")]
        assert not np.isfinite(row.simulated) or simulated[0].get_xdata()[0] == row.simulated, labels
    antrea = captured[0].axes[1]  # the rise on a readable axis: at least a fifth of its height
    low, high = antrea.get_ylim()
    assert fidelity.rows[0].simulated / (high - low) > 0.2
    calico = captured[2].axes[1]
    assert [round(b.get_width()) for b in calico.patches if b.get_height() == 0.5][0] == round(fidelity.rows[2].simulated)
    assert meta_of(html)[1] == "each scenario&#39;s own (docs/fidelity.md)" and "within their bounds" in html


# --- rollout report ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def halted_state(tmp_path_factory) -> Path:
    """A rollout of the incident's change on the simulated fleet: staging passes, the projection halts."""
    from typer.testing import CliRunner

    folder = tmp_path_factory.mktemp("rollout")
    runner = CliRunner()
    root = Path(__file__).resolve().parents[1]
    plan = folder / "plan.yaml"
    assert runner.invoke(app, ["plan", str(root / "examples" / "incident-telemetry"), "-o", str(plan)]).exit_code == 0
    state = folder / "state.db"
    assert runner.invoke(app, ["rollout", "start", str(plan), "--state", str(state), "-o", "json"]).exit_code == 1
    return state


def test_rollout_report_names_the_halt_the_projection_and_what_made_it(runner, halted_state, tmp_path):
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["rollout", "report", "--state", str(halted_state), "--output-file", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    _, seed, _ = meta_of(html)
    assert seed == "0"  # the simulated backend's seed, from the started event
    summary = re.findall(r'<p class="([^"]*)">([^<]*)</p>', html.split('class="summary">')[1].split("</div>")[0])
    headline = ("Halted at 0:21:00 in wave 1 (production-1%), before its apply, by the projection gate on "
                "prod-24-7500: projected apiserver memory 84% of its limit at 1% of 7,500 nodes; threshold 0.80.")
    assert summary[0] == ("bad headline", headline)  # the halt first, never a "0 failed" above it
    counts = next(text for _, text in summary if "gate results during the bakes" in text)
    assert "0 failed" in counts and "the projection that halted the rollout is made before a wave" in counts
    assert headline in result.stdout.replace("\n", " ")  # the terminal says it too
    assert "the projection that halted the rollout" in html and html.count('<tr class="bad">') >= 2
    assert html.index('class="summary"') < html.index("<img")


def test_rollout_report_draws_no_value_where_no_apiserver_was_up(tmp_path, captured):
    from waveguard.report.rollout_data import read_rollout
    from waveguard.report.rollout_report import render_report
    from waveguard.rollout.eventlog import EventLog
    from waveguard.rollout.gates.registry import APISERVER_DOWN_DETAIL
    from waveguard.rollout.lease import Owner

    state = tmp_path / "s.db"
    log = EventLog(state, create=True)
    plan = {"change": "c", "waves": [{"name": "w0", "node_share": 1.0, "bake_s": 90, "clusters": {"names": ["a"]}}]}
    log.start([("started", 0.0, None, None, {"plan": plan, "backend": {"kind": "sim", "seed": 9}})],
              Owner.this_process())
    log.append("wave_started", 0.0, wave=0, name="w0", node_share=1.0, bake_s=90.0)
    log.append("applied", 0.0, wave=0, cluster="a", share=1.0)
    # 45 s: no replica up, as state files logged it before (a fail of 0.0, never read); 60 s: as now
    for t, status, value, detail in ((30.0, "pass", 0.2, "ok"), (45.0, "fail", 0.0, APISERVER_DOWN_DETAIL),
                                     (60.0, "fail", None, APISERVER_DOWN_DETAIL)):
        log.append_many([("gate", t, 0, "a", {"gate": "apiserver_p99_latency", "cluster": "a", "status": status,
                                              "value": value, "threshold": 1.0, "detail": detail})])
    log.append("halted", 60.0, wave=0, reason="gate apiserver_p99_latency failed on a", gate="apiserver_p99_latency",
               cluster_failed="a", value=0.0, threshold=1.0,
               failed=[{"gate": "apiserver_p99_latency", "cluster": "a", "status": "fail", "value": 0.0,
                        "threshold": 1.0, "detail": APISERVER_DOWN_DETAIL}])
    log.release()
    log.close()
    record = read_rollout(state)
    series = record.gates["apiserver_p99_latency"]["a"]
    assert series.status == ["pass", "down", "down"] and series.value[0] == 0.2
    assert np.isnan(series.value[1:]).all()
    html = render_report(record)
    gates = captured[1]
    line = next(line for line in gates.axes[0].lines if line.get_label() == "a")
    assert np.isnan(np.asarray(line.get_ydata(), dtype=float)[1])  # not the logged 0.0
    assert any("no apiserver up" in p.get_label() for p in gates.axes[0].patches)
    assert "not read" in html and meta_of(html)[1] == "9"
    assert "3 gate results during the bakes: 2 failed (2 of them: no apiserver up, nothing read)" in html


@pytest.mark.parametrize(("args", "message"), [
    (["--state", "{tmp}/missing.db"], "no rollout state here"),
    (["--state", "{tmp}/empty.db"], "holds no started rollout"),
    (["--state", "{tmp}/empty.db", "--output-file", "{tmp}"], "is a folder"),
])
def test_rollout_report_bad_input_is_one_line_exit_2(runner, tmp_path, args, message):
    from waveguard.rollout.eventlog import EventLog

    EventLog(tmp_path / "empty.db", create=True).close()
    result = runner.invoke(app, ["rollout", "report", *[a.format(tmp=tmp_path) for a in args]])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0]
    assert not list(tmp_path.glob("*.html"))


def test_demo_json_is_unchanged_by_the_reports(runner, monkeypatch, demo):
    monkeypatch.setattr("waveguard.demo.run_demo", lambda *a, **k: demo)
    out = json.loads(runner.invoke(app, ["demo", "-o", "json"]).stdout)
    golden = json.loads((Path(__file__).parent / "golden" / "demo.json").read_text())
    assert "seed" not in out
    assert [s["saturated_clusters"] for s in out["strategies"]] == [s["saturated_clusters"]
                                                                    for s in golden["strategies"]]
