"""One sample of a risk sweep: draw a world, roll the plan out on it, say what happened.

A sample is a pure function of (:class:`SweepInputs`, its index): its random stream is
``SeedSequence([seed, index])``, so the same seed gives the same answer whatever runs the
samples (a process pool, Ray, one process) and in whatever order.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field

import numpy as np

from waveguard.model.fleet import Fleet
from waveguard.model.requests import RequestProfile
from waveguard.risk.assumptions import Uncertainty, World, draw_world
from waveguard.rollout.engine import Engine
from waveguard.rollout.eventlog import EventLog
from waveguard.rollout.plan import Plan, is_staging
from waveguard.rollout.simtarget import SimTarget
from waveguard.sim.options import SimulatorOptions


@dataclass(frozen=True)
class SweepInputs:
    """What every sample shares (pickled once per worker). ``fleet``: the nominal fleet the plan,
    the gates and the projection see; ``analysed``: the change's profiles as ``analyse`` built
    them (the projection's input); ``profile_sets``: the change's cost to draw from (the
    analysed profiles, or several measured canaries); ``step_s``: simulator step, seconds."""

    plan: Plan
    fleet: Fleet
    analysed: list[RequestProfile]
    profile_sets: list[list[RequestProfile]]
    uncertainty: Uncertainty
    seed: int
    step_s: float = 1.0

    @property
    def horizon_s(self) -> float:
        """Simulated seconds per sample: every wave's bake, then the longest bake once more, so a
        cluster reached in the last wave is watched for a whole bake after it."""
        bakes = [float(w.bake_s) for w in self.plan.waves]
        return sum(bakes) + max(bakes)

    @property
    def production_weights(self) -> np.ndarray:
        """Per cluster of the nominal fleet: its share of production nodes (staging: 0)."""
        nodes = np.array([0.0 if is_staging(c) else float(c.nodes) for c in self.fleet.clusters])
        return nodes / nodes.sum() if nodes.sum() > 0 else nodes


@dataclass(frozen=True)
class SampleOutcome:
    """What one sampled rollout did. ``saturated``: production control planes that saturated
    after the change reached them; ``baseline_saturated``: production control planes saturated
    without the change (a world today's healthy fleet rules out); ``blast_radius_pct``: the
    largest share of production nodes that ran the change at once, percent; ``halted_by``: the
    gate that halted the rollout (None: it completed)."""

    index: int
    factors: dict[str, float]
    saturated: int
    baseline_saturated: int
    blast_radius_pct: float
    halted_by: str | None
    halted_at_s: float | None
    reached_clusters: int
    details: dict[str, str] = field(default_factory=dict)


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The random stream of sample ``index`` of a sweep seeded ``seed``."""
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


def run_sample(inputs: SweepInputs, index: int) -> SampleOutcome:
    """Draw sample ``index``'s world and roll the plan out on it until :attr:`horizon_s`."""
    rng = sample_rng(inputs.seed, index)
    world = draw_world(rng, inputs.fleet, inputs.profile_sets, inputs.uncertainty, inputs.production_weights)
    sim_seed = int(rng.integers(2**31))
    target = _target(world, inputs, sim_seed)
    with tempfile.TemporaryDirectory() as tmp:
        log = EventLog(os.path.join(tmp, "state.db"), create=True)
        try:
            Engine(plan=inputs.plan, fleet=inputs.fleet, target=target, log=log,
                   analysed_profiles=inputs.analysed).run()
            halted = next((e for e in log.events() if e.kind == "halted"), None)
        finally:
            log.close()
    target.advance(inputs.horizon_s - target.now())
    return _outcome(index, world, target, halted)


def _target(world: World, inputs: SweepInputs, sim_seed: int) -> SimTarget:
    steps = int(inputs.horizon_s / inputs.step_s) + 2
    options = SimulatorOptions(seed=sim_seed, step_s=inputs.step_s, expected_steps=steps,
                               change_backoff=world.change_backoff)
    target = SimTarget(world.fleet, world.profiles, options)
    target.daemonset_pods_per_s = world.daemonset_pods_per_s
    return target


def _outcome(index: int, world: World, target: SimTarget, halted) -> SampleOutcome:
    result = target.sim.result(f"sample {index}")
    production = [c for c in world.fleet.clusters if not is_staging(c)]
    rows = {row.name: row for row in result.summary()}
    saturated = baseline = 0
    for cluster in production:
        row = rows[cluster.name]
        if row.saturated_at_s is None:
            continue
        if row.change_at_s is not None and row.saturated_at_s >= row.change_at_s:
            saturated += 1
        else:
            baseline += 1
    total = sum(c.nodes for c in production) or 1
    running = result.nodes_running_change([c.name for c in production])
    return SampleOutcome(
        index=index, factors=world.factors, saturated=saturated, baseline_saturated=baseline,
        blast_radius_pct=float(np.max(running, initial=0.0) / total * 100),
        halted_by=None if halted is None else str(halted.data.get("gate") or "other"),
        halted_at_s=None if halted is None else float(halted.t),
        reached_clusters=sum(rows[c.name].change_at_s is not None for c in production),
        details={} if halted is None else {"reason": str(halted.data.get("reason", ""))})
