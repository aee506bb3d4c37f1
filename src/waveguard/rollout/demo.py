"""The demo: replay the 11 December 2024 incident three ways on the simulator, side by side.

* ``none`` — as it happened: staging, then every production cluster, smallest first, one every
  75 s, no gates (the built-in scenario's schedule);
* ``workload-errors`` — what progressive-delivery tools are typically given: 10 % / 50 % /
  100 % of the clusters, a 10-minute analysis per step, gated on the workloads' error rate
  (Flagger's canonical ``request-success-rate`` ≥ 99 %, i.e. errors ≤ 1 %);
* ``waveguard`` — the plan ``waveguard plan`` proposes, with all its gates.

Every strategy runs through the same :class:`~waveguard.rollout.engine.Engine` on a fresh
simulator of the same scenario (same seed), then the simulation goes on to the scenario's end
so that damage done after a halt is counted too.
"""

from __future__ import annotations

import math
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from waveguard.analysis import build_profiles, load_change
from waveguard.model.fleet import Fleet
from waveguard.model.requests import RequestClass, RequestProfile
from waveguard.rollout.engine import Engine
from waveguard.rollout.eventlog import Event, EventLog
from waveguard.rollout.plan import ClusterSelector, GateSpec, Plan, Wave, is_staging, propose_plan
from waveguard.rollout.simtarget import SimTarget
from waveguard.model.apf import APFConfig
from waveguard.model.errors import InputError
from waveguard.sim import load_builtin
from waveguard.sim.result import SATURATION_SUSTAIN_S, SimulationResult
from waveguard.sim.rollback import RollbackRecord
from waveguard.sim.scenario import Scenario, find_project_path

STRATEGIES = ("none", "workload-errors", "waveguard")
DEFAULT_SCENARIO = "incident-2024-12-11"
#: The incident's rollout: staging first, production ~10 minutes later, one cluster every 75 s
#: (the built-in scenario's schedule, domain.md §1: the whole fleet within ~30 minutes).
NONE_STAGING_BAKE_S = 600.0
NONE_STAGGER_S = 75.0
#: Typical progressive-delivery settings: cluster shares per step and the analysis length.
WORKLOAD_ERRORS_CLUSTER_SHARES = (0.10, 0.50, 1.0)
WORKLOAD_ERRORS_ANALYSIS_S = 600.0
#: Flagger's canonical analysis (docs.flagger.app, "Metrics Analysis" and the Canary examples):
#: every 1 m, request success rate ≥ 99 % (errors ≤ 1 %), roll back after 5 failed checks.
WORKLOAD_ERRORS_THRESHOLD = 0.01
WORKLOAD_ERRORS_INTERVAL_S = 60.0
WORKLOAD_ERRORS_FAILED_CHECKS = 5


@dataclass
class StrategyResult:
    """One strategy's outcome. Times in simulated seconds; ``blast_radius_pct``: highest share
    of production nodes that ran the change at once; ``impact_minutes``: customer-impact
    minutes summed over production clusters."""

    name: str
    blast_radius_pct: float
    halted_at_s: float | None
    saturated_clusters: int
    impact_minutes: float
    rolled_back: bool
    halt_reason: str | None = None
    fired: dict | None = None  # the failed gate result that halted the rollout
    projections: list[dict] = field(default_factory=list)  # projection gate results, latest wave
    reached_clusters: int = 0
    timeline: dict[str, list[float]] = field(default_factory=dict)  # for the report's plots

    def as_json(self) -> dict:
        return {"name": self.name, "blast_radius_pct": round(self.blast_radius_pct, 3),
                "halted_at_s": self.halted_at_s, "saturated_clusters": self.saturated_clusters,
                "impact_minutes": round(self.impact_minutes, 1), "rolled_back": self.rolled_back,
                "halt_reason": self.halt_reason, "reached_clusters": self.reached_clusters}


