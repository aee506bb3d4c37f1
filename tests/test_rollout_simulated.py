"""The wave engine on the simulator, end to end: what the gates and the projection do to the
incident's change and its fix, crash safety and pauses with a real simulated fleet.

The backend is the real simulator (waveguard.sim), on a small fleet so each run takes about a
second of wall time. The engine's state machine alone, on fakes: tests/test_rollout_engine.py."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import EXAMPLES
from waveguard.analysis import build_profiles, load_change
from waveguard.model.fleet import Cluster, Fleet
from waveguard.rollout.engine import Engine, KilledError
from waveguard.rollout.eventlog import EventLog, fold
from waveguard.rollout.plan import ClusterSelector, GateSpec, Plan, Wave, propose_plan
from waveguard.rollout.simtarget import SimTarget
from waveguard.sim.options import SimulatorOptions

CHANGE = str(EXAMPLES / "incident-telemetry")
FLEET = Fleet(clusters=[
    Cluster(name="staging", labels={"env": "staging"}, nodes=50),
    Cluster(name="prod-small", labels={"env": "prod"}, nodes=400),
    Cluster(name="prod-large", labels={"env": "prod"}, nodes=7500),
])
PROFILES = build_profiles(load_change([CHANGE]))


def small_plan(bake_s: float = 120.0, gates=("apiserver_p99_latency", "apiserver_rejections", "projection")) -> Plan:
    """The planner's waves with short bakes (the engine does not enforce plan findings)."""
    plan = propose_plan(CHANGE, FLEET, per_node=True)
    waves = [w.model_copy(update={"bake_s": bake_s}) for w in plan.waves]
    return plan.model_copy(update={"waves": waves, "gates": [GateSpec(kind=g) for g in gates]})


def run(tmp_path, plan: Plan, name: str = "state.db", fault=None, seed: int = 3):
    log = EventLog(tmp_path / name, create=not (tmp_path / name).exists())
    engine = Engine(plan=plan, fleet=FLEET, target=SimTarget(FLEET, PROFILES, SimulatorOptions(seed=seed, expected_steps=3600)),
                    log=log, analysed_profiles=PROFILES, fault=fault)
    try:
        return engine.run(), log
    except KilledError:
        log.close()
        return None, None


def test_projection_halts_before_the_change_reaches_the_large_cluster(tmp_path):
    state, log = run(tmp_path, small_plan())
    assert state.status == "rolled_back"
    # measured in staging, projected onto 1 % of 7,500 nodes: 75 agents' start-up LISTs of all
    # pods would fill an apiserver's memory
    assert state.halt["gate"] == "projection" and state.halt["cluster_failed"] == "prod-large"
    assert state.halt["before_apply"] is True and state.halt["wave"] == 1
    events = log.events()
    applied = [(e.wave, e.cluster, e.data["share"]) for e in events if e.kind == "applied"]
    assert applied == [(0, "staging", 1.0)]  # production never ran the change
    assert all(s == 0.0 for s in state.shares.values())  # staging rolled back
    kinds = [e.kind for e in events]
    assert kinds.index("halted") < kinds.index("rollback_started") < kinds.index("rolled_back")


def test_without_projection_the_sli_gates_still_halt(tmp_path):
    state, log = run(tmp_path, small_plan(gates=("apiserver_p99_latency", "apiserver_rejections",
                                                 "apf_seat_utilisation", "apf_queue_wait")))
    assert state.status == "rolled_back"
    assert state.halt["gate"] != "projection"
    gates = [e for e in log.events() if e.kind == "gate"]
    assert {g.data["status"] for g in gates} >= {"pass", "fail"}


def test_a_gate_without_data_pauses_and_never_passes(tmp_path):
    # The simulator records no CoreDNS API client metrics: that gate has no data, so the rollout
    # pauses (the etcd gate has data since issue 12: the simulator records etcd's latency).
    # Issue 14: it keeps evaluating on its own, and past no_data_timeout_s halts and rolls back.
    state, log = run(tmp_path, small_plan(gates=("apiserver_p99_latency", "coredns_api_errors")))
    paused = [e for e in log.events() if e.kind == "paused"]
    assert len(paused) == 1 and "coredns_api_errors" in paused[0].data["reason"]
    assert not state.passed_waves  # no-data is never a pass
    assert state.status == "rolled_back" and "no_data_timeout_s" in state.halt["reason"]


def test_the_log_is_append_only(tmp_path):
    _, log = run(tmp_path, small_plan())
    with pytest.raises(Exception, match="append-only"):
        log._db.execute("UPDATE events SET kind = 'completed'")


