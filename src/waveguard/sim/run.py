"""Run a scenario: build the simulator, schedule the rollout and events, step to the end."""

from __future__ import annotations

import math
from typing import Callable

from waveguard.sim.engine import FleetSimulator
from waveguard.sim.result import SimulationResult
from waveguard.sim.scenario import Scenario

#: progress(done_steps, total_steps)
Progress = Callable[[int, int], None]


def build_simulator(scenario: Scenario, seed: int | None = None) -> FleetSimulator:
    """A :class:`FleetSimulator` for ``scenario`` with its schedule and events queued."""
    change = scenario.change
    steps = int(math.ceil(scenario.duration_s / scenario.step_s))
    sim = FleetSimulator(
        scenario.fleet_model, scenario.profiles, apf=scenario.apf_config,
        seed=scenario.seed if seed is None else seed, step_s=scenario.step_s, dns_mode=scenario.dns.mode,
        baseline_backoff=scenario.baseline.backoff, change_backoff=change.backoff if change else True,
        initial_share=change.initial_share if change else 0.0, expected_steps=steps,
    )
    for cluster, (start, share, pods_per_s) in scenario.start_times().items():
        sim.at(start, lambda c=cluster, s=share, p=pods_per_s: sim.set_rollout(c, s, p))
    for ev in scenario.events:
        target = ev.restart_apiserver
        sim.at(ev.at_s, lambda c=target.cluster, r=target.replica: sim.restart_apiserver(c, r))
    return sim


def simulate(scenario: Scenario, seed: int | None = None, progress: Progress | None = None) -> SimulationResult:
    """Simulate ``scenario`` for its duration; ``seed`` overrides the scenario's seed.

    ``progress(done, total)`` is called every ~1 % of the steps. Same seed, same result."""
    sim = build_simulator(scenario, seed)
    total = int(math.ceil(scenario.duration_s / scenario.step_s))
    every = max(1, total // 100)
    for i in range(total):
        sim.step()
        if progress is not None and (i + 1) % every == 0:
            progress(i + 1, total)
    if progress is not None:
        progress(total, total)
    return sim.result(scenario.name)