def strategy_plan(name: str, change: str, fleet: Fleet) -> Plan:
    """The rollout plan of strategy ``name`` for ``change`` over ``fleet``."""
    if name == "waveguard":
        return propose_plan(change, fleet, per_node=True)
    if name == "none":
        staging = [c.name for c in fleet.clusters if is_staging(c)]
        prod = sorted((c for c in fleet.clusters if not is_staging(c)), key=lambda c: c.nodes)
        waves = [Wave(name="staging", clusters=ClusterSelector(names=staging), bake_s=NONE_STAGING_BAKE_S)]
        waves += [Wave(name=c.name, clusters=ClusterSelector(names=[c.name]), bake_s=NONE_STAGGER_S) for c in prod]
        return Plan(change=change, waves=waves, gates=[], max_parallel_clusters=len(fleet.clusters))
    if name == "workload-errors":
        names = [c.name for c in fleet.clusters]
        waves = [Wave(name=f"{share:.0%} of clusters",
                      clusters=ClusterSelector(names=names[: max(1, math.ceil(share * len(names)))]),
                      bake_s=WORKLOAD_ERRORS_ANALYSIS_S)
                 for share in WORKLOAD_ERRORS_CLUSTER_SHARES]
        return Plan(change=change, waves=waves,
                    gates=[GateSpec(kind="workload_error_rate", threshold=WORKLOAD_ERRORS_THRESHOLD,
                                    failures_to_halt=WORKLOAD_ERRORS_FAILED_CHECKS)],
                    gate_interval_s=WORKLOAD_ERRORS_INTERVAL_S, max_parallel_clusters=len(names))
    raise ValueError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")