def _end_state(log: EventLog) -> tuple:
    s = fold(log.events())
    halt = s.halt and (s.halt["gate"], s.halt["cluster_failed"], s.halt["wave"])
    return s.status, tuple(sorted(s.shares.items())), halt, tuple(sorted(s.applied)), tuple(sorted(s.rolled_back))


#: SLI gates only: the change reaches production, a gate fails there, everything rolls back —
#: the path with the most transitions to be killed in.
SLI_GATES = ("apiserver_p99_latency", "apiserver_rejections", "apf_seat_utilisation", "dns_probe")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reference")
    writes = {"n": 0}
    _, log = run(tmp, small_plan(gates=SLI_GATES), fault=lambda: writes.__setitem__("n", writes["n"] + 1))
    assert fold(log.events()).status == "rolled_back"
    return _end_state(log), writes["n"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kill_fractions=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=3))
def test_killed_at_random_points_resume_reaches_the_same_end(tmp_path_factory, uninterrupted, kill_fractions):
    """A crash before any event write (the fault hook raises as kill -9 would stop the
    process: nothing after it runs) then resume from the log, possibly several times."""
    tmp = tmp_path_factory.mktemp("killed")
    reference, total_writes = uninterrupted
    for fraction in kill_fractions:
        point = 1 + int(fraction * (total_writes - 1))
        writes = {"n": 0}

        def fault(point=point, writes=writes):
            writes["n"] += 1
            if writes["n"] == point:
                raise KilledError()

        run(tmp, small_plan(gates=SLI_GATES), fault=fault)
    state, log = run(tmp, small_plan(gates=SLI_GATES))
    assert _end_state(log) == reference
    applies = [(e.wave, e.cluster) for e in log.events() if e.kind == "applied"]
    assert len(applies) == len(set(applies)), "a wave was applied twice"
    rollbacks = [e.cluster for e in log.events() if e.kind == "rolled_back" and e.cluster]
    assert len(rollbacks) == len(set(rollbacks))


def test_pause_and_abort_from_another_process_are_seen(tmp_path):
    plan = small_plan()
    log = EventLog(tmp_path / "state.db", create=True)
    calls = {"n": 0}

    def operator_pauses():
        calls["n"] += 1
        if calls["n"] == 6:  # another process appends a pause while the engine runs
            EventLog(tmp_path / "state.db").append("paused", 0.0, reason="operator", needs_approval=False)

    engine = Engine(plan=plan, fleet=FLEET, target=SimTarget(FLEET, PROFILES, SimulatorOptions(seed=3)), log=log,
                    analysed_profiles=PROFILES, fault=operator_pauses)
    state = engine.run()
    assert state.status == "paused" and state.pause_reason == "operator"
    EventLog(tmp_path / "state.db").append("aborted", state.last_t)
    state, log = run(tmp_path, plan)
    assert state.status == "rolled_back" and "aborted" in state.halt["reason"]


def test_manual_rollback_waits_for_approval(tmp_path):
    plan = small_plan().model_copy(update={"rollback": "manual"})
    state, log = run(tmp_path, plan)
    assert state.status == "awaiting_approval" and any(s > 0 for s in state.shares.values())
    log.append("approved", state.last_t)
    state, _ = run(tmp_path, plan)
    assert state.status == "rolled_back"


def test_plan_of_one_wave_completes_when_gates_pass(tmp_path):
    fixed = build_profiles(load_change([str(EXAMPLES / "incident-telemetry-node-filtered")]))
    plan = Plan(change=CHANGE, waves=[Wave(name="all", clusters=ClusterSelector(), bake_s=120)],
                gates=[GateSpec(kind="apiserver_p99_latency"), GateSpec(kind="projection")])
    log = EventLog(tmp_path / "s.db", create=True)
    state = Engine(plan=plan, fleet=FLEET, target=SimTarget(FLEET, fixed, SimulatorOptions(seed=1)), log=log,
                   analysed_profiles=fixed).run()
    assert state.status == "completed" and state.shares == {c.name: 1.0 for c in FLEET.clusters}


def test_the_fixed_change_completes_the_planned_rollout_on_the_default_fleet(tmp_path):
    """The node-filtered agent passes every gate of waveguard's plan, wave after wave."""
    from waveguard.model.fleet import default_fleet

    fleet = default_fleet()
    change = str(EXAMPLES / "incident-telemetry-node-filtered")
    fixed = build_profiles(load_change([change]))
    plan = propose_plan(change, fleet, per_node=True)
    log = EventLog(tmp_path / "s.db", create=True)
    state = Engine(plan=plan, fleet=fleet, target=SimTarget(fleet, fixed, SimulatorOptions(seed=5)), log=log,
                   analysed_profiles=fixed).run()
    assert state.status == "completed" and state.passed_waves == {0, 1, 2, 3}
    assert all(share == 1.0 for share in state.shares.values())
