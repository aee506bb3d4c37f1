"""Project a change's request profiles onto every cluster of a fleet."""

from __future__ import annotations

from pydantic import BaseModel

from waveguard.model.apf import DEFAULT_APF, APFConfig
from waveguard.model.cost import (
    ClusterLoad, Scaling, Verdict, baseline_memory_bytes, priority_level_of, project, scaling_class,
)
from waveguard.model.fleet import Fleet
from waveguard.model.requests import RequestProfile

_VERDICT_RANK = {"ok": 0, "warning": 1, "overload": 2}
_SCALING_RANK = {"constant": 0, "O(nodes)": 1, "O(nodes²)": 2}


class ClusterProjection(BaseModel):
    """The change on one cluster: the worst of its workloads. ``utilisation`` is the highest
    level utilisation (see :class:`ClusterLoad`), ``loads`` one entry per workload."""

    cluster: str
    nodes: int
    verdict: Verdict
    utilisation: float
    scaling: Scaling
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
    out = []
    for cluster in fleet.clusters:
        baseline = baseline_memory_bytes(cluster)
        loads = {p.client: project(p, cluster, apf, level=levels[p.client], baseline_memory=baseline)
                 for p in profiles}
        verdict = max((l.verdict for l in loads.values()), key=_VERDICT_RANK.__getitem__, default="ok")
        util = max((l.level_utilisation for l in loads.values()), default=0.0)
        out.append(ClusterProjection(cluster=cluster.name, nodes=cluster.nodes, verdict=verdict, utilisation=util,
                                     scaling=scaling, loads=loads))
    return out
