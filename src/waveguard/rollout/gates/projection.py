"""Gate ``projection``: the change's measured (or analysed) request profiles costed on the next
wave's clusters with the one cost model (``waveguard.model.cost.project``), before the wave is
applied: a cluster that would saturate fails, and the change never reaches it."""

from __future__ import annotations

from waveguard.model.cost import (
    WARNING_UTILISATION, baseline_memory_bytes, combined_etcd_memory_fraction, combined_storm_memory_bytes,
    priority_level_of, project,
)
from waveguard.model.fleet import Cluster
from waveguard.model.requests import RequestProfile
from waveguard.model.result import Status
from waveguard.rollout.gates.base import GateResult
from waveguard.rollout.gates.registry import GATES, projection_gate

NAME = "projection"


@projection_gate(NAME, reads="projected level utilisation of the next wave (cost model)", unit="ratio",
                 default_threshold=WARNING_UTILISATION,
                 source="the cost model's warning level (waveguard.model.cost.WARNING_UTILISATION)",
                 control_plane=True, default_on=True)
def project_wave(profiles: list[RequestProfile], clusters: list[Cluster], shares: dict[str, float],
                        limit: float) -> list[GateResult]:
    """Project the measured ``profiles`` onto the next wave, each cluster at its target node
    ``share``, with the cost model. Fails a cluster — before the change reaches it — whose
    projected priority-level utilisation exceeds ``limit``, or whose projected apiserver memory
    during the start-up storm, or projected etcd member memory while its LISTs from etcd peak
    (``ClusterLoad.etcd_memory_fraction``: the simulator's model of etcd, whose members are
    OOM-killed at 1.0), exceeds the ``apiserver_memory`` gate's default (the storm is what a
    wave sets off; one memory threshold for both). Profiles that send no request (a node-exporter: the analysis read the change
    and found nothing that talks to kube-apiserver) cost zero and pass; no profile at all (nothing
    analysed or measured) is no-data, and the wave waits. One result per cluster, in order."""
    if not profiles:
        return [GateResult.of(NAME, c.name, "no-data", None, limit,
                              "no measured or analysed request profile yet: the change's cost is unknown")
                for c in clusters]
    if not any(p.classes for p in profiles):
        return [GateResult.of(NAME, c.name, "pass", 0.0, limit,
                              f"the change sends no requests to kube-apiserver: a projected cost of zero; "
                              f"threshold {limit:.2f}") for c in clusters]
    memory_limit = GATES["apiserver_memory"].default_threshold
    levels = [priority_level_of(p) for p in profiles]
    return [_project_cluster(profiles, levels, cluster, shares.get(cluster.name, 0.0), limit, memory_limit)
            for cluster in clusters]


def _project_cluster(profiles: list[RequestProfile], levels: list[str], cluster: Cluster, share: float,
                     limit: float, memory_limit: float) -> GateResult:
    """The projection on one cluster: the figure nearer its threshold (utilisation, apiserver
    memory or etcd member memory)."""
    baseline = baseline_memory_bytes(cluster)
    loads = [project(p, cluster, node_share=share, level=level, baseline_memory=baseline)
             for p, level in zip(profiles, levels, strict=True)]
    utilisation = sum(load.level_utilisation for load in loads)  # workloads of one change share the level
    memory = combined_storm_memory_bytes(loads, baseline) / cluster.memory_limit_bytes
    etcd_memory = combined_etcd_memory_fraction(loads, cluster)
    where = f"at {share:.0%} of {cluster.nodes:,} nodes"
    if etcd_memory > memory and etcd_memory / memory_limit > utilisation / limit:
        value, threshold = etcd_memory, memory_limit
        detail = f"projected etcd member memory {etcd_memory:.0%} of its own {where} (range responses of LISTs from etcd)"
    elif memory / memory_limit > utilisation / limit:
        value, threshold = memory, memory_limit
        detail = f"projected apiserver memory {memory:.0%} of its limit {where}"
    else:
        value, threshold = utilisation, limit
        detail = f"projected {loads[0].priority_level} utilisation {utilisation:.2f} {where} (memory {memory:.0%})"
    status: Status = "fail" if value > threshold else "pass"
    return GateResult.of(NAME, cluster.name, status, value, threshold, f"{detail}; threshold {threshold:.2f}")
