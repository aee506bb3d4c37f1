"""Plan findings: one function per rule id (WG2xx), registered once with :func:`plan_rule`.

A rule is ``(plan, fleet) -> [(severity, message, fix)]``; :func:`plan_findings` runs every
registered rule in registration order and turns what each reports into
:class:`~waveguard.model.findings.Finding`\\ s. The rule ids, their short names and descriptions
are in ``waveguard.model.findings.RULES`` (stable API: CI filters by them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from waveguard.model.findings import RULES, Finding, Severity
from waveguard.model.fleet import Fleet
from waveguard.rollout.gates.registry import control_plane_gate_kinds
from waveguard.rollout.plan.planner import is_per_node_plan, is_staging, longest_dns_cache_ttl_s, minimum_bake_s
from waveguard.rollout.plan.schema import Plan

#: What a rule reports: (severity, message, fix), one line each for a person.
Reported = tuple[Severity, str, str]
PlanCheck = Callable[[Plan, Fleet], list[Reported]]

#: Rule id → check, in registration order (the order findings are reported in).
PLAN_RULES: dict[str, PlanCheck] = {}


def plan_rule(rule: str) -> Callable[[PlanCheck], PlanCheck]:
    """Decorator: register the decorated check as rule ``rule``. Raises ValueError for a rule id
    registered twice or missing from ``model.findings.RULES``."""
    def decorate(check: PlanCheck) -> PlanCheck:
        if rule in PLAN_RULES:
            raise ValueError(f"plan rule {rule} is registered twice")
        if rule not in RULES:
            raise ValueError(f"plan rule {rule} has no entry in waveguard.model.findings.RULES")
        PLAN_RULES[rule] = check
        return check
    return decorate


def plan_findings(plan: Plan, fleet: Fleet, source: str = "plan") -> list[Finding]:
    """Every registered rule on ``plan`` over ``fleet``: WG201 bake time shorter than the DNS
    cache TTL + two gate evaluations; WG202 first production wave without the largest production
    cluster; WG203 no gate on the control plane; WG204 clusters without break-glass isolation
    (:func:`breakglass_findings`); WG205 production before staging; WG206 all of production in
    the first production wave. ``source``: the plan's file, for the findings."""
    workload = f"Plan/-/{Path(plan.change).name}"
    return [Finding(rule=rule, severity=severity, workload=workload, file=source, line=1, message=message, fix=fix)
            for rule, check in PLAN_RULES.items() for severity, message, fix in check(plan, fleet)]


@plan_rule("WG201")
def bake_shorter_than_dns_ttl(plan: Plan, fleet: Fleet) -> list[Reported]:
    """An error per wave that bakes less than :func:`minimum_bake_s`: a broken control plane
    still looks healthy through the DNS caches when it passes."""
    need = minimum_bake_s(plan.gate_interval_s)
    return [("error", f"wave {wave.name!r} bakes {wave.bake_s:.0f} s, less than the longest DNS cache TTL "
             f"({longest_dns_cache_ttl_s():.0f} s) plus two gate evaluations ({2 * plan.gate_interval_s:.0f} s): "
             "a broken control plane still looks healthy through the caches when it passes",
             f"set bake_s ≥ {need:.0f}")
            for wave in plan.waves if wave.bake_s < need]


@plan_rule("WG202")
def first_wave_small_clusters_only(plan: Plan, fleet: Fleet) -> list[Reported]:
    """An error when the first wave that reaches production leaves out the largest production
    cluster (by nodes): load that grows with cluster size would show only at the end."""
    production = [c for c in fleet.clusters if not is_staging(c)]
    if not production:
        return []
    largest = max(production, key=lambda c: c.nodes)
    first = next((w for w in plan.waves if any(not is_staging(c) for c in plan.clusters_of(w, fleet))), None)
    if first is None or largest in plan.clusters_of(first, fleet):
        return []
    biggest_in_first = max(c.nodes for c in plan.clusters_of(first, fleet))
    return [("error", f"the first production wave {first.name!r} reaches clusters of at most "
             f"{biggest_in_first:,} nodes, not the largest ({largest.name}, {largest.nodes:,} nodes): load that grows "
             "with cluster size shows only when the change reaches the largest clusters, after the small ones passed",
             f"put a small node share of {largest.name} in wave {first.name!r}")]


@plan_rule("WG203")
def no_control_plane_gate(plan: Plan, fleet: Fleet) -> list[Reported]:
    """An error when no gate of the plan is a control-plane gate of the registry."""
    if any(g.kind in control_plane_gate_kinds() for g in plan.gates):
        return []
    return [("error", "no gate reads the control plane (apiserver latency, 429s, APF seats, memory, projection): "
             "workload errors arrive only after DNS caches expire, when the damage is done",
             "add gates: apiserver_p99_latency, apiserver_rejections, apf_seat_utilisation, projection")]


