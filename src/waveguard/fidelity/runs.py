"""Run the fidelity scenarios once each and read the figures the cases compare.

The scenarios are shipped YAML (``src/waveguard/data/fidelity/``) holding only the setup each
public source describes; the incident is the simulator's built-in ``incident-2024-12-11``.
Every figure is read from the simulator's recorded series (or, for request counts, from
:meth:`FleetSimulator.relists_sent`), never computed on the side.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from waveguard.model.errors import InputError
from waveguard.sim import FleetSimulator, SimulationResult, build_simulator, load_builtin, load_scenario
from waveguard.sim.run import n_steps
from waveguard.sim.scenario import Scenario

FIDELITY_DIR = "data/fidelity"
#: The incident case runs the simulator's own built-in scenario.
INCIDENT = "incident-2024-12-11"


@dataclass
class Run:
    """One simulated scenario: its definition, the simulator after the last step, the result."""

    scenario: Scenario
    sim: FleetSimulator
    result: SimulationResult

    @property
    def cluster(self) -> str:
        """The scenario's first cluster (the fidelity scenarios have one)."""
        return self.result.clusters[0]


def scenario_names() -> list[str]:
    """Names of the shipped fidelity scenarios, plus the built-in incident."""
    folder = resources.files("waveguard").joinpath(*FIDELITY_DIR.split("/"))
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml")) + [INCIDENT]


def scenario_path(name: str) -> Path:
    """Path of a shipped fidelity scenario. Raises InputError for an unknown name."""
    if name == INCIDENT or name not in scenario_names():
        raise InputError(f"fidelity scenario {name}", "no fidelity scenario of that name",
                         hint=f"one of: {', '.join(scenario_names())}")
    return Path(str(resources.files("waveguard").joinpath(*FIDELITY_DIR.split("/"), f"{name}.yaml")))


def load(name: str) -> Scenario:
    """The scenario ``name`` (a shipped fidelity scenario or the built-in incident)."""
    return load_builtin(INCIDENT) if name == INCIDENT else load_scenario(scenario_path(name))


def run(name: str) -> Run:
    """Simulate scenario ``name`` to its end (single process, its own seed)."""
    scenario = load(name)
    sim = build_simulator(scenario)
    sim.step(n_steps(scenario) * scenario.step_s)
    return Run(scenario, sim, sim.result(scenario.name))


class Runs:
    """Each scenario simulated at most once, on first use."""

    def __init__(self) -> None:
        self._runs: dict[str, Run] = {}

    def __getitem__(self, name: str) -> Run:
        if name not in self._runs:
            self._runs[name] = run(name)
        return self._runs[name]

    def done(self) -> dict[str, Run]:
        return dict(self._runs)


# --- figures read from a run ---------------------------------------------------------------------

def memory_rise_bytes(r: Run, before_s: float) -> float:
    """Peak resident memory of the fullest apiserver replica over the run minus its peak before
    ``before_s`` (the change): what a `process_resident_memory_bytes` graph shows rising."""
    mem = r.result.series("process_resident_memory_bytes", r.cluster)
    before = mem[: r.result.at(before_s)]
    return float(mem.max() - (before.max() if len(before) else 0.0))


def lists_sent(r: Run) -> float:
    """Start-LIST requests the change's clients sent that reached an apiserver (audit-log count):
    (re)list bundles × the start LISTs in each."""
    profile = r.scenario.profiles[0]
    per_bundle = sum(1 for rc in profile.classes if rc.verb == "list" and rc.trigger == "start")
    return r.sim.relists_sent(r.cluster, profile.client) * per_bundle


def minutes_unavailable(r: Run) -> float:
    """Minutes with no apiserver replica up (`up{job="apiserver"}` sums to 0): kubectl fails."""
    up = r.result.series("up", r.cluster, job="apiserver")
    return float((up < 0.5).sum() * r.result.step_s / 60.0)


def oom_kills(r: Run) -> int:
    return int(r.result.summary()[0].oom_kills)


def minutes_saturated_at_end(r: Run, window_s: float = 600.0) -> float:
    """Minutes of the run's last ``window_s`` in which the control plane was saturated (the one
    definition, :meth:`SimulationResult.saturated`): 0 means it recovered before the window."""
    mask = r.result.saturated(r.cluster)
    tail = mask[r.result.at(float(r.result.times[-1]) - window_s + r.result.step_s):]
    return float(tail.sum() * r.result.step_s / 60.0)


def row_of(r: Run, cluster: str):
    """The summary row of ``cluster``."""
    return next(s for s in r.result.summary() if s.name == cluster)


def largest_cluster(r: Run) -> str:
    return max(r.result.summary(), key=lambda s: s.nodes).name

