"""Exactly once through a no-data wait: the engine killed before every commit while a gate cannot
read its signal, then resumed, ends exactly as the uninterrupted run.

The rule (issue 14, docs/rollout.md): a gate without data fails closed — the engine pauses on
its own (``paused`` with ``no_data``) and keeps evaluating every ``gate_interval_s``; it resumes
by itself when data returns and halts (then rolls back) once a gate has had no data for longer
than the plan's ``no_data_timeout_s``. That must hold across kills: a run killed during the wait
and resumed from its log ends with the same final state and the very same event stream (kinds,
times, waves, clusters, payloads) as the run never killed — no apply or rollback twice, none
lost, the timeout measured from the first no-data result, not from the restart.

The registry is left as it is (an apiserver gate with no apiserver up fails, halting at once):
the no-data signal here is a metric nobody exposes for a while (the fakes of
test_rollout_engine.py, time on a fake clock: nothing depends on the machine's speed) and, on
the simulator, the CoreDNS API client metrics it does not record (as with an unreachable
Prometheus, the gate reads nothing).
"""

from __future__ import annotations

import pytest
import yaml

from tests import test_rollout_simulated as simulated
from tests.test_rollout_engine import World, plan_of, run
from tests.test_rollout_exactly_once import kill_before_write, killed_before_every_write_on_the_simulator
from waveguard.rollout.eventlog import EventLog, fold

ETCD = "etcd_request_duration_seconds"  # what the etcd_p99_latency gate reads
GATES = ("apiserver_p99_latency", "etcd_p99_latency")
TWO_WAVES = plan_of(("staging", ["staging"], 1.0), ("prod", ["prod-small", "prod-large"], 1.0), gates=GATES)
#: The projection before each wave, with neither analysed nor measured profiles: no data.
PROJECTION = plan_of(("staging", ["staging"], 1.0), gates=("apiserver_p99_latency", "projection"))


class Outage:
    """Metrics nobody exposes while the world's clock is in [start_s, end_s) (a Prometheus down
    for a while, a scrape target gone): what :class:`World`'s ``no_data`` is asked."""

    def __init__(self, world: World, metrics: frozenset[str], start_s: float, end_s: float) -> None:
        self.world, self.metrics, self.start_s, self.end_s = world, metrics, start_s, end_s

    def __contains__(self, metric: object) -> bool:
        return metric in self.metrics and self.start_s <= self.world.t < self.end_s


def world_with_outage(start_s: float, end_s: float) -> World:
    world = World()
    world.no_data = Outage(world, frozenset({ETCD}), start_s, end_s)  # type: ignore[assignment]
    return world


#: name → (plan, a fresh world, the analysed profiles, the uninterrupted run's end, its commits).
#: The commit counts are pinned so a change to the engine's writes is seen here.
CASES = {
    # no data from the first evaluation on: paused at 30 s, halted past 600 s, rolled back
    "timeout": (TWO_WAVES, lambda: world_with_outage(0.0, float("inf")), None, "rolled_back", 31),
    # data comes back at 300 s, after the bake's end (120 s): resumed by itself, then completes
    "outage-ends": (TWO_WAVES, lambda: world_with_outage(60.0, 300.0), None, "completed", 26),
    # before the wave: the projection has no profile to cost (none analysed, nothing measured)
    "projection": (PROJECTION, World, [], "rolled_back", 27),
}


def stream(log: EventLog) -> list[tuple]:
    """Every event as it must be in both runs (the sequence number and wall time aside)."""
    return [(e.kind, e.t, e.wave, e.cluster, e.data) for e in log.events()]


@pytest.mark.parametrize("case", sorted(CASES))
def test_killed_before_every_commit_of_a_no_data_wait_resume_ends_as_the_uninterrupted_run(tmp_path, case):
    plan, new_world, profiles, end, commits = CASES[case]
    extra = {} if profiles is None else {"profiles": profiles}
    writes = {"n": 0}
    world = new_world()
    state, log = run(tmp_path / "reference.db", plan, world,
                     fault=lambda: writes.__setitem__("n", writes["n"] + 1), **extra)
    reference, reference_shares = stream(log), dict(world.shares)
    assert state.status == end and writes["n"] == commits
    kinds = [e[0] for e in reference]
    assert kinds.count("paused") == 1 and kinds.count("halted") == (end == "rolled_back")
    assert kinds.count("resumed") == (case == "outage-ends")
    for point in range(1, commits + 1):  # before commit `point`: after point - 1 commits
        world = new_world()
        path = tmp_path / f"killed-{point}.db"
        killed, _ = run(path, plan, world, fault=kill_before_write(point), **extra)
        assert killed is None, f"kill point {point} was not reached"
        state, resumed = run(path, plan, world, **extra)
        assert (state.status, stream(resumed)) == (end, reference), f"killed before commit {point} of {case}"
        assert world.shares == reference_shares


