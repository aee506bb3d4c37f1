"""The fleet simulator: watch what a change does to a fleet, second by second, with no cluster.

Public API:

* :func:`load_scenario` / :func:`load_builtin` / :func:`builtin_names` — scenario files;
* :func:`simulate` (scenario → :class:`SimulationResult`);
* :class:`FleetSimulator` — step-by-step control for the rollout engine: ``set_rollout(cluster,
  share)``, ``step(n_seconds)``, ``metrics()`` (latest values under real metric names),
  ``restart_apiserver(cluster, replica)``, ``result()``;
* :data:`METRICS` — the recorded metric names (domain.md §5).
"""

from waveguard.sim.engine import FleetSimulator
from waveguard.sim.metrics import METRICS, Snapshot
from waveguard.sim.result import ClusterSummary, SimulationResult
from waveguard.sim.run import build_simulator, simulate
from waveguard.sim.scenario import Scenario, builtin_names, load_builtin, load_scenario, scenario_from_data

__all__ = [
    "METRICS", "ClusterSummary", "FleetSimulator", "Scenario", "SimulationResult", "Snapshot", "build_simulator",
    "builtin_names", "load_builtin", "load_scenario", "scenario_from_data", "simulate",
]
