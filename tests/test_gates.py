"""The gate registry: each gate registered once, the plan model derived from it, and each gate's
pass / fail / no-data at its documented default threshold on fake signals."""

from __future__ import annotations

import json
import pickle

import pytest
from pydantic import ValidationError

from tests.conftest import EXAMPLES
from waveguard.analysis import build_profiles, load_change
from waveguard.model.errors import (
    InputError, SourceUnavailable, SourceUnavailableError, TargetError, WaveguardError,
)
from waveguard.model.fleet import Cluster, Fleet
from waveguard.model.result import CheckResult
from waveguard.rollout.gates import (
    GATES, GateResult, Signals, control_plane_gate_kinds, default_gate_kinds, evaluate, evaluate_projection,
    register, signal_gate, threshold_check,
)
from waveguard.rollout.gates.registry import Gate
from waveguard.rollout.plan import GATE_KINDS, GateSpec, load_plan, plan_findings, propose_plan
from waveguard.signals.result import SignalResult

CHANGE = str(EXAMPLES / "incident-telemetry")
FLEET = Fleet(clusters=[Cluster(name="staging", labels={"env": "staging"}, nodes=50),
                        Cluster(name="prod-small", labels={"env": "prod"}, nodes=400),
                        Cluster(name="prod-large", labels={"env": "prod"}, nodes=7500)])
SIGNAL_GATES = [name for name, gate in GATES.items() if gate.check is not None]
#: The registry as it was before the redesign (name, default threshold, control plane, on by default).
EXPECTED = {
    "apiserver_p99_latency": (1.0, True, True), "apiserver_rejections": (1.0, True, True),
    "apf_seat_utilisation": (0.9, True, True), "apf_queue_wait": (1.0, True, True),
    "apiserver_memory": (0.8, True, True), "etcd_p99_latency": (0.5, True, False),
    "dns_probe": (0.01, False, True), "coredns_api_errors": (0.0, False, False),
    "workload_error_rate": (0.05, False, False), "projection": (0.5, True, True),
}


class FakeSignals:
    """Every reading gives ``figure`` (None: no data); denominators (nominal seats, memory limit) 1."""

    def __init__(self, figure: float | None, up: float = 1.0, why: str = "") -> None:
        self.figure, self.up, self.why = figure, up, why

    def value(self, metric: str, cluster: str, **labels: str) -> float | None:
        if metric == "up":
            return self.up
        return 1.0 if metric == "apiserver_flowcontrol_nominal_limit_seats" else self.figure

    def rate(self, metric: str, cluster: str, **labels: str) -> float | None:
        return self.figure

    def dns_probe_failure_ratio(self, cluster: str) -> float | None:
        return self.figure

    def memory_limit_bytes(self, cluster: str) -> float | None:
        return 1.0

    def workload_error_ratio(self, cluster: str) -> float | None:
        return self.figure

    def explain(self, cluster: str) -> str:
        return self.why


@pytest.fixture
def registry():
    """The registry, restored after the test (tests register gates of their own)."""
    saved = dict(GATES)
    yield GATES
    GATES.clear()
    GATES.update(saved)


def test_registry_holds_every_gate_once_in_order():
    assert list(GATES) == list(EXPECTED)
    for name, (threshold, control_plane, default_on) in EXPECTED.items():
        gate = GATES[name]
        assert (gate.default_threshold, gate.control_plane, gate.default_on) == (threshold, control_plane, default_on)
        assert gate.reads and gate.unit and gate.source, name
    assert GATE_KINDS is GATES
    assert default_gate_kinds() == ("apiserver_p99_latency", "apiserver_rejections", "apf_seat_utilisation",
                                    "apf_queue_wait", "apiserver_memory", "dns_probe", "projection")
    assert control_plane_gate_kinds() == {n for n, (_, cp, _) in EXPECTED.items() if cp}


def test_a_gate_registered_in_a_test_is_seen_by_the_plan_model(registry, tmp_path):
    @signal_gate("queue_vibes", reads="fake", unit="ratio", default_threshold=0.25, source="a test",
                 control_plane=True, default_on=True)
    def queue_vibes(signals: Signals, cluster: str, limit: float) -> GateResult:
        return threshold_check("queue_vibes", cluster, signals.workload_error_ratio(cluster), limit, "vibes")

    assert "queue_vibes" in GATE_KINDS and GateSpec(kind="queue_vibes").limit == 0.25
    plan = propose_plan(CHANGE, FLEET, per_node=True)
    assert [g.kind for g in plan.gates][-1] == "queue_vibes"
    only = plan.model_copy(update={"gates": [GateSpec(kind="queue_vibes")]})
    assert "WG203" not in {f.rule for f in plan_findings(only, FLEET)}
    path = tmp_path / "plan.yaml"
    path.write_text(json.dumps(only.model_dump(mode="json")))
    assert load_plan(path, FLEET).gates[0].kind == "queue_vibes"
    assert evaluate(GateSpec(kind="queue_vibes"), FakeSignals(0.3), "c").status == "fail"


def test_unknown_gate_kinds_name_the_registered_ones():
    for kind, shown in (("cpu_vibes", "'cpu_vibes'"), (5, "5"), ([1], "[1]")):
        with pytest.raises(ValidationError) as err:
            GateSpec(kind=kind)
        assert f"unknown gate {shown}; known: {', '.join(GATES)}" in str(err.value)


