"""``waveguard fidelity``: every published case against its bounds, and the command line.

Each check runs the shipped scenario of its case (src/waveguard/data/fidelity/, built from the
source's setup only) on the one set of constants. Checks the model does not yet reproduce are
listed in MISSES with the reason docs/fidelity.md gives; they are strict xfails, so a model change
that makes one pass shows up here and the list (and the docs) must follow.
"""

from __future__ import annotations

import json

import pytest

from waveguard.cli.main import app
from waveguard.fidelity import CHECKS, run_fidelity
from waveguard.fidelity import runs as R

#: Checks outside their bounds today, and why (docs/fidelity.md, "Tensions and gaps").
MISSES = {
    "kindling-459": "30 agents' cache LISTs return ~1 GB in all: even all at once, at 7.5 × their bytes, they hold "
                    "< 8 GB of a 16 GiB apiserver; an OOM needs ~2× the OBJECT_BYTES estimates (or what the source "
                    "does not state)",
    "kindling-459-unavailable": "no OOM kill, so the API is never unavailable",
    "calico-1200": "the surviving apiserver receives etcd's range responses at etcd's 375 MB/s (the part of each "
                   "that has arrived is resident, once: model.etcd.receive_buffer_resident_bytes), and 350 full pod "
                   "LISTs of 43 MB as etcd stores them (protobuf) are 15 GB, more than the case's default 13.5 GiB "
                   "holds besides its 1.8 GB baseline: it is OOM-killed after ~34 s, before the responses complete "
                   "(40 s), and crash-loops; each time it returns, 700 relists meet its 400 max-in-flight slots and "
                   "the rest retry their 429 every second",
    "calico-1200-backoff-recovery": "the same OOM kills with back-off (the source gives no memory; it describes the "
                                    "replica as slow, not dead): the kubelet's crash-loop back-off outlasts the "
                                    "informers' 30 s cap, so they relist together each time it returns",
}
NAMES = [c.name for c in CHECKS]


@pytest.fixture(scope="module")
def fidelity():
    return run_fidelity()


@pytest.fixture(scope="module")
def rows(fidelity):
    return {r.check.name: r for r in fidelity.rows}


def test_every_case_of_the_issue_is_covered():
    assert {c.case for c in CHECKS} == {1, 2, 3, 4}
    assert set(MISSES) <= set(NAMES)
    for required in ("antrea-1044-kubelet", "calico-1200-backoff", "kindling-459-max-unavailable-1"):
        assert required in NAMES


@pytest.mark.parametrize("name", [n for n in NAMES if n not in MISSES])
def test_within_bounds(rows, name):
    row = rows[name]
    assert row.within_bounds, (name, row.simulated, row.check.bounds_text)


@pytest.mark.parametrize("name", sorted(MISSES))
def test_known_miss(rows, name):
    row = rows[name]
    if not row.within_bounds:
        pytest.xfail(MISSES[name])
    pytest.fail(f"{name} is now within bounds ({row.simulated:g}): remove it from MISSES and update docs/fidelity.md")


def test_every_scenario_runs_once_and_the_wall_time_is_reported(fidelity):
    """Each scenario a check names is run (once), and the run's wall time is reported. How long
    it takes is not asserted: it depends on the machine (a bound of 30 s failed at 33.6 s beside
    benchmarks); docs/fidelity.md gives the figure measured on a quiet machine."""
    assert set(fidelity.runs) == {s for c in CHECKS for s in c.scenarios}
    assert fidelity.wall_s > 0.0


def test_resource_version_zero_barely_moves_memory(rows):
    """antrea#1044: the same 50 restarts served from the watch cache cost < 10 % of the etcd LISTs."""
    etcd, cache = rows["antrea-1044"], rows["antrea-1044-kubelet"]
    assert etcd.simulated >= 0.5
    assert cache.simulated < 10.0


def test_backoff_cuts_the_list_count(fidelity):
    no_backoff, backoff = fidelity.runs["calico-1200"], fidelity.runs["calico-1200-backoff"]
    assert R.lists_sent(backoff) < 0.5 * R.lists_sent(no_backoff)


def test_one_pod_at_a_time_is_never_oom_killed(fidelity):
    run = fidelity.runs["kindling-459-max-unavailable-1"]
    assert R.oom_kills(run) == 0
    mem = run.result.series("process_resident_memory_bytes", run.cluster)
    assert mem.max() < run.result.series("waveguard_sim_apiserver_memory_limit_bytes", run.cluster)[0]


