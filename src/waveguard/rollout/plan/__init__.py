"""Rollout plans: the plan file (:mod:`.schema`), the planner (:mod:`.planner`) and the plan
findings, one function per rule id (:mod:`.findings`).

Gate kinds, default gates and the control-plane set come from the gate registry
(``waveguard.rollout.gates``).
"""

from __future__ import annotations

from waveguard.rollout.plan.findings import PLAN_RULES, breakglass_findings, plan_findings, plan_rule
from waveguard.rollout.plan.planner import (
    PRODUCTION_NODE_SHARES, is_per_node_plan, is_staging, longest_dns_cache_ttl_s, minimum_bake_s, propose_plan,
)
from waveguard.rollout.plan.schema import GATE_KINDS, ClusterSelector, GateSpec, Plan, Wave, load_plan

__all__ = [
    "GATE_KINDS", "PLAN_RULES", "PRODUCTION_NODE_SHARES", "ClusterSelector", "GateSpec", "Plan", "Wave",
    "breakglass_findings", "is_per_node_plan", "is_staging", "load_plan", "longest_dns_cache_ttl_s",
    "minimum_bake_s", "plan_findings", "plan_rule", "propose_plan",
]