def run_strategy(name: str, scenario: Scenario, seed: int | None = None) -> StrategyResult:
    """Run one strategy on a fresh simulator of ``scenario`` until the scenario's end."""
    fleet = scenario.fleet_model
    change = scenario.change.manifests[0] if scenario.change and scenario.change.manifests else "change"
    plan = strategy_plan(name, change, fleet)
    target = SimTarget.for_scenario(scenario, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        log = EventLog(os.path.join(tmp, "state.db"), create=True)
        engine = Engine(plan=plan, fleet=fleet, target=target, log=log, analysed_profiles=scenario.profiles)
        state = engine.run()
        events = log.events()
        log.close()
    target.advance(scenario.duration_s - target.now())
    return _outcome(name, target, state, events)


def _outcome(name: str, target: SimTarget, state, events: list[Event]) -> StrategyResult:
    result = target.sim.result(name)
    production = [c for c in target.fleet.clusters if not is_staging(c)]
    total = sum(c.nodes for c in production) or 1
    running = sum(result.series("waveguard_sim_rollout_share", c.name) * c.nodes for c in production)
    rows = {s.name: s for s in result.summary()}
    halted = next((e for e in events if e.kind == "halted"), None)
    projections = [e.data for e in events if e.kind == "gate" and e.data.get("gate") == "projection"]
    last_projection_t = max((e.t for e in events if e.kind == "gate" and e.data.get("gate") == "projection"),
                            default=None)
    fired = None
    if halted is not None:
        fired = {"gate": halted.data.get("gate"), "cluster": halted.data.get("cluster_failed"),
                 "value": halted.data.get("value"), "threshold": halted.data.get("threshold"),
                 "reason": halted.data.get("reason"), "before_apply": halted.data.get("before_apply")}
    t = result.times
    saturated = np.zeros(len(t))
    errors = np.zeros(len(t))
    for c in production:
        saturated += result.saturated_mask(c.name)
        errors += result.series("waveguard_sim_workload_error_ratio", c.name) * c.nodes
    return StrategyResult(
        name=name, blast_radius_pct=float(np.max(running, initial=0.0) / total * 100),
        halted_at_s=halted.t if halted else None,
        saturated_clusters=sum(rows[c.name].saturated_at_s is not None for c in production),
        impact_minutes=sum(rows[c.name].impact_minutes for c in production),
        rolled_back=state.status == "rolled_back", halt_reason=halted.data.get("reason") if halted else None,
        fired=fired,
        projections=[p for p in projections if last_projection_t is not None] if projections else [],
        reached_clusters=sum(rows[c.name].change_at_s is not None for c in production),
        timeline={"t": t.tolist(), "production_share_pct": (running / total * 100).tolist(),
                  "saturated_clusters": saturated.tolist(), "error_ratio": (errors / total).tolist()},
    )


#: The change of the "projection cannot know" case: the node-filtered agent (safe by analysis
#: and in staging) that, under production traffic only, re-lists pods when a traced peer is not
#: in its cache — at most every RELIST_ON_MISS_S per agent, paginated, from etcd (a plain LIST:
#: resourceVersion=""). Staging has no such traffic, so neither analysis nor the canary
#: measurement sees it; only the first production wave does.
HIDDEN_COST_CHANGE = "examples/incident-telemetry-node-filtered"
RELIST_ON_MISS_S = 10.0


def hidden_cost_profiles(analysed: list[RequestProfile]) -> list[RequestProfile]:
    """The analysed profiles plus what production traffic makes the agents do."""
    base = analysed[0]
    relist = RequestClass(verb="list", resource="pods", scope="cluster", trigger="periodic",
                          rate_per_s=1 / RELIST_ON_MISS_S, resource_version="", limit=500,
                          component="peer lookup on a cache miss (production traffic only)")
    traffic = base.model_copy(update={"client": f"{base.client} (production traffic)", "classes": [relist],
                                      "clusters": {"env": "prod"}})
    return [*analysed, traffic]


def run_hidden_cost_case(scenario_name: str = DEFAULT_SCENARIO, seed: int | None = None) -> StrategyResult:
    """waveguard's plan for a change whose cost only appears under production traffic: the
    projection passes (it can only know what analysis and staging showed), and the SLI gates
    must catch it in the first production wave."""
    scenario = load_builtin(scenario_name)
    change = find_project_path(HIDDEN_COST_CHANGE)
    analysed = build_profiles(load_change([str(change or HIDDEN_COST_CHANGE)]))
    fleet = scenario.fleet_model
    plan = propose_plan(HIDDEN_COST_CHANGE, fleet, per_node=True)
    target = SimTarget.for_scenario(scenario, seed, profiles=hidden_cost_profiles(analysed))
    with tempfile.TemporaryDirectory() as tmp:
        log = EventLog(os.path.join(tmp, "state.db"), create=True)
        state = Engine(plan=plan, fleet=fleet, target=target, log=log, analysed_profiles=analysed).run()
        events = log.events()
        log.close()
    target.advance(scenario.duration_s - target.now())
    return _outcome("waveguard (cost only under production traffic)", target, state, events)


# --- The way back (issue 6): the incident's rollback with and without break-glass isolation ----

#: The rollback is sent on this many of the largest production clusters (policy: those the
#: incident takes down first and hardest).
BREAKGLASS_CLUSTERS = 3
#: Who sends it: an operator with the emergency credential (a member of the break-glass group).
BREAKGLASS_IDENTITY = "breakglass"
#: The two runs: the scenario's own APF objects (the Kubernetes defaults), and those plus the
#: isolation ``waveguard breakglass generate`` writes for the change.
BREAKGLASS_CASES = ("default", "isolated")


@dataclass
class RollbackOutcome:
    """One cluster's rollback. Times in simulated seconds from the start; ``duration_s`` None:
    not completed by the end of the run; ``recovered_at_s``: start of the first minute after the
    rollback started with no saturation symptom (no 429s, p99 within the SLOs, a replica up)."""

    cluster: str
    nodes: int
    priority_level: str
    saturated_at_s: float | None
    started_at_s: float
    completed_at_s: float | None
    duration_s: float | None
    rejected: int
    failed: int
    queue_wait_s: float
    backoff_s: float
    recovered_at_s: float | None
    oom_kills: int

    def as_json(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


@dataclass
class BreakglassCase:
    """One run of the incident with the rollback: ``isolated`` says whether the generated
    isolation was installed; ``timeline``: the largest cluster's series for the report."""

    name: str
    isolated: bool
    rollbacks: list[RollbackOutcome]
    timeline: dict[str, list[float]] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"name": self.name, "isolated": self.isolated, "rollbacks": [r.as_json() for r in self.rollbacks]}


@dataclass
class BreakglassResult:
    """The incident's rollback without and with isolation, sent as ``identity`` on the largest
    clusters when their saturation alert fires."""

    scenario: str
    change: str
    identity: str
    cases: list[BreakglassCase]

    def case(self, isolated: bool) -> BreakglassCase:
        return next(c for c in self.cases if c.isolated == isolated)

    def speedup(self) -> float | None:
        """Slowest rollback without isolation ÷ slowest with it (an incomplete rollback counts
        as the time it had until the end of the run); None when either case has none."""
        without, with_ = (_slowest(self.case(False)), _slowest(self.case(True)))
        return None if not without or not with_ else without / with_

    def as_json(self) -> dict:
        speedup = self.speedup()
        return {"scenario": self.scenario, "change": self.change, "identity": self.identity,
                "speedup": None if speedup is None else round(speedup, 1),
                "cases": [c.as_json() for c in self.cases]}


def _slowest(case: BreakglassCase) -> float | None:
    end = case.timeline["t"][-1] if case.timeline.get("t") else None
    times = [r.duration_s if r.duration_s is not None else (end - r.started_at_s if end else None)
             for r in case.rollbacks]
    times = [t for t in times if t is not None]
    return max(times) if times else None


def breakglass_targets(fleet: Fleet, n: int = BREAKGLASS_CLUSTERS) -> list[str]:
    """The ``n`` largest production clusters, largest first."""
    production = sorted((c for c in fleet.clusters if not is_staging(c)), key=lambda c: -c.nodes)
    return [c.name for c in production[:n]]


def simulate_breakglass(isolated: bool, scenario_name: str = DEFAULT_SCENARIO, seed: int | None = None,
                        identity: str = BREAKGLASS_IDENTITY) -> SimulationResult:
    """The built-in ``scenario_name`` (its schedule: the ``none`` strategy's rollout) with the
    scenario's APF objects, or — ``isolated`` — with the isolation ``generate_isolation`` makes
    for its change installed; on each of the :func:`breakglass_targets` the rollback starts,
    sent as ``identity``, when the saturation alert fires (the summary's rule: symptoms for
    60 s, as an operator would see it). Raises InputError when the change cannot be read."""
    from waveguard.sim.run import build_simulator

    scenario = load_builtin(scenario_name)
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
        recovered_at_s=result.recovered_at(record.cluster, record.started_at_s), oom_kills=row.oom_kills)


