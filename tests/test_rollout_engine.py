"""The wave engine's state machine on an in-memory fake actuator, clock and signals (no simulator).

The fake "world" is scripted: a gate's figure depends only on which clusters run the change, so
each test says exactly which gate fails where, and a run takes milliseconds. The engine on the
real simulator, end to end: tests/test_rollout_simulated.py.
"""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import EXAMPLES
from waveguard.analysis import build_profiles, load_change
from waveguard.model.fleet import Cluster, Fleet
from waveguard.model.requests import RequestProfile
from waveguard.rollout.engine import Engine, KilledError
from waveguard.rollout.eventlog import EventLog, RolloutState, fold
from waveguard.rollout.plan import ClusterSelector, GateSpec, Plan, Wave
from waveguard.rollout.ports import Actuator, Backend, Clock, Readings, SignalSource

CHANGE = str(EXAMPLES / "incident-telemetry")
FLEET = Fleet(clusters=[
    Cluster(name="staging", labels={"env": "staging"}, nodes=50),
    Cluster(name="prod-small", labels={"env": "prod"}, nodes=400),
    Cluster(name="prod-large", labels={"env": "prod"}, nodes=7500),
])
PROFILES = build_profiles(load_change([CHANGE]))
FIXED = build_profiles(load_change([str(EXAMPLES / "incident-telemetry-node-filtered")]))
#: p99 latency (s) of a cluster running the change where it overloads, and of a healthy one.
SLOW_S, FAST_S = 5.0, 0.05


class World:
    """The clusters themselves: what runs where (outlives an engine, as real clusters outlive
    a killed guard). ``overloads``: clusters whose p99 latency is SLOW_S while they run the
    change; ``no_data``: metrics nobody exposes."""

    def __init__(self, overloads: frozenset[str] = frozenset(), no_data: frozenset[str] = frozenset()) -> None:
        self.shares: dict[str, float] = {}
        self.t = 0.0  # seconds since the rollout started: time goes on while a guard is down
        self.overloads, self.no_data = overloads, no_data
        self.down: set[str] = set()  # clusters with no apiserver replica up (up == 0)
        self.applies: list[tuple[str, float]] = []
        self.in_flight = self.most_in_flight = 0
        self.lock = threading.Lock()


class FakeActuator(Actuator):
    def __init__(self, world: World, *, parallel: bool = False, apply_s: float = 0.0) -> None:
        self.world, self.parallel_applies, self.apply_s = world, parallel, apply_s
        self.restored: RolloutState | None = None

    def apply(self, cluster: str, share: float) -> None:
        w = self.world
        with w.lock:
            w.in_flight += 1
            w.most_in_flight = max(w.most_in_flight, w.in_flight)
        time.sleep(self.apply_s)
        with w.lock:
            w.in_flight -= 1
            w.shares[cluster] = share
            w.applies.append((cluster, share))

    def rollback(self, cluster: str) -> None:
        self.world.shares[cluster] = 0.0

    def restore(self, state: RolloutState) -> None:
        self.restored = state


class FakeClock(Clock):
    def __init__(self, world: World) -> None:
        self.world = world

    def now(self) -> float:
        return self.world.t

    def advance(self, seconds: float) -> None:
        self.world.t += max(0.0, seconds)


class FakeSignals(Readings):
    def __init__(self, world: World) -> None:
        self.world = world

    def value(self, metric: str, cluster: str, **labels: str) -> float | None:
        if metric in self.world.no_data:
            return None
        if metric == "up":
            return 0.0 if cluster in self.world.down else 1.0
        if metric == "apiserver_request_duration_seconds":
            running = self.world.shares.get(cluster, 0.0) > 0
            return SLOW_S if running and cluster in self.world.overloads else FAST_S
        return 0.0

    def rate(self, metric: str, cluster: str, **labels: str) -> float | None:
        return 0.0

    def dns_probe_failure_ratio(self, cluster: str) -> float | None:
        return 0.0

    def memory_limit_bytes(self, cluster: str) -> float | None:
        return 1e10

    def workload_error_ratio(self, cluster: str) -> float | None:
        return 0.0

    def explain(self, cluster: str) -> str:
        return "nobody exposes it"


class FakeSource(SignalSource):
    """Readings of the world; the change's profiles measured once it runs somewhere."""

    def __init__(self, world: World, profiles: list[RequestProfile]) -> None:
        self.world, self.profiles = world, profiles

    def signals(self, window_s: float) -> FakeSignals:
        return FakeSignals(self.world)

    def measured_profiles(self) -> list[RequestProfile]:
        return self.profiles if any(s > 0 for s in self.world.shares.values()) else []