@plan_rule("WG204")
def breakglass_findings(plan: Plan, fleet: Fleet) -> list[Reported]:
    """WG204 (severity, message, fix) from the fleet's per-cluster ``breakglass`` field, for the
    clusters the plan reaches.

    * ``breakglass: false`` — **warning**: the change's own rollback may be locked out (its
      DELETE lands in the default levels the change saturates, on apiservers that crash); an
      **error** when the plan's rollback is ``automatic`` and the plan is per-node (a DaemonSet:
      load grows with nodes, and its ServiceAccount lands in workload-low beside the
      controller's own): then waveguard's automatic rollback is the request that gets locked out
      (``waveguard demo --breakglass``), so ``rollout start`` refuses it without ``--force``;
    * unset (unknown) — **info**: record the result of ``waveguard breakglass check``.

    The field is what ``waveguard breakglass check`` established; this function does not read
    APF objects itself (rollout depends on model only for plans)."""
    reached = {c.name: c for wave in plan.waves for c in plan.clusters_of(wave, fleet)}
    lacking = [c.name for c in reached.values() if c.breakglass is False]
    unknown = [c.name for c in reached.values() if c.breakglass is None]
    fix = ("install it on each: waveguard breakglass generate CHANGE | kubectl apply -f -, verify with "
           "waveguard breakglass check --live, then set breakglass: true for the cluster in the fleet file")
    out: list[Reported] = []
    if lacking:
        automatic = plan.rollback == "automatic" and is_per_node_plan(plan)
        why = (" The plan rolls back automatically and rolls a DaemonSet: waveguard's own rollback requests are the ones "
               "that would be locked out." if automatic else "")
        out.append(("error" if automatic else "warning",
                    f"{_count(lacking, reached)} no break-glass isolation (breakglass: false): {_names(lacking)}. "
                    "If the change saturates their apiservers, its rollback shares the default priority levels with "
                    f"it and needs an apiserver that stays up (waveguard demo --breakglass shows the difference).{why}",
                    fix))
    if unknown:
        out.append(("info", f"{_count(unknown, reached)} no recorded break-glass isolation (breakglass unset): "
                    f"{_names(unknown)}", "run waveguard breakglass check --live on each and record the result as "
                    "breakglass: true|false in the fleet file"))
    return out


@plan_rule("WG205")
def production_before_staging(plan: Plan, fleet: Fleet) -> list[Reported]:
    """An error when a wave reaching production comes before a wave that reaches staging: the
    staging clusters, whose bake is the first look at the change, would see it after production."""
    waves = [(w, plan.clusters_of(w, fleet)) for w in plan.waves]
    last_staging = max((i for i, (_, cs) in enumerate(waves) if any(is_staging(c) for c in cs)), default=None)
    first_production = next((i for i, (_, cs) in enumerate(waves) if any(not is_staging(c) for c in cs)), None)
    if last_staging is None or first_production is None or first_production > last_staging:
        return []
    early, staging = waves[first_production][0].name, waves[last_staging][0].name
    return [("error", f"wave {early!r} reaches production before wave {staging!r} reaches staging: production runs "
             "the change before staging has baked it", f"move wave {staging!r} before {early!r}")]


@plan_rule("WG206")
def whole_production_in_one_wave(plan: Plan, fleet: Fleet) -> list[Reported]:
    """An error when the first wave that reaches production takes every production cluster at its
    whole node share: its gates can only roll back, never keep the change from the rest. Not
    when production is one cluster and the change no DaemonSet: there is nothing to split."""
    production = {c.name for c in fleet.clusters if not is_staging(c)}
    first = next((w for w in plan.waves if any(c.name in production for c in plan.clusters_of(w, fleet))), None)
    if first is None or first.node_share < 1.0 or not production <= {c.name for c in plan.clusters_of(first, fleet)}:
        return []
    if len(production) == 1 and not is_per_node_plan(plan):
        return []
    return [("error", f"the first production wave {first.name!r} reaches all {len(production)} production clusters, "
             "every node: a change that overloads control planes takes them all down before any gate reads one",
             f"split wave {first.name!r}: a few clusters first, or a small node_share of each (waveguard plan "
             "proposes such waves)")]


def _count(names: list[str], reached: dict) -> str:
    return f"{len(names)} of the {len(reached)} clusters the plan reaches {'has' if len(names) == 1 else 'have'}"


def _names(names: list[str], shown: int = 5) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
