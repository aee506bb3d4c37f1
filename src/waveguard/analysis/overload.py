"""The sentence an agent's findings quote from its projection: how many clusters overload, and
the worst one's own reason (analysis/rules.py)."""

from __future__ import annotations

from waveguard.model.cost import ClusterLoad
from waveguard.model.findings import Severity


def clusters_phrase(n: int) -> str:
    """"1 cluster", "3 clusters"."""
    return f"{n} cluster" if n == 1 else f"{n} clusters"


#: The figures of a ClusterLoad that can overload a cluster (each at 1.0), with the words of the
#: verdict's reason that names it (model.cost.verdict_for).
_PRESSURES = (("level_utilisation", "seats"), ("memory_share", "apiserver's memory"),
              ("etcd_memory_fraction", "etcd member's memory"), ("etcd_utilisation", "of the cluster's etcd"))


def _pressure(load: ClusterLoad) -> float:
    """How close ``load`` is to overload: the largest of its seats, apiserver memory, etcd member
    memory and etcd throughput figures (each overloads at 1.0)."""
    return max(getattr(load, figure) for figure, _ in _PRESSURES)


def _worst_reason(load: ClusterLoad) -> str:
    """The reason of ``load``'s verdict that names its largest figure (else its first)."""
    _, words = max(_PRESSURES, key=lambda p: getattr(load, p[0]))
    return next((r for r in load.reasons if words in r), load.reasons[0])


def overload_summary(loads: list[ClusterLoad]) -> tuple[Severity, str]:
    """error + a sentence when the projection overloads a cluster, else warning + a sentence.
    The sentence quotes the worst cluster's own reason: the cluster closest to overload by
    seats, apiserver memory, etcd member memory or etcd throughput, whichever is highest
    (:func:`_pressure`)."""
    over = [l for l in loads if l.verdict == "overload"]
    if over:
        worst = max(over, key=_pressure)
        smallest = min(l.nodes for l in over)
        return "error", (f"projected overload on {clusters_phrase(len(over))} of {len(loads)} "
                         f"(from {smallest:,} nodes); on {worst.cluster} ({worst.nodes:,} nodes) it "
                         f"{_worst_reason(worst)}")
    warned = [l for l in loads if l.verdict == "warning"]
    if warned:
        worst = max(warned, key=_pressure)
        return "warning", (f"no overload projected, but {clusters_phrase(len(warned))} reach a warning (worst "
                           f"{worst.cluster}: {_worst_reason(worst)})")
    return "warning", "no cluster of the fleet is projected to overload yet"
