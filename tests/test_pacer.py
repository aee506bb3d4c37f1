"""The wall-clock pacer, driven by a fake clock: no test depends on the machine's speed."""

from __future__ import annotations

import pytest

from waveguard.sim.options import SimulatorOptions
from waveguard.sim.pacer import SLICE_WALL_S, Pacer


class FakeSim:
    """A simulator whose every step costs ``step_wall_s`` wall seconds on the fake clock."""

    def __init__(self, clock: FakeClock, step_wall_s: float = 0.0) -> None:
        self.time_s = 0.0
        self.clock, self.step_wall_s = clock, step_wall_s
        self.steps: list[float] = []

    def advance(self, seconds: float) -> None:
        self.steps.append(seconds)
        self.time_s += seconds
        self.clock.now += self.step_wall_s


class FakeClock:
    """Wall time that only moves when slept on (or when the fake simulator works)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def _pacer(sim: FakeSim, clock: FakeClock, **kw) -> Pacer:
    return Pacer(sim.advance, lambda: sim.time_s, clock=clock, sleep=clock.sleep, **kw)


def test_simulated_time_follows_wall_time_times_the_scale():
    clock = FakeClock()
    sim = FakeSim(clock)
    published: list[float] = []
    pacer = _pacer(sim, clock, time_scale=10.0, min_slice_s=0.5, on_slice=lambda: published.append(sim.time_s))
    pacer.run_until(30.0)
    assert sim.time_s == pytest.approx(30.0)
    assert clock.now - 1000.0 == pytest.approx(3.0)  # 30 simulated s at 10× take 3 wall s
    assert sim.steps == pytest.approx([10.0 * SLICE_WALL_S] * 30)  # one slice per 0.1 wall s
    assert published == pytest.approx([1.0 * (i + 1) for i in range(30)])  # the exporter sees every slice


def test_a_slice_is_never_shorter_than_the_simulators_step_and_the_last_one_stops_on_time():
    clock = FakeClock()
    sim = FakeSim(clock)
    _pacer(sim, clock, time_scale=1.0, min_slice_s=2.0).run_until(5.0)
    assert sim.steps == pytest.approx([2.0, 2.0, 1.0])
    assert clock.now - 1000.0 == pytest.approx(5.0)


def test_a_slow_simulator_catches_up_without_sleeping():
    clock = FakeClock()
    sim = FakeSim(clock, step_wall_s=0.2)  # each 0.1-wall-s slice takes 0.2 wall s to compute
    _pacer(sim, clock, time_scale=1.0).run_until(1.0)
    assert clock.sleeps == []
    assert sim.time_s == pytest.approx(1.0)


def test_the_anchor_carries_over_calls_and_a_fall_behind_is_caught_up_or_dropped():
    clock = FakeClock()
    sim = FakeSim(clock)
    pacer = _pacer(sim, clock, time_scale=1.0)
    pacer.run_until(1.0)
    clock.now += 0.5  # half a second spent elsewhere (gate evaluations)
    pacer.run_until(2.0)
    assert clock.now - 1000.0 == pytest.approx(2.0)  # caught up: the schedule holds
    assert pacer.anchor == (1000.0, 0.0)

    clock.now += 5.0  # far behind: with max_lag_s the pacer re-anchors instead of bursting
    limited = _pacer(sim, clock, time_scale=1.0, max_lag_s=1.0, anchor=pacer.anchor)
    limited.run_until(3.0)
    assert limited.anchor is not None and limited.anchor[1] == pytest.approx(2.0 + SLICE_WALL_S)  # after the first slice
    limited.run_until(4.0)
    assert clock.sleeps[-1] == pytest.approx(SLICE_WALL_S)  # back to sleeping on the new anchor


def test_a_scale_that_is_not_positive_is_refused():
    with pytest.raises(ValueError):
        Pacer(lambda s: None, lambda: 0.0, time_scale=0.0)


def test_the_paced_target_steps_through_the_same_pacer_on_its_clock():
    """The paced rollout target uses the pacer with the clock and sleep it was given: 60
    simulated seconds at 20× take 3 wall seconds of the fake clock, in 0.1-wall-s slices."""
    from waveguard.model.fleet import Cluster, Fleet
    from waveguard.rollout.paced import PacedSimTarget
    from waveguard.rollout.simtarget import SimTarget
    from waveguard.signals.prometheus import PrometheusConfig

    clock = FakeClock()
    fleet = Fleet(clusters=[Cluster(name="c", nodes=100)])
    config = PrometheusConfig(url="http://127.0.0.1:9", scrape_interval_s=1.0, time_scale=20.0)
    target = PacedSimTarget(SimTarget(fleet, [], SimulatorOptions(seed=1)), config, clock=clock, sleep=clock.sleep, log=lambda m: None)
    try:
        start = target.inner.now()
        target.advance(60.0)
        assert target.inner.now() - start == pytest.approx(60.0)
        assert clock.now - 1000.0 == pytest.approx(3.0)
        assert len(clock.sleeps) == 30
    finally:
        target.close()
