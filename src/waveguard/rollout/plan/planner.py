"""The planner: waves, bake times and gates for a change over a fleet (``waveguard plan``)."""

from __future__ import annotations

from waveguard.model import constants as C
from waveguard.model.fleet import Cluster, Fleet
from waveguard.rollout.gates.registry import default_gate_kinds
from waveguard.rollout.plan.schema import ClusterSelector, GateSpec, Plan, Wave

#: DaemonSet node shares of the proposed production waves: a 1 % slice of every production
#: cluster (the largest included), then 10 %, then all. Policy.
PRODUCTION_NODE_SHARES = (0.01, 0.10, 1.0)


def longest_dns_cache_ttl_s() -> float:
    """Longest time a cached answer hides a DNS failure, seconds: the client's plus the node-local
    cache's TTL (waveguard.model.constants, domain.md §6)."""
    return C.DNS_CLIENT_CACHE_TTL_S + C.DNS_NODE_CACHE_TTL_S


def minimum_bake_s(gate_interval_s: float) -> float:
    """A wave must bake at least the longest DNS cache TTL plus two gate evaluations (seconds)."""
    return longest_dns_cache_ttl_s() + 2 * gate_interval_s


def is_staging(cluster: Cluster) -> bool:
    """The cluster's ``env`` label names a non-production environment (staging, stage, dev, test)."""
    return cluster.labels.get("env", "").lower() in ("staging", "stage", "dev", "test")


def is_per_node_plan(plan: Plan) -> bool:
    """The plan rolls a DaemonSet: some wave takes a share of each cluster's nodes."""
    return any(w.node_share < 1.0 for w in plan.waves)


def propose_plan(change: str, fleet: Fleet, per_node: bool, gate_interval_s: float = 30.0) -> Plan:
    """Waves for ``change`` over ``fleet``: staging, then production slices that include the
    largest clusters from the first production wave on. ``per_node``: the change has a
    DaemonSet (waves then take a share of each cluster's nodes). Gates: those the registry has
    on by default (the control plane, DNS past the caches, the projection)."""
    bake = minimum_bake_s(gate_interval_s)
    staging = [c for c in fleet.clusters if is_staging(c)]
    production = [c for c in fleet.clusters if not is_staging(c)]
    waves: list[Wave] = []
    if staging:
        waves.append(Wave(name="staging", clusters=ClusterSelector(names=[c.name for c in staging]), bake_s=bake))
    prod_names = [c.name for c in production]
    if per_node:
        for share in PRODUCTION_NODE_SHARES:
            waves.append(Wave(name=f"production-{share:.0%}", clusters=ClusterSelector(names=prod_names),
                              node_share=share, bake_s=bake))
    elif production:
        by_size = sorted(production, key=lambda c: c.nodes)
        # the largest and the smallest; the largest alone when they are all of production (WG206)
        first = sorted({by_size[-1].name, by_size[0].name}) if len(by_size) > 2 else [by_size[-1].name]
        waves.append(Wave(name="production-first", clusters=ClusterSelector(names=first), bake_s=bake))
        waves.append(Wave(name="production-all", clusters=ClusterSelector(names=prod_names), bake_s=bake))
    return Plan(change=change, waves=waves, gates=[GateSpec(kind=k) for k in default_gate_kinds()],
                gate_interval_s=gate_interval_s, max_parallel_clusters=max(1, len(fleet.clusters)))
