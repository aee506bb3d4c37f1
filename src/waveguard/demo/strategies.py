"""The rollout strategies of the demo, and the case whose cost only production traffic reveals.

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

import numpy as np

from waveguard.analysis import build_profiles, load_change
from waveguard.model.fleet import Fleet
from waveguard.model.requests import RequestClass, RequestProfile
from waveguard.report.demo_results import StrategyResult
from waveguard.report.sim import saturation_counts
from waveguard.rollout.engine import Engine
from waveguard.rollout.eventlog import Event, EventLog
from waveguard.rollout.plan import ClusterSelector, GateSpec, Plan, Wave, is_staging, propose_plan
from waveguard.rollout.simtarget import SimTarget
from waveguard.sim import load_builtin
from waveguard.sim.phases.recording import EVERY_STEP
from waveguard.sim.result import IMPACT_ERROR_RATIO
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
    # Every step: the table's impact minutes count the steps whose error ratio is over the line
    # (at 10 s frames each crossing would round to its frame: 879.9 → 884.5 min; issue 17).
    target = SimTarget.for_scenario(scenario, seed=seed, recording=EVERY_STEP)
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
    running = result.nodes_running_change([c.name for c in production])
    rows = {s.name: s for s in result.summary()}
    halted = next((e for e in events if e.kind == "halted"), None)
    projections = [e.data for e in events if e.kind == "gate" and e.data.get("gate") == "projection"]
    fired = None
    if halted is not None:
        fired = {"gate": halted.data.get("gate"), "cluster": halted.data.get("cluster_failed"),
                 "value": halted.data.get("value"), "threshold": halted.data.get("threshold"),
                 "reason": halted.data.get("reason"), "before_apply": halted.data.get("before_apply")}
    t = result.times
    counts = saturation_counts(result, [c.name for c in production])  # the one definition of saturated
    errors, impacted = np.zeros(len(t)), np.zeros(len(t))
    for c in production:
        ratio = result.series("waveguard_sim_workload_error_ratio", c.name)
        errors += ratio * c.nodes
        impacted += ratio >= IMPACT_ERROR_RATIO  # the summary's impact minutes, per step
    return StrategyResult(
        name=name, blast_radius_pct=float(np.max(running, initial=0.0) / total * 100),
        halted_at_s=halted.t if halted else None,
        saturated_clusters=sum(rows[c.name].saturated_at_s is not None for c in production),
        impact_minutes=sum(rows[c.name].impact_minutes for c in production),
        rolled_back=state.status == "rolled_back", halt_reason=halted.data.get("reason") if halted else None,
        fired=fired,
        projections=projections,
        reached_clusters=sum(rows[c.name].change_at_s is not None for c in production),
        timeline={"t": t.tolist(), "production_share_pct": (running / total * 100).tolist(),
                  "saturated_clusters": counts["now"].tolist(), "saturated_so_far": counts["so_far"].tolist(),
                  "apiserver_down_clusters": counts["down"].tolist(), "error_ratio": (errors / total).tolist(),
                  "impacted_clusters": impacted.tolist()},
        waves=[(e.t, str(e.data.get("name", ""))) for e in events if e.kind == "wave_started"],
        production_clusters=len(production),
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