def test_borrowing_throttles_the_kindling_burst(fidelity):
    """kindling#459 on a server before APF borrowing (1.25): workload-low keeps its nominal seats,
    admits several times the LISTs the 1.30 default admits, and the memory rise is larger."""
    from waveguard.sim import build_simulator
    from waveguard.sim.run import n_steps

    scenario = R.load("kindling-459")
    scenario.fleet.clusters[0].kubernetes_version = "1.25"
    sim = build_simulator(scenario)
    sim.step(n_steps(scenario) * scenario.step_s)
    before_borrowing = R.Run(scenario, sim, sim.result(scenario.name))
    default = fidelity.runs["kindling-459"]
    assert R.memory_rise_bytes(before_borrowing, 60) > 1.4 * R.memory_rise_bytes(default, 60)


def test_the_same_constants_for_every_case():
    """No per-case knob: the scenarios carry setup only (fleet, change, schedule, events)."""
    for name in R.scenario_names():
        if name == R.INCIDENT:
            continue
        raw = R.scenario_path(name).read_text()
        assert "apf:" not in raw and "step_s: 1\n" in raw, name
        scenario = R.load(name)
        assert len(scenario.fleet_model.clusters) == 1 and len(scenario.profiles) == 1


def test_deterministic():
    a, b = R.run("antrea-1044"), R.run("antrea-1044")
    assert R.memory_rise_bytes(a, 60) == R.memory_rise_bytes(b, 60)


# --- command line --------------------------------------------------------------------------------

def test_cli_json_schema(runner, monkeypatch, fidelity):
    monkeypatch.setattr("waveguard.fidelity.run_fidelity", lambda **_: fidelity)  # the module's run
    result = runner.invoke(app, ["fidelity", "-o", "json"])
    out = json.loads(result.stdout)
    assert result.exit_code == (0 if out["all_within_bounds"] else 1)
    assert [c["name"] for c in out["cases"]] == NAMES
    for case in out["cases"]:
        assert set(case) >= {"name", "source", "published", "simulated", "ratio", "within_bounds"}
        assert isinstance(case["within_bounds"], bool)
        assert case["ratio"] is None or case["ratio"] == pytest.approx(case["simulated"] / case["published"], rel=1e-2)


def test_cli_table_and_report(runner, tmp_path, monkeypatch, fidelity):
    monkeypatch.setattr("waveguard.fidelity.run_fidelity", lambda **_: fidelity)
    report = tmp_path / "fidelity.html"
    result = runner.invoke(app, ["fidelity", "--report", str(report)])
    assert result.exit_code == (0 if fidelity.all_within_bounds else 1)
    for name in ("antrea-1044", "calico-1200", "kindling-459", "incident-dns"):
        assert name in result.output
    html = report.read_text()
    assert html.startswith("<!doctype html>") and html.count("data:image/png;base64,") >= 3
    assert "projectcalico/node#1200" in html


def test_cli_bad_report_path_is_one_line_exit_2(runner, tmp_path):
    result = runner.invoke(app, ["fidelity", "--report", str(tmp_path)])
    assert result.exit_code == 2
    lines = [l for l in result.output.splitlines() if l.strip()]
    assert len(lines) == 1 and "is a folder" in lines[0]


def test_unknown_scenario_is_an_input_error():
    from waveguard.model.errors import InputError

    with pytest.raises(InputError):
        R.scenario_path("no-such-case")


def test_the_table_at_80_columns_keeps_every_published_figure_whole(runner, monkeypatch, fidelity):
    """What the simulated figure is checked against is never cut with an ellipsis at 80 columns:
    the published column wraps at spaces (new-user trial: "~6,700 (from ~225 …" hid the source's count)."""
    monkeypatch.setattr("waveguard.fidelity.run_fidelity", lambda **_: fidelity)
    monkeypatch.setenv("COLUMNS", "80")
    result = runner.invoke(app, ["fidelity"])
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in result.output
    words = " ".join(" ".join(line.split("│")[2].split()) for line in lines if line.count("│") >= 5)
    for case in fidelity.rows:
        assert " ".join(case.check.published_text.split()) in words, case.check.published_text
