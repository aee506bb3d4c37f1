"""Exactly once, provably: the engine killed after every commit of a whole rollout, then resumed.

A commit is the smallest unit the log can stop at (the rows of one commit — a batch's
``apply_started``, one gate evaluation over the fleet — are written together or not at all), so
killing before every write is killing after every event index the log can hold. The fault hook
raises as ``kill -9`` would stop the process; the world (what runs where, the time) outlives the
engine, as real clusters outlive a killed guard. Each resumed run must end exactly as the
uninterrupted one: same final state, same multiset of applies, halts, gate results and
rollbacks (times included). Three rollouts on the in-memory fakes of test_rollout_engine.py:
the incident (a gate fails in the first production wave: halt, roll back), one that completes,
and the incident with ``failures_to_halt: 3`` (a repeated gate evaluation would halt early);
and the incident on the simulator, whose restored clock stands at the last logged transition
(not at the last evaluation) after a restart.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests import test_rollout_simulated as simulated
from tests.test_rollout_engine import PLAN, World, run
from waveguard.rollout.engine import KilledError
from waveguard.rollout.eventlog import EventLog, fold
from waveguard.rollout.plan import GateSpec

THREE_FAILURES = PLAN.model_copy(update={"gates": [GateSpec(kind="apiserver_p99_latency", failures_to_halt=3)]})
CASES = {
    "incident": (PLAN, frozenset({"prod-small"})),
    "completing": (PLAN, frozenset()),
    "incident-three-failures": (THREE_FAILURES, frozenset({"prod-small"})),
}
#: Commits of each uninterrupted rollout (= kill points), pinned so a change to the engine's
#: writes is seen here; 70 kill points on the fakes, 29 on the simulator.
KILL_POINTS = {"incident": 21, "completing": 26, "incident-three-failures": 23}
KILL_POINTS_SIMULATED = 29


def outcome(log: EventLog, world: World | None = None) -> tuple:
    """What must not differ between a run and its killed-and-resumed twin."""
    events = log.events()
    state = fold(events)
    of = {kind: [e for e in events if e.kind == kind] for kind in ("applied", "halted", "gate", "rolled_back")}
    final = (state.status, sorted(state.shares.items()), sorted(state.passed_waves),
             sorted(world.shares.items()) if world else None,
             state.halt and (state.halt["t"], state.halt["wave"], state.halt.get("gate"), state.halt.get("cluster_failed")))
    return (final,
            Counter((e.t, e.wave, e.cluster, e.data["share"]) for e in of["applied"]),
            Counter((e.t, e.wave, e.data.get("gate"), e.data.get("cluster_failed")) for e in of["halted"]),
            Counter((e.t, e.wave, e.cluster, e.data["gate"], e.data["status"], e.data["value"],
                     e.data["before_apply"]) for e in of["gate"]),
            Counter((e.t, e.cluster) for e in of["rolled_back"]))


def kill_before_write(point: int):
    writes = {"n": 0}

    def fault() -> None:
        writes["n"] += 1
        if writes["n"] == point:
            raise KilledError()
    return fault


@pytest.mark.parametrize("case", sorted(CASES))
def test_killed_after_every_commit_resume_ends_exactly_as_the_uninterrupted_run(tmp_path, case):
    plan, overloads = CASES[case]
    writes = {"n": 0}
    world = World(overloads=overloads)
    _, log = run(tmp_path / "reference.db", plan, world, fault=lambda: writes.__setitem__("n", writes["n"] + 1))
    reference = outcome(log, world)
    assert writes["n"] == KILL_POINTS[case]
    gates = reference[3]
    assert sum(gates.values()) == len(gates), "the uninterrupted run logged a gate result twice"
    for point in range(1, writes["n"] + 1):  # before write `point`: after point - 1 commits
        world = World(overloads=overloads)
        path = tmp_path / f"killed-{point}.db"
        killed, _ = run(path, plan, world, fault=kill_before_write(point))
        assert killed is None, f"kill point {point} was not reached"
        assert len(EventLog(path).events()) < len(log.events())
        _, resumed = run(path, plan, world)
        assert outcome(resumed, world) == reference, f"killed before commit {point} of {case}"


def test_a_kill_between_an_evaluation_and_its_halt_is_decided_on_resume(tmp_path):
    """The third failed evaluation is logged, the process dies before `halted`: the resumed
    engine halts at that evaluation's time without evaluating again."""
    world = World(overloads=frozenset({"staging"}))
    _, reference = run(tmp_path / "reference.db", THREE_FAILURES, world)
    halted_at = next(e for e in reference.events() if e.kind == "halted")

    def dies_before_the_halt() -> None:
        events = EventLog(tmp_path / "s.db").events()
        failed = [e for e in events if e.kind == "gate" and e.data["status"] == "fail"]
        if len(failed) == 3 and events[-1].kind == "gate":
            raise KilledError()

    world = World(overloads=frozenset({"staging"}))
    killed, _ = run(tmp_path / "s.db", THREE_FAILURES, world, fault=dies_before_the_halt)
    assert killed is None
    log = EventLog(tmp_path / "s.db")
    assert log.events()[-1].kind == "gate" and fold(log.events()).undecided
    _, log = run(tmp_path / "s.db", THREE_FAILURES, world)
    halted = next(e for e in log.events() if e.kind == "halted")
    assert halted.t == halted_at.t
    assert len([e for e in log.events() if e.kind == "gate" and e.data["status"] == "fail"]) == 3


def test_killed_after_every_commit_of_the_incident_on_the_simulator(tmp_path):
    """The incident with SLI gates on the real simulator (a fresh one per process, rebuilt from
    the log's transitions): it reaches production, a gate fails, everything rolls back."""
    plan = simulated.small_plan(gates=simulated.SLI_GATES)
    reference, writes = killed_before_every_write_on_the_simulator(tmp_path, plan, outcome)
    assert reference[0][0] == "rolled_back" and writes == KILL_POINTS_SIMULATED


def killed_before_every_write_on_the_simulator(tmp_path, plan, summary) -> tuple[object, int]:
    """Run ``plan`` on the simulator once uninterrupted, counting its writes, then once killed
    before each write and resumed; assert every resumed run's ``summary(log)`` equals the
    uninterrupted one's. Returns (that summary, the number of writes)."""
    writes = {"n": 0}
    _, log = simulated.run(tmp_path, plan, name="reference.db",
                           fault=lambda: writes.__setitem__("n", writes["n"] + 1))
    reference = summary(log)
    for point in range(1, writes["n"] + 1):
        name = f"killed-{point}.db"
        killed, _ = simulated.run(tmp_path, plan, name=name, fault=kill_before_write(point))
        assert killed is None, f"kill point {point} was not reached"
        _, resumed = simulated.run(tmp_path, plan, name=name)
        assert summary(resumed) == reference, f"killed before commit {point} on the simulator"
    return reference, writes["n"]