def plan_of(*waves: tuple[str, list[str], float], gates=("apiserver_p99_latency",), **kw) -> Plan:
    return Plan(change=CHANGE, waves=[Wave(name=n, clusters=ClusterSelector(names=names), node_share=share,
                                           bake_s=120) for n, names, share in waves],
                gates=[GateSpec(kind=g) for g in gates], **kw)


PLAN = plan_of(("staging", ["staging"], 1.0), ("prod-1", ["prod-small", "prod-large"], 0.01),
               ("prod-all", ["prod-small", "prod-large"], 1.0))


def run(log_path, plan: Plan, world: World, profiles=PROFILES, fault=None, **actuator):
    log = EventLog(log_path, create=not log_path.exists())
    backend = Backend(FakeActuator(world, **actuator), FakeClock(world), FakeSource(world, profiles))
    engine = Engine(plan=plan, fleet=FLEET, target=backend, log=log, analysed_profiles=profiles, fault=fault)
    try:
        return engine.run(), log
    except KilledError:
        log.close()
        return None, None


def test_all_gates_passing_completes_wave_after_wave(tmp_path):
    world = World()
    state, log = run(tmp_path / "s.db", PLAN, world)
    assert state.status == "completed" and state.passed_waves == {0, 1, 2}
    assert world.shares == {"staging": 1.0, "prod-small": 1.0, "prod-large": 1.0}
    kinds = [e.kind for e in log.events()]
    assert kinds[0] == "started" and kinds[-1] == "completed" and kinds.count("wave_passed") == 3
    # every wave bakes its bake_s, with a gate evaluation every gate_interval_s
    passed = [e.t for e in log.events() if e.kind == "wave_passed"]
    assert passed == [120.0, 240.0, 360.0]
    # gates read every cluster running the change: 1, then 3, then 3 clusters
    assert kinds.count("gate") == (1 + 3 + 3) * 120 // 30


def test_a_failing_gate_halts_and_rolls_back_every_cluster_reached(tmp_path):
    world = World(overloads=frozenset({"prod-large"}))
    state, log = run(tmp_path / "s.db", PLAN, world)
    assert state.status == "rolled_back"
    assert (state.halt["gate"], state.halt["cluster_failed"], state.halt["wave"]) == (
        "apiserver_p99_latency", "prod-large", 1)
    assert state.halt["value"] == SLOW_S and state.halt["before_apply"] is False
    assert world.shares == {"staging": 0.0, "prod-small": 0.0, "prod-large": 0.0}
    kinds = [e.kind for e in log.events()]
    assert kinds.index("halted") < kinds.index("rollback_started") < kinds.index("rolled_back")
    assert [e.cluster for e in log.events() if e.kind == "rolled_back"] == [
        "prod-large", "prod-small", "staging", None]


def test_the_projection_halts_before_the_change_reaches_a_cluster(tmp_path):
    """Measured in staging, projected onto 1 % of 7,500 nodes: the start-up LISTs would fill an
    apiserver's memory, so prod-large never runs the change."""
    world = World()
    plan = plan_of(("staging", ["staging"], 1.0), ("prod-1", ["prod-small", "prod-large"], 0.01),
                   gates=("apiserver_p99_latency", "projection"))
    state, _ = run(tmp_path / "s.db", plan, world)
    assert state.status == "rolled_back"
    assert (state.halt["gate"], state.halt["cluster_failed"], state.halt["before_apply"]) == (
        "projection", "prod-large", True)
    assert world.applies == [("staging", 1.0)]


def test_a_gate_without_data_pauses_says_why_and_never_passes(tmp_path):
    """Issue 14: the pause is as before (with the reason), then the engine keeps evaluating on its
    own; a gate without data for longer than ``no_data_timeout_s`` halts and rolls back."""
    world = World(no_data=frozenset({"etcd_request_duration_seconds"}))
    plan = plan_of(("staging", ["staging"], 1.0), gates=("apiserver_p99_latency", "etcd_p99_latency"))
    state, log = run(tmp_path / "s.db", plan, world)
    paused = [e for e in log.events() if e.kind == "paused"]
    assert len(paused) == 1 and paused[0].data["no_data"]
    assert "etcd_p99_latency has no data on staging" in paused[0].data["reason"]
    assert "nobody exposes it" in paused[0].data["reason"]  # the source's explain
    assert not state.passed_waves
    assert state.status == "rolled_back" and state.halt["gate"] == "etcd_p99_latency"
    assert "no_data_timeout_s 600" in state.halt["reason"]
    assert state.halt["t"] - paused[0].t == pytest.approx(plan.no_data_timeout_s, abs=plan.gate_interval_s)


