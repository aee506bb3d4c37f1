"""The way back (issue 6): the incident's rollback, sent without and with break-glass isolation.

On the largest production clusters, an operator with the emergency credential sends the
rollback when the saturation alert fires; once with the scenario's own APF objects (the
Kubernetes defaults), once with those plus the isolation ``waveguard breakglass generate``
writes for the change.
"""

from __future__ import annotations

from waveguard.analysis import load_change
from waveguard.demo.strategies import DEFAULT_SCENARIO
from waveguard.model.apf import APFConfig
from waveguard.model.errors import InputError
from waveguard.model.fleet import Fleet
from waveguard.report.demo_results import BreakglassCase, BreakglassResult, RollbackOutcome
from waveguard.rollout.plan import is_staging
from waveguard.sim import load_builtin
from waveguard.sim.result import SATURATION_SUSTAIN_S, SimulationResult
from waveguard.sim.rollback import RollbackRecord
from waveguard.sim.scenario import Scenario, find_project_path

#: The rollback is sent on this many of the largest production clusters (policy: those the
#: incident takes down first and hardest).
BREAKGLASS_CLUSTERS = 3
#: Who sends it: an operator with the emergency credential (a member of the break-glass group).
BREAKGLASS_IDENTITY = "breakglass"
#: The two runs: the scenario's own APF objects (the Kubernetes defaults), and those plus the
#: isolation ``waveguard breakglass generate`` writes for the change.
BREAKGLASS_CASES = ("default", "isolated")


def breakglass_targets(fleet: Fleet, n: int = BREAKGLASS_CLUSTERS) -> list[str]:
    """The ``n`` largest production clusters, largest first."""
    production = sorted((c for c in fleet.clusters if not is_staging(c)), key=lambda c: -c.nodes)
    return [c.name for c in production[:n]]


def breakglass_scenario(scenario_name: str = DEFAULT_SCENARIO, kubernetes_version: str | None = None) -> Scenario:
    """The built-in ``scenario_name``; with ``kubernetes_version`` (``"1.31"``) every cluster of
    its fleet runs that version instead (the same incident otherwise)."""
    scenario = load_builtin(scenario_name)
    if kubernetes_version is None:
        return scenario
    fleet = scenario.fleet_model
    clusters = [c.model_copy(update={"kubernetes_version": kubernetes_version}) for c in fleet.clusters]
    copy = scenario.model_copy()
    copy._fleet = fleet.model_copy(update={"clusters": clusters})
    return copy


def simulate_breakglass(isolated: bool, scenario_name: str = DEFAULT_SCENARIO, seed: int | None = None,
                        identity: str = BREAKGLASS_IDENTITY, kubernetes_version: str | None = None) -> SimulationResult:
    """The built-in ``scenario_name`` (its schedule: the ``none`` strategy's rollout; its
    clusters at ``kubernetes_version`` if given: :func:`breakglass_scenario`) with the
    scenario's APF objects, or — ``isolated`` — with the isolation ``generate_isolation`` makes
    for its change installed; on each of the :func:`breakglass_targets` the rollback starts,
    sent as ``identity``, when the saturation alert fires (the summary's rule: symptoms for
    60 s, as an operator would see it). Raises InputError when the change cannot be read."""
    from waveguard.sim.run import build_simulator

    scenario = breakglass_scenario(scenario_name, kubernetes_version)
    apf = isolation_apf(scenario) if isolated else None
    sim = build_simulator(scenario, seed, apf=apf, rollback_as=[identity])
    targets = breakglass_targets(scenario.fleet_model)
    first = min(scenario.start_times().get(c, (scenario.duration_s,))[0] for c in targets)
    sim.step(first)
    waiting = list(targets)
    while waiting and sim.time_s < scenario.duration_s:
        sim.step()
        result = sim.result()
        for cluster in list(waiting):
            saturated = result.saturated_at(cluster)
            if saturated is not None and sim.time_s >= saturated + SATURATION_SUSTAIN_S:
                sim.rollback(cluster, identity)
                waiting.remove(cluster)
    sim.step(max(0.0, scenario.duration_s - sim.time_s))
    return sim.result("isolated" if isolated else "default")


def run_breakglass_case(isolated: bool, scenario_name: str = DEFAULT_SCENARIO, seed: int | None = None,
                        identity: str = BREAKGLASS_IDENTITY) -> BreakglassCase:
    """:func:`simulate_breakglass`, summarised: each rollback's outcome and the largest target
    cluster's timeline."""
    result = simulate_breakglass(isolated, scenario_name, seed, identity)
    outcomes = [_rollback_outcome(result, r) for r in result.rollbacks]
    largest = breakglass_targets(load_builtin(scenario_name).fleet_model)[0]
    timeline = {"t": result.times.tolist(),
                "up": result.series("up", largest, job="apiserver").tolist(),
                "pending": result.series("waveguard_sim_rollback_pending_requests", largest).tolist(),
                "rollout_share": result.series("waveguard_sim_rollout_share", largest).tolist(),
                "cluster": [largest]}
    return BreakglassCase(name="with isolation" if isolated else "without isolation", isolated=isolated,
                          rollbacks=outcomes, timeline=timeline)


def isolation_apf(scenario: Scenario) -> APFConfig:
    """The scenario's change's APF configuration with ``waveguard breakglass generate``'s
    isolation installed (:attr:`Isolation.apf`). Raises InputError for an unreadable change."""
    from waveguard.breakglass import generate_isolation

    raw = scenario.change.manifests[0] if scenario.change and scenario.change.manifests else None
    if raw is None:
        raise InputError(scenario.source, "the scenario's change has no manifests to generate the isolation from",
                         hint="give change: {manifests: PATH}")
    path = find_project_path(raw)
    return generate_isolation(load_change([str(path or raw)]), source=raw).apf


def _rollback_outcome(result: SimulationResult, record: RollbackRecord) -> RollbackOutcome:
    rows = {s.name: s for s in result.summary()}
    row = rows[record.cluster]
    return RollbackOutcome(
        cluster=record.cluster, nodes=row.nodes, priority_level=", ".join(record.priority_levels),
        saturated_at_s=row.saturated_at_s, started_at_s=record.started_at_s, completed_at_s=record.completed_at_s,
        duration_s=record.duration_s, rejected=record.rejected, failed=record.failed,
        queue_wait_s=record.queue_wait_s, backoff_s=record.backoff_s,
        recovered_at_s=result.recovered_at(record.cluster, record.started_at_s), oom_kills=row.oom_kills,
        etcd_timeouts=record.etcd_timeouts, leaderless_s=record.leaderless_s)


def breakglass_result(scenario_name: str, cases: list[BreakglassCase]) -> BreakglassResult:
    """The two ``cases`` of :func:`run_breakglass_case` on the built-in ``scenario_name``, with its change."""
    scenario = load_builtin(scenario_name)
    change = scenario.change.manifests[0] if scenario.change and scenario.change.manifests else "change"
    return BreakglassResult(scenario=scenario_name, change=change, identity=BREAKGLASS_IDENTITY, cases=cases)
