"""Benchmark the fleet simulator (issue 3). Targets on the 2-core development machine:

* 100 clusters, 250,000 nodes in all, 6 simulated hours at 1 s steps: ≤ 10 s wall, ≤ 2 GiB RSS;
* the built-in ``incident-2024-12-11`` scenario: ≤ 3 s wall.

    python benchmarks/bench_sim.py [--workers N]

Each case runs in its own subprocess so that its peak RSS is its own. "simulate" is the wall
time of :func:`waveguard.sim.simulate` (building, stepping, recording every series every step);
"process" adds the interpreter start, imports and reading the scenario. Peak RSS is the largest
of the case's processes (with workers, each worker holds its shard's series and the parent the
merged ones). Also printed: CPU seconds, and the load average, since other work on the
machine slows every figure.
"""

from __future__ import annotations

import argparse
import json
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
sizes = np.geomspace(200, 7500, 100)
sizes = np.floor(sizes * 250_000 / sizes.sum()).astype(int)
sizes[-1] += 250_000 - sizes.sum()
scenario = scenario_from_data({
    "name": "bench-100-clusters", "duration_s": 6 * 3600, "step_s": 1, "seed": 1,
    "fleet": {"clusters": [{"name": f"c{i:03d}", "nodes": int(n)} for i, n in enumerate(sizes)]},
    "change": {"manifests": ["examples/incident-telemetry-node-filtered"]},
    "schedule": [{"clusters": [f"c{i:03d}" for i in range(100)], "at_s": 600, "stagger_s": 180}],
}, base_dir=ROOT)
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
t1 = time.perf_counter(); c1 = time.process_time()
result = simulate(scenario, workers={workers})
t2 = time.perf_counter(); c2 = time.process_time()
own = resource.getrusage(resource.RUSAGE_SELF)
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
nodes = sum(c.nodes for c in scenario.fleet_model.clusters)
print(json.dumps({{
    "clusters": len(scenario.fleet_model.clusters), "nodes": nodes, "steps": len(result.times),
    "simulate_s": t2 - t1, "setup_s": t1 - t0,
    "cpu_s": (c2 - c1) + kids.ru_utime + kids.ru_stime,
    "peak_rss_mib": max(own.ru_maxrss, kids.ru_maxrss) / 1024,
    "parent_rss_mib": own.ru_maxrss / 1024, "worker_rss_mib": kids.ru_maxrss / 1024,
}}))
"""


def run_case(name: str, setup: str, workers: int | None) -> dict:
    code = RUN.format(root=str(ROOT), setup=setup, workers=workers)
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
    args = parser.parse_args(argv)
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    rows = [
        (run_case("100 clusters / 250,000 nodes / 6 h at 1 s", FLEET_CASE, args.workers), 10.0, 2048.0),
        (run_case("incident-2024-12-11 (built-in)", INCIDENT_CASE, args.workers), 3.0, 2048.0),
    ]
    ok = True
    for fig, wall_target, rss_target in rows:
        good = fig["simulate_s"] <= wall_target and fig["peak_rss_mib"] <= rss_target
        ok &= good
        print(f"{fig['case']}: {fig['clusters']} clusters, {fig['nodes']:,} nodes, {fig['steps']:,} steps")
        print(f"    simulate {fig['simulate_s']:.2f} s wall (target ≤ {wall_target:g} s), "
              f"process {fig['process_s']:.2f} s, CPU {fig['cpu_s']:.2f} s; "
              f"peak RSS {fig['peak_rss_mib']:.0f} MiB (parent {fig['parent_rss_mib']:.0f}, largest worker "
              f"{fig['worker_rss_mib']:.0f}; target ≤ {rss_target:.0f} MiB)"
              f"  {'ok' if good else 'OVER'}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
