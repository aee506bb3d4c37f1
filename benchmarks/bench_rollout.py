"""Benchmark: the demo's wall time (target ≤ 10 s), one evaluation of every gate of the planned
rollout across a 1,000-cluster fleet (target ≤ 0.5 s), and the guard's own queries per cluster
per minute (constant in cluster size).

    python benchmarks/bench_rollout.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHANGE = str(ROOT / "examples" / "incident-telemetry")


class CountingSignals:
    """Wraps a Signals source and counts what a gate asks per cluster."""

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, 0

    def __getattr__(self, name):
        method = getattr(self.inner, name)

        def counted(*args, **kwargs):
            self.calls += 1
            return method(*args, **kwargs)

        return counted


def bench_demo() -> float:
    from waveguard.demo import run_demo

    t = time.perf_counter()
    run_demo()
    return time.perf_counter() - t


def bench_gates(n_clusters: int = 1000) -> tuple[float, float, dict[int, float]]:
    """(seconds for one evaluation of all gates over the fleet, of which the projection,
    queries per cluster per minute by cluster size)."""
    from waveguard.analysis import build_profiles, load_change
    from waveguard.model.fleet import Cluster, Fleet
    from waveguard.rollout.gates import evaluate, evaluate_projection
    from waveguard.rollout.plan import propose_plan
    from waveguard.rollout.simtarget import SimTarget
    from waveguard.sim.options import SimulatorOptions

    sizes = [50 + (i * 7451) % 7500 for i in range(n_clusters)]
    fleet = Fleet(clusters=[Cluster(name=f"c{i:04d}", labels={"env": "prod"}, nodes=n) for i, n in enumerate(sizes)])
    profiles = build_profiles(load_change([CHANGE]))
    plan = propose_plan(CHANGE, fleet, per_node=True)
    target = SimTarget(fleet, profiles, SimulatorOptions(seed=1, expected_steps=120))
    for c in fleet.clusters:
        target.apply(c.name, 0.01)
    target.advance(60)
    per_cluster = [g for g in plan.gates if g.kind != "projection"]
    projection = next(g for g in plan.gates if g.kind == "projection")

    t = time.perf_counter()
    signals = target.signals(plan.gate_interval_s)
    results = [evaluate(g, signals, c.name) for g in per_cluster for c in fleet.clusters]
    t_proj = time.perf_counter()
    results += evaluate_projection(projection, profiles, fleet.clusters, {c.name: 0.1 for c in fleet.clusters})
    end = time.perf_counter()
    assert len(results) == len(plan.gates) * n_clusters

    queries: dict[int, float] = {}
    per_minute = 60.0 / plan.gate_interval_s
    for c in (fleet.clusters[0], max(fleet.clusters, key=lambda c: c.nodes)):
        counting = CountingSignals(target.signals(plan.gate_interval_s))
        for g in per_cluster:
            evaluate(g, counting, c.name)
        queries[c.nodes] = counting.calls * per_minute
    return end - t, end - t_proj, queries


def main() -> int:
    gates_s, projection_s, queries = bench_gates()
    demo_s = bench_demo()
    print(f"demo (3 strategies + the production-traffic case, each to the scenario's end): {demo_s:.2f} s "
          f"(target ≤ 10 s)")
    print(f"one evaluation of all planned gates over 1,000 clusters: {gates_s:.3f} s (target ≤ 0.5 s), "
          f"of which the projection {projection_s:.3f} s")
    for nodes, q in sorted(queries.items()):
        print(f"guard's reads per cluster per minute at {nodes:,} nodes: {q:.0f}")
    return 0 if demo_s <= 10 and gates_s <= 0.5 and len(set(queries.values())) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
