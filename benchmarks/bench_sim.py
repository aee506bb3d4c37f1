"""Benchmark the fleet simulator (issues 3 and 17). Targets on the 2-core development machine:

* 100 clusters, 250,000 nodes in all, 6 simulated hours at 1 s steps, recorded as a report asks
  (one frame every 10 s): ≤ 5 s wall, ≤ 500 MiB RSS;
* 1,000 clusters (2.5 million nodes), 6 h at 1 s, streaming recording (only the last 10 minutes
  of 10 s frames kept, as a gate reads them): ≤ 60 s wall, ≤ 2 GiB RSS;
* the built-in ``incident-2024-12-11`` scenario, every series every step: ≤ 3 s wall;
* for comparison (no target): the 100-cluster case recording every series every step
  (``--full`` adds it; it is what the summary tables and the golden figures read).

    python benchmarks/bench_sim.py [--workers N] [--full]

Each case runs in its own subprocess so that its peak RSS is its own. "simulate" is the wall
time of building and stepping the simulator (:func:`waveguard.sim.run.build_simulator`, then
:meth:`~waveguard.sim.engine.FleetSimulator.step` to the end, recording as the case says);
"process" adds the interpreter start, imports and reading the scenario. Peak RSS is the largest
of the case's processes (with workers, each worker holds its shard's series and the parent the
merged ones). Also printed: CPU seconds, and the load average, since other work on the
machine slows every figure.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The 100-cluster fleet: sizes spread geometrically from 200 to 7,500 nodes, scaled to 250,000
#: nodes in all; the node-filtered telemetry agent rolled out cluster by cluster (one every
#: three minutes from minute 10) while the fleet runs for six hours.
FLEET_CASE = """
import numpy as np
from waveguard.sim import scenario_from_data
K = {clusters}
sizes = np.tile(np.geomspace(200, 7500, 100), K // 100)
sizes = np.floor(sizes * 2_500 * K / sizes.sum()).astype(int)
sizes[-1] += 2_500 * K - sizes.sum()
scenario = scenario_from_data({{
    "name": f"bench-{{K}}-clusters", "duration_s": 6 * 3600, "step_s": 1, "seed": 1,
    "fleet": {{"clusters": [{{"name": f"c{{i:04d}}", "nodes": int(n)}} for i, n in enumerate(sizes)]}},
    "change": {{"manifests": ["examples/incident-telemetry-node-filtered"]}},
    "schedule": [{{"clusters": [f"c{{i:04d}}" for i in range(K)], "at_s": 600, "stagger_s": 180 * 100 / K}}],
}}, base_dir=ROOT)
"""

INCIDENT_CASE = """
from waveguard.sim import load_builtin
scenario = load_builtin("incident-2024-12-11")
"""

RUN = """
import json, resource, time, os
t0 = time.perf_counter()
from pathlib import Path
ROOT = Path({root!r})
{setup}
from waveguard.sim import simulate
from waveguard.sim.phases.recording import RecordingPlan, record_with
from waveguard.sim.run import build_simulator
t1 = time.perf_counter(); c1 = time.process_time()
plan = RecordingPlan(**{plan})
if {workers} is None and plan != RecordingPlan():
    sim = build_simulator(scenario)
    record_with(sim, plan)
    sim.step(scenario.n_steps * scenario.step_s)
    result = sim.result(scenario.name)
else:
    result = simulate(scenario, workers={workers})
t2 = time.perf_counter(); c2 = time.process_time()
own = resource.getrusage(resource.RUSAGE_SELF)
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
nodes = sum(c.nodes for c in scenario.fleet_model.clusters)
print(json.dumps({{
    "clusters": len(scenario.fleet_model.clusters), "nodes": nodes, "frames": len(result.times),
    "steps": scenario.n_steps, "saturated": result.to_json()["fleet"]["saturated"],
    "simulate_s": t2 - t1, "setup_s": t1 - t0,
    "cpu_s": (c2 - c1) + kids.ru_utime + kids.ru_stime,
    "peak_rss_mib": max(own.ru_maxrss, kids.ru_maxrss) / 1024,
    "parent_rss_mib": own.ru_maxrss / 1024, "worker_rss_mib": kids.ru_maxrss / 1024,
}}))
"""


def run_case(name: str, setup: str, workers: int | None, plan: str = "") -> dict:
    """Run one case in its own interpreter; ``plan``: keyword arguments of its RecordingPlan."""
    code = RUN.format(root=str(ROOT), setup=setup, workers=workers, plan="{" + plan + "}")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    figures["process_s"] = time.perf_counter() - start
    figures["case"] = name
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=None,
                        help="processes per case (default 1; 0: one per CPU)")
    parser.add_argument("--full", action="store_true",
                        help="also run the 100-cluster case recording every series every step")
    args = parser.parse_args(argv)
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    rows = [
        (run_case("100 clusters / 250,000 nodes / 6 h at 1 s, recorded every 10 s", FLEET_CASE.format(clusters=100),
                  None, "'every_s': 10"), 5.0, 500.0),
        (run_case("1,000 clusters / 2,500,000 nodes / 6 h at 1 s, streaming (last 10 min of 10 s frames)",
                  FLEET_CASE.format(clusters=1000), None, "'every_s': 10, 'window_s': 600"), 60.0, 2048.0),
        (run_case("incident-2024-12-11 (built-in), every step", INCIDENT_CASE, args.workers), 3.0, 2048.0),
    ]
    if args.full:
        rows.append((run_case("100 clusters / 6 h, every series every step (no target)",
                              FLEET_CASE.format(clusters=100), args.workers), math.inf, math.inf))
    ok = True
    for fig, wall_target, rss_target in rows:
        good = fig["simulate_s"] <= wall_target and fig["peak_rss_mib"] <= rss_target
        ok &= good
        print(f"{fig['case']}: {fig['clusters']} clusters, {fig['nodes']:,} nodes, {fig['steps']:,} steps, "
              f"{fig['frames']:,} frames kept, {fig['saturated']} saturated")
        print(f"    simulate {fig['simulate_s']:.2f} s wall (target ≤ {wall_target:g} s), "
              f"process {fig['process_s']:.2f} s, CPU {fig['cpu_s']:.2f} s; "
              f"peak RSS {fig['peak_rss_mib']:.0f} MiB (parent {fig['parent_rss_mib']:.0f}, largest worker "
              f"{fig['worker_rss_mib']:.0f}; target ≤ {rss_target:.0f} MiB)"
              f"  {'ok' if good else 'OVER'}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