def test_register_refuses_duplicates_and_gates_without_exactly_one_evaluate(registry):
    gate = GATES["dns_probe"]
    with pytest.raises(ValueError, match="registered twice"):
        register(gate)
    with pytest.raises(ValueError, match="exactly one"):
        register(Gate("nothing", "x", "ratio", 1.0, "a test"))
    with pytest.raises(ValueError, match="exactly one"):
        register(Gate("both", "x", "ratio", 1.0, "a test", check=gate.check, project=GATES["projection"].project))


@pytest.mark.parametrize("name", SIGNAL_GATES)
def test_each_gate_passes_at_its_threshold_fails_over_it_and_reads_no_data(name):
    limit = GATES[name].default_threshold
    spec = GateSpec(kind=name)
    at = evaluate(spec, FakeSignals(limit), "c1")
    over = evaluate(spec, FakeSignals(limit * 1.5 + 0.01), "c1")
    missing = evaluate(spec, FakeSignals(None), "c1")
    assert (at.status, at.value, at.threshold, at.gate, at.cluster) == ("pass", limit, limit, name, "c1")
    assert over.status == "fail" and over.value == pytest.approx(limit * 1.5 + 0.01)
    assert (missing.status, missing.value, missing.threshold) == ("no-data", None, limit)
    assert missing.detail.startswith("no fresh ") and not missing.passed
    explained = evaluate(spec, FakeSignals(None, why="Prometheus is unreachable"), "c1")
    assert explained.detail == f"{missing.detail}: Prometheus is unreachable"


@pytest.mark.parametrize("name", SIGNAL_GATES)
def test_apiserver_gates_fail_with_no_replica_up_and_log_no_figure(name):
    """No replica up: the gate fails (docs/rollout.md), and since nothing was read no figure is
    logged — never a 0.0 that reads as a real zero."""
    result = evaluate(GateSpec(kind=name), FakeSignals(0.0, up=0.0), "c1")
    if GATES[name].reads_apiserver:
        assert (result.status, result.value) == ("fail", None) and "up == 0" in result.detail
        assert not result.passed and result.as_json()["value"] is None
    else:
        assert result.status == "pass"


def test_projection_pass_fail_and_no_data():
    profiles = build_profiles(load_change([CHANGE]))
    spec = GateSpec(kind="projection")
    small, large = FLEET.clusters[0], FLEET.clusters[2]
    results = evaluate_projection(spec, profiles, [small, large], {small.name: 0.01, large.name: 1.0})
    assert [(r.gate, r.cluster, r.status) for r in results] == [("projection", small.name, "pass"),
                                                                ("projection", large.name, "fail")]
    assert results[1].threshold == 0.5 and results[1].value > 0.5 and "utilisation" in results[1].detail
    empty = evaluate_projection(spec, [], [small], {})
    assert [(r.status, r.value, r.threshold) for r in empty] == [("no-data", None, 0.5)]
    with pytest.raises(ValueError, match="not evaluated per cluster"):
        evaluate(spec, FakeSignals(1.0), "c1")
    with pytest.raises(ValueError, match="not projected"):
        evaluate_projection(GateSpec(kind="dns_probe"), profiles, [small], {})


def test_one_result_shape_and_the_event_log_json():
    result = GateResult.of("dns_probe", "prod-1", "fail", 0.5, 0.01, "share failing 0.5")
    assert isinstance(result, CheckResult) and SignalResult is CheckResult
    assert (result.signal, result.subject, result.reason) == ("dns_probe", "prod-1", "share failing 0.5")
    assert json.dumps(result.as_json()) == ('{"gate": "dns_probe", "cluster": "prod-1", "status": "fail", '
                                            '"value": 0.5, "threshold": 0.01, "detail": "share failing 0.5"}')
    probe = SignalResult("pass", 0.002, 1.0, "ok", unit="s", signal="dns")
    assert list(probe.to_json()) == ["status", "value", "threshold", "detail", "unit", "signal", "data"]


def test_one_exception_root():
    for cls in (InputError, SourceUnavailableError, TargetError):
        assert issubclass(cls, WaveguardError) and cls.__doc__
    assert SourceUnavailable is SourceUnavailableError
    err = SourceUnavailableError("http://127.0.0.1:9/metrics", "timeout", "no answer within 1 s")
    assert str(err) == "http://127.0.0.1:9/metrics: no answer within 1 s" and err.reason == "timeout"
    again = pickle.loads(pickle.dumps(err))
    assert (str(again), again.source, again.reason) == (str(err), err.source, err.reason)
    assert str(SourceUnavailableError("", "unreachable", "Prometheus is unreachable")) == "Prometheus is unreachable"
    assert str(pickle.loads(pickle.dumps(InputError("f.yaml", "bad", line=3, hint="fix")))) == "f.yaml:3: bad (fix)"


def test_plan_gates_lists_the_registry(runner):
    from waveguard.cli.main import app

    result = runner.invoke(app, ["plan", "--gates"])
    assert result.exit_code == 0
    for name, gate in GATES.items():
        assert name in result.stdout and f"{gate.default_threshold:g} {gate.unit}" in result.stdout
