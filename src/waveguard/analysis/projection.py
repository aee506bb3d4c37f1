"""Project a change's request profiles onto every cluster of a fleet."""

from __future__ import annotations

from pydantic import BaseModel

from waveguard.model.apf import DEFAULT_APF, APFConfig
from waveguard.model.cost import (
    ClusterLoad, Scaling, Verdict, baseline_memory_bytes, combined_etcd_memory_fraction, combined_storm_memory_bytes,
    priority_level_of, project, scaling_class, verdict_for,
)
from waveguard.model.etcd import member_memory_fraction
from waveguard.model.fleet import Cluster, Fleet
from waveguard.model.requests import RequestProfile

_VERDICT_RANK = {"ok": 0, "warning": 1, "overload": 2}
_SCALING_RANK = {"constant": 0, "O(nodes)": 1, "O(nodes²)": 2}


class ClusterProjection(BaseModel):
    """The change on one cluster. Workloads landing in the same priority level share its seats,
    and every storm shares the apiservers' memory, so ``utilisation`` is the highest *sum* of
    level utilisations over a level, and ``verdict`` the worse of that combination and the worst
    workload. ``etcd_memory_fraction``: one etcd member's memory over its own while the range
    responses of every workload's LISTs from etcd peak together (one etcd per cluster);
    ``etcd_utilisation``: the share of the cluster's etcd read throughput those LISTs need over a
    client timeout (every workload's together). ``memory_share`` and ``etcd_memory_fraction``
    include what the cluster holds without the change (an apiserver's process and watch cache,
    :func:`~waveguard.model.work.baseline_memory_bytes`; an idle etcd member,
    ``ETCD_BASE_MEMORY_BYTES``); ``memory_share_added`` and ``etcd_memory_fraction_added`` are the
    change's part of them alone (same units: shares of the apiserver's limit, of the member's
    memory). ``loads``: one :class:`ClusterLoad` per workload."""

    cluster: str
    nodes: int
    verdict: Verdict
    utilisation: float
    memory_share: float
    etcd_memory_fraction: float = 0.0
    etcd_utilisation: float = 0.0
    memory_share_added: float = 0.0
    etcd_memory_fraction_added: float = 0.0
    scaling: Scaling
    reasons: list[str]
    loads: dict[str, ClusterLoad]  # workload ref → load

    @property
    def worst(self) -> ClusterLoad | None:
        return max(self.loads.values(), key=lambda l: (_VERDICT_RANK[l.verdict], l.level_utilisation), default=None)


def worst_scaling(profiles: list[RequestProfile]) -> Scaling:
    return max((scaling_class(p) for p in profiles), key=_SCALING_RANK.__getitem__, default="constant")


def project_fleet(profiles: list[RequestProfile], fleet: Fleet, apf: APFConfig = DEFAULT_APF) -> list[ClusterProjection]:
    """One :class:`ClusterProjection` per cluster, in fleet order."""
    scaling = worst_scaling(profiles)
    levels = {p.client: priority_level_of(p, apf) for p in profiles}
    costed = {p.client: _cost_key(p, levels[p.client]) for p in profiles}
    out = []
    for cluster in fleet.clusters:
        baseline = baseline_memory_bytes(cluster)
        # One cache per cluster: profiles that differ only in their names (one chart installed
        # in many namespaces) cost the same, so each distinct one is costed once.
        cache: dict[str, ClusterLoad] = {}
        loads = {}
        for p in profiles:
            key = costed[p.client]
            if key not in cache:
                cache[key] = project(p, cluster, apf, level=levels[p.client], baseline_memory=baseline)
            loads[p.client] = cache[key]
        out.append(_combine(cluster, scaling, loads, baseline))
    return out


def _cost_key(profile: RequestProfile, level: str) -> str:
    """Everything :func:`waveguard.model.cost.project` reads of ``profile`` (its request
    classes, replicas and cluster selector) with its priority level: equal keys cost alike."""
    return level + profile.model_dump_json(include={"per_node", "replicas", "clusters", "classes"})


def _combine(cluster: Cluster, scaling: Scaling, loads: dict[str, ClusterLoad], baseline: int) -> ClusterProjection:
    by_level: dict[str, list[ClusterLoad]] = {}
    for load in loads.values():
        by_level.setdefault(load.priority_level, []).append(load)
    verdict: Verdict = "ok"
    reasons: list[str] = []
    util = 0.0
    memory = combined_storm_memory_bytes(loads.values(), baseline)
    limit = next(iter(loads.values())).memory_limit_bytes if loads else 1
    etcd_memory = combined_etcd_memory_fraction(loads.values(), cluster) if loads else 0.0
    etcd_util = sum(l.etcd_utilisation for l in loads.values())  # one etcd for all
    for level, group in by_level.items():
        level_util = sum(l.level_utilisation for l in group)
        util = max(util, level_util)
        v, why = verdict_for(level, level_util, sum(l.server_utilisation for l in loads.values()), memory / limit,
                             sum(l.storm_seat_seconds for l in group) / max(1, group[0].level_capacity_seats),
                             max(l.rejected_share for l in group),
                             etcd_util=etcd_util,
                             etcd_s=sum(l.storm_etcd_s for l in loads.values()), etcd_memory=etcd_memory)
        if _VERDICT_RANK[v] > _VERDICT_RANK[verdict] or (v == verdict and not reasons):
            verdict, reasons = v, why
    worst = max(loads.values(), key=lambda l: _VERDICT_RANK[l.verdict], default=None)
    if worst is not None and _VERDICT_RANK[worst.verdict] > _VERDICT_RANK[verdict]:
        verdict, reasons = worst.verdict, worst.reasons
    etcd_idle = member_memory_fraction(cluster, 0.0) if loads else 0.0
    return ClusterProjection(cluster=cluster.name, nodes=cluster.nodes, verdict=verdict, utilisation=util,
                             memory_share=memory / limit if loads else 0.0, etcd_memory_fraction=etcd_memory,
                             etcd_utilisation=etcd_util, scaling=scaling, reasons=reasons, loads=loads,
                             memory_share_added=(memory - baseline) / limit if loads else 0.0,
                             etcd_memory_fraction_added=max(0.0, etcd_memory - etcd_idle))