def test_no_apiserver_up_halts_at_once_and_logs_no_figure(tmp_path):
    """With no apiserver replica up the gates fail closed — the rollout halts and rolls back at
    the first evaluation — and log no figure (not the 0.0 once logged: nothing was read)."""
    from waveguard.rollout.gates.registry import APISERVER_DOWN_DETAIL

    world = World()
    world.down = {"staging"}
    plan = plan_of(("staging", ["staging"], 1.0))
    state, log = run(tmp_path / "s.db", plan, world)
    down = [e for e in log.events() if e.kind == "gate" and e.data["detail"] == APISERVER_DOWN_DETAIL]
    assert len(down) == 1 and (down[0].data["status"], down[0].data["value"]) == ("fail", None)
    assert not state.passed_waves and state.status == "rolled_back"
    assert state.halt["value"] is None and state.halt["t"] == down[0].t


def test_the_log_is_append_only_and_refuses_a_bad_payload(tmp_path):
    from pydantic import ValidationError

    _, log = run(tmp_path / "s.db", PLAN, World())
    with pytest.raises(Exception, match="append-only"):
        log._db.execute("UPDATE events SET kind = 'completed'")
    n = len(log.events())
    with pytest.raises(ValidationError):
        log.append("applied", 0.0, wave=0, cluster="staging", shares=1.0)  # a typo: nothing is written
    with pytest.raises(ValueError, match="unknown event kind"):
        log.append("exploded", 0.0)
    assert len(log.events()) == n


def test_restore_gets_the_folded_state(tmp_path):
    world = World()
    run(tmp_path / "s.db", PLAN, world)
    log = EventLog(tmp_path / "s.db")
    actuator = FakeActuator(world)
    Engine(plan=PLAN, fleet=FLEET, target=Backend(actuator, FakeClock(world), FakeSource(world, PROFILES)), log=log,
           analysed_profiles=PROFILES)
    assert actuator.restored is not None
    assert actuator.restored.shares == {"staging": 1.0, "prod-small": 1.0, "prod-large": 1.0}
    assert [(tr.cluster, tr.share) for tr in actuator.restored.transitions if tr.share is not None] == [
        ("staging", 1.0), ("prod-small", 0.01), ("prod-large", 0.01), ("prod-small", 1.0), ("prod-large", 1.0)]


def test_max_parallel_clusters_batches_the_applies(tmp_path):
    """A wave's clusters are applied in batches of at most max_parallel_clusters: the batch's
    apply_started in one commit, its applies, then its applied."""
    plan = plan_of(("prod", ["staging", "prod-small", "prod-large"], 1.0), max_parallel_clusters=2)
    state, log = run(tmp_path / "s.db", plan, World())
    assert state.status == "completed"
    sequence = [(e.kind, e.cluster) for e in log.events() if e.kind in ("apply_started", "applied")]
    assert sequence == [("apply_started", "staging"), ("apply_started", "prod-small"), ("applied", "staging"),
                        ("applied", "prod-small"), ("apply_started", "prod-large"), ("applied", "prod-large")]


def test_an_actuator_that_allows_it_applies_a_batch_concurrently(tmp_path):
    world = World()
    plan = plan_of(("prod", ["staging", "prod-small", "prod-large"], 1.0), max_parallel_clusters=3)
    state, _ = run(tmp_path / "s.db", plan, world, parallel=True, apply_s=0.2)
    assert state.status == "completed" and world.most_in_flight == 3
    sequential = World()
    run(tmp_path / "t.db", plan, sequential, apply_s=0.01)
    assert sequential.most_in_flight == 1  # the default: one after another


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reference")
    writes = {"n": 0}
    world = World(overloads=frozenset({"prod-small"}))
    run(tmp / "s.db", PLAN, world, fault=lambda: writes.__setitem__("n", writes["n"] + 1))
    log = EventLog(tmp / "s.db")
    assert fold(log.events()).status == "rolled_back"
    return _end_state(log), writes["n"]


def _end_state(log: EventLog) -> tuple:
    s = fold(log.events())
    halt = s.halt and (s.halt["gate"], s.halt["cluster_failed"], s.halt["wave"])
    return s.status, tuple(sorted(s.shares.items())), halt, tuple(sorted(s.applied)), tuple(sorted(s.rolled_back))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kill_fractions=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=4))
