"""Benchmark ``waveguard risk`` (issue 17): samples of the incident plan on the built-in fleet.

    python benchmarks/bench_risk.py [--samples 1000] [--skip-ray]

Prints, in one run: wall time and per-sample cost on the local process pool (every core of this
machine) and on a local Ray instance with 1 and with 2 workers (the scaling figure); Ray's
per-task overhead (a trivial remote task, round trip); whether every executor gave the same
answer; and how the sweep would scale to a 100-core Ray cluster (measured per-sample CPU cost ×
samples ÷ cores, plus the measured per-task overhead per chunk). The peer of each Ray run is the
local pool measured in the same run. Nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from waveguard.analysis import build_profiles, load_change  # noqa: E402
from waveguard.model.fleet import default_fleet  # noqa: E402
from waveguard.risk import SweepInputs, Uncertainty, run_sweep  # noqa: E402
from waveguard.risk.executors import _chunk_size  # noqa: E402
from waveguard.rollout.plan import propose_plan  # noqa: E402

CHANGE = str(ROOT / "examples" / "incident-telemetry")


def incident_inputs(seed: int) -> SweepInputs:
    fleet = default_fleet()
    analysed = build_profiles(load_change([CHANGE]))
    plan = propose_plan(CHANGE, fleet, per_node=True)
    return SweepInputs(plan=plan, fleet=fleet, analysed=analysed, profile_sets=[analysed],
                       uncertainty=Uncertainty(), seed=seed)


def cpu_s() -> float:
    """CPU seconds of this process and its finished children (the pool's workers), user + system."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(label: str, run) -> tuple[float, float, object]:
    """Run ``run()``; print and return its wall seconds, CPU seconds (this process and the
    children that finished during it) and result."""
    t0, c0 = time.perf_counter(), cpu_s()
    out = run()
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    print(f"{label:<34} {wall:8.1f} s wall, {cpu:8.1f} s CPU", flush=True)
    return wall, cpu, out


def ray_task_overhead_s(tasks: int = 200) -> float:
    """Round trip of a trivial remote task on a local 2-worker Ray instance, seconds."""
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    try:
        nothing = ray.remote(lambda: None)
        ray.get([nothing.remote() for _ in range(10)])  # warm the workers
        t0 = time.perf_counter()
        ray.get([nothing.remote() for _ in range(tasks)])
        return (time.perf_counter() - t0) / tasks
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    inputs = incident_inputs(args.seed)
    cores = os.cpu_count() or 1
    print(f"{args.samples} samples of the incident plan, built-in fleet; {cores} cores; "
          f"load average {os.getloadavg()[0]:.1f}")
    pool_wall, pool_cpu, pool = timed(f"local pool ({cores} processes)", lambda: run_sweep(inputs, args.samples))
    per_sample = pool_cpu / args.samples
    print(f"  per sample: {per_sample:.2f} s of CPU (pool CPU ÷ samples; wall × cores ÷ samples "
          f"{pool_wall * cores / args.samples:.2f} s); P(saturation) "
          f"{pool.summary.p_saturation.value:.3f} (≤ {pool.summary.p_saturation.high:.3f})")
    if args.skip_ray:
        return
    walls = {}
    for workers in (1, 2):
        walls[workers], _cpu, sweep = timed(f"ray, local, {workers} worker(s)",
                                      lambda w=workers: run_sweep(inputs, args.samples, ray_address="local",
                                                                  ray_cpus=w))
        print(f"  same answer as the pool: {sweep.outcomes == pool.outcomes}")
    print(f"  scaling 1 → 2 workers: ×{walls[1] / walls[2]:.2f} (ideal ×2.00)")
    overhead = ray_task_overhead_s()
    chunk = _chunk_size(args.samples, 100)
    projected = args.samples * per_sample / 100 + (args.samples / chunk) * overhead / 100
    print(f"ray per-task overhead: {overhead * 1000:.1f} ms")
    print(f"projected on a 100-core Ray cluster: {projected:.1f} s for {args.samples} samples "
          f"({per_sample:.2f} core-s × {args.samples} ÷ 100 cores + {args.samples // chunk} tasks × overhead)")


if __name__ == "__main__":
    main()