def test_the_no_data_timeout_is_measured_from_the_first_no_data_across_restarts(tmp_path):
    """Killed and resumed several times during the wait (each restart later on the clock, as a
    guard down for a while): the halt still comes at the first no-data result + the timeout."""
    world = world_with_outage(0.0, float("inf"))
    # killed between the first no-data evaluation and its pause, then twice in the wait
    for point, paused in ((6, False), (5, True), (4, True)):
        killed, _ = run(tmp_path / "s.db", TWO_WAVES, world, fault=kill_before_write(point))
        assert killed is None
        left = fold(EventLog(tmp_path / "s.db").events())
        assert left.paused_for_no_data == paused and left.undecided and left.halt is None
        world.t += 45.0  # the guard was down 45 s
    state, log = run(tmp_path / "s.db", TWO_WAVES, world)
    first = next(e for e in log.events() if e.kind == "gate" and e.data["status"] == "no-data")
    assert state.status == "rolled_back" and "no_data_timeout_s 600" in state.halt["reason"]
    assert TWO_WAVES.no_data_timeout_s < state.halt["t"] - first.t <= (
        TWO_WAVES.no_data_timeout_s + TWO_WAVES.gate_interval_s)
    assert [e.kind for e in log.events()].count("paused") == 1


def test_killed_before_every_commit_of_a_no_data_wait_on_the_simulator(tmp_path):
    """The simulator records no CoreDNS API client metrics: that gate reads nothing, the rollout
    pauses in staging and halts past the (shortened) timeout. The simulator is rebuilt from the
    log's transitions in every process."""
    plan = simulated.small_plan(bake_s=60.0, gates=("apiserver_p99_latency", "coredns_api_errors"))
    plan = plan.model_copy(update={"no_data_timeout_s": 120.0})
    (status, reference), writes = killed_before_every_write_on_the_simulator(
        tmp_path, plan, lambda log: (fold(log.events()).status, stream(log)))
    assert status == "rolled_back" and [e[0] for e in reference].count("paused") == 1
    assert writes == 15  # pinned: paused at 30 s, halted at 180 s (past 30 + 120 s), rolled back


def test_rollout_resume_after_a_kill_in_a_no_data_wait_continues_the_wait(runner, tmp_path, monkeypatch):
    """`waveguard rollout start` killed during the wait (the engine's write raises as kill -9
    would stop it; the lease is released as a dead PID's is taken over), then `rollout resume`:
    the resumed engine goes on waiting — `resume` does not lift the engine's own no-data pause
    (that would log a `resumed` and a second `paused` the uninterrupted run never had) — and
    the log ends exactly as `rollout start` left the uninterrupted one."""
    from waveguard.cli.main import app
    from waveguard.rollout.engine import Engine, KilledError

    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("clusters:\n  - {name: staging, labels: {env: staging}, nodes: 50}\n"
                     "  - {name: prod, labels: {env: prod}, nodes: 400}\n")
    plan = tmp_path / "plan.yaml"
    assert runner.invoke(app, ["plan", simulated.CHANGE, "--fleet", str(fleet), "--output-file", str(plan)]).exit_code == 0
    data = yaml.safe_load(plan.read_text())
    data["waves"] = [dict(w, bake_s=60) for w in data["waves"]]
    data["gates"] = [{"kind": "apiserver_p99_latency"}, {"kind": "coredns_api_errors"}]  # no data on the simulator
    data["no_data_timeout_s"] = 120
    plan.write_text(yaml.safe_dump(data))
    start = ["rollout", "start", str(plan), "--fleet", str(fleet), "--force", "--state"]
    assert runner.invoke(app, [*start, str(tmp_path / "reference.db")]).exit_code == 1  # rolled back
    reference = stream(EventLog(tmp_path / "reference.db"))[1:]  # `started` names its own state file
    paused_at = [e[0] for e in reference].index("paused") + 1  # its index among the events

    write = Engine._write
    for point in (paused_at + 1, paused_at + 3):  # the pause is logged: killed before a later commit
        calls = {"n": 0}

        def killed(self, rows, point=point, calls=calls):
            calls["n"] += 1
            if calls["n"] == point:
                raise KilledError()
            return write(self, rows)

        state = tmp_path / f"killed-{point}.db"
        with monkeypatch.context() as m:
            m.setattr(Engine, "_write", killed)
            assert isinstance(runner.invoke(app, [*start, str(state)]).exception, KilledError)
        assert fold(EventLog(state).events()).paused_for_no_data
        result = runner.invoke(app, ["rollout", "resume", "--state", str(state)])
        assert result.exit_code == 1, result.output
        assert stream(EventLog(state))[1:] == reference, f"killed before commit {point}"