def _breakglass_result(scenario_name: str, cases: list[BreakglassCase]) -> BreakglassResult:
    scenario = load_builtin(scenario_name)
    change = scenario.change.manifests[0] if scenario.change and scenario.change.manifests else "change"
    return BreakglassResult(scenario=scenario_name, change=change, identity=BREAKGLASS_IDENTITY, cases=cases)


@dataclass
class DemoResult:
    """The three strategies on the incident, waveguard on a change whose cost only production
    traffic reveals, and (``--breakglass``) the incident's rollback without and with isolation."""

    scenario: str
    strategies: list[StrategyResult]
    production_traffic: StrategyResult | None
    breakglass: BreakglassResult | None = None

    def as_json(self) -> dict:
        out = {"scenario": self.scenario, "strategies": [r.as_json() for r in self.strategies],
               "production_traffic_case": self.production_traffic.as_json() if self.production_traffic else None}
        if self.breakglass is not None:
            out["breakglass"] = self.breakglass.as_json()
        return out


def run_demo(scenario_name: str = DEFAULT_SCENARIO, seed: int | None = None, parallel: bool = True,
             strategies: tuple[str, ...] = STRATEGIES, production_traffic: bool = True,
             breakglass: bool = False) -> DemoResult:
    """All strategies on the built-in ``scenario_name`` (and the production-traffic case, and
    with ``breakglass`` the two runs of :func:`run_breakglass_case`); in parallel processes when
    ``parallel`` (each run is its own simulation: same results)."""
    jobs = [(s, scenario_name, seed) for s in strategies]
    if production_traffic:
        jobs.append(("production-traffic", scenario_name, seed))
    if breakglass:
        jobs += [(f"breakglass-{case}", scenario_name, seed) for case in BREAKGLASS_CASES]
    if parallel and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1)) as pool:
            results = list(pool.map(_run_job, *zip(*jobs)))
    else:
        results = [_run_job(*job) for job in jobs]
    cases = [results.pop() for _ in BREAKGLASS_CASES][::-1] if breakglass else []
    hidden = results.pop() if production_traffic else None
    return DemoResult(scenario=scenario_name, strategies=results, production_traffic=hidden,
                      breakglass=_breakglass_result(scenario_name, cases) if breakglass else None)


def _run_job(strategy: str, scenario_name: str, seed: int | None):
    if strategy == "production-traffic":
        return run_hidden_cost_case(scenario_name, seed)
    if strategy.startswith("breakglass-"):
        return run_breakglass_case(strategy == "breakglass-isolated", scenario_name, seed)
    return run_strategy(strategy, load_builtin(scenario_name), seed)