def test_killed_at_random_points_resume_reaches_the_same_end(tmp_path_factory, uninterrupted, kill_fractions):
    """A crash before any event write (the fault hook raises as kill -9 would stop the process),
    then resume from the log with a new actuator, clock and source over the same clusters."""
    tmp = tmp_path_factory.mktemp("killed")
    reference, total_writes = uninterrupted
    world = World(overloads=frozenset({"prod-small"}))
    for fraction in kill_fractions:
        point = 1 + int(fraction * (total_writes - 1))
        writes = {"n": 0}

        def fault(point=point, writes=writes):
            writes["n"] += 1
            if writes["n"] == point:
                raise KilledError()

        run(tmp / "s.db", PLAN, world, fault=fault)
    state, log = run(tmp / "s.db", PLAN, world)
    assert _end_state(log) == reference
    assert all(share == 0.0 for share in world.shares.values())  # the clusters themselves are clean
    applies = [(e.wave, e.cluster) for e in log.events() if e.kind == "applied"]
    assert len(applies) == len(set(applies)), "a wave was applied twice"
    rollbacks = [e.cluster for e in log.events() if e.kind == "rolled_back" and e.cluster]
    assert len(rollbacks) == len(set(rollbacks))


def test_pause_and_abort_from_another_process_are_seen(tmp_path):
    calls = {"n": 0}

    def operator_pauses():
        calls["n"] += 1
        if calls["n"] == 4:  # another process appends a pause while the engine runs
            EventLog(tmp_path / "s.db").append("paused", 0.0, reason="operator", needs_approval=False)

    world = World()
    state, _ = run(tmp_path / "s.db", PLAN, world, fault=operator_pauses)
    assert state.status == "paused" and state.pause_reason == "operator"
    EventLog(tmp_path / "s.db").append("aborted", state.last_t)
    state, _ = run(tmp_path / "s.db", PLAN, world)
    assert state.status == "rolled_back" and "aborted" in state.halt["reason"]
    assert all(share == 0.0 for share in world.shares.values())


def test_manual_rollback_waits_for_approval(tmp_path):
    world = World(overloads=frozenset({"staging"}))
    plan = PLAN.model_copy(update={"rollback": "manual"})
    state, log = run(tmp_path / "s.db", plan, world)
    assert state.status == "awaiting_approval" and world.shares == {"staging": 1.0}
    log.append("approved", state.last_t)
    state, _ = run(tmp_path / "s.db", plan, world)
    assert state.status == "rolled_back" and world.shares == {"staging": 0.0}


def test_a_halt_waits_for_failures_to_halt_failed_evaluations(tmp_path):
    world = World(overloads=frozenset({"staging"}))
    plan = PLAN.model_copy(update={"gates": [GateSpec(kind="apiserver_p99_latency", failures_to_halt=3)]})
    state, log = run(tmp_path / "s.db", plan, world)
    assert state.status == "rolled_back"
    failed = [e for e in log.events() if e.kind == "gate" and e.data["status"] == "fail"]
    halted = next(e for e in log.events() if e.kind == "halted")
    assert len(failed) == 3 and halted.seq > failed[-1].seq and halted.t == failed[-1].t


def test_a_refused_rollback_leaves_the_cluster_pending_and_the_others_go_on(tmp_path):
    """The hook for a target that keeps refusing (a saturated control plane): its cluster is
    logged rollback_pending with the reason, the others roll back, the rollout stays rolling
    back; the next run retries it."""
    from waveguard.model.errors import TargetError

    class Refusing(FakeActuator):
        refuse = True

        def rollback(self, cluster: str) -> None:
            if cluster == "prod-large" and Refusing.refuse:
                raise TargetError("prod-large: PATCH daemonsets/x: 429 Too Many Requests")
            super().rollback(cluster)

    world = World(overloads=frozenset({"prod-large"}))
    log = EventLog(tmp_path / "s.db", create=True)
    backend = Backend(Refusing(world), FakeClock(world), FakeSource(world, PROFILES))
    state = Engine(plan=PLAN, fleet=FLEET, target=backend, log=log, analysed_profiles=PROFILES).run()
    assert state.status == "rolling_back" and state.cluster_state["prod-large"] == "rollback_pending"
    assert "429" in state.rollback_pending["prod-large"]
    assert world.shares == {"staging": 0.0, "prod-small": 0.0, "prod-large": 0.01}
    Refusing.refuse = False
    state, log = run(tmp_path / "s.db", PLAN, world)
    assert state.status == "rolled_back" and not state.rollback_pending
    assert world.shares["prod-large"] == 0.0
    assert [e.cluster for e in log.events() if e.kind == "rollback_started"].count("prod-large") == 1
