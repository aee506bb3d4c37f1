"""Gates: one small interface, each returns pass / fail / no-data with the figure and threshold.

A gate reads a :class:`Signals` source, which speaks the metric names real components expose
(domain.md §5): the simulator (``waveguard.sim``) and Prometheus implement it alike. No data,
stale data or an unreachable source is ``no-data``, which never passes: the engine pauses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from waveguard.model.apf import DEFAULT_PRIORITY_LEVELS
from waveguard.model.cost import project
from waveguard.model.fleet import Cluster
from waveguard.model.requests import RequestProfile
from waveguard.rollout.plan import GATE_KINDS, GateSpec

Status = Literal["pass", "fail", "no-data"]
LIMITED_LEVELS = tuple(l.name for l in DEFAULT_PRIORITY_LEVELS if not l.exempt)


@dataclass(frozen=True)
class GateResult:
    """One gate on one cluster: ``value`` is the figure read (None when there was none)."""

    gate: str
    cluster: str
    status: Status
    value: float | None
    threshold: float
    detail: str

    def as_json(self) -> dict:
        return {"gate": self.gate, "cluster": self.cluster, "status": self.status, "value": self.value,
                "threshold": self.threshold, "detail": self.detail}


class Signals(Protocol):
    """Where gates read from. Every method returns None when it has no fresh data."""

    def value(self, metric: str, cluster: str, **labels: str) -> float | None:
        """Latest value of a gauge (quantiles via ``quantile="0.99"``)."""

    def rate(self, metric: str, cluster: str, **labels: str) -> float | None:
        """Per-second increase of a counter over the last gate interval."""

    def dns_probe_failure_ratio(self, cluster: str) -> float | None:
        """Share of cache-bypassing lookups (asked of CoreDNS/the authoritative server directly,
        names no cache holds) that fail."""

    def memory_limit_bytes(self, cluster: str) -> float | None:
        """Memory limit of one apiserver replica."""

    def workload_error_ratio(self, cluster: str) -> float | None:
        """Share of the workloads' requests that fail (what today's tools gate on)."""


def _threshold_check(gate: str, cluster: str, value: float | None, limit: float, what: str) -> GateResult:
    if value is None:
        return GateResult(gate, cluster, "no-data", None, limit, f"no fresh {what}")
    status: Status = "fail" if value > limit else "pass"
    return GateResult(gate, cluster, status, value, limit, f"{what} {value:.3g} (threshold {limit:.3g})")


def _worst_over_levels(signals: Signals, metric: str, cluster: str, *, rate: bool = False,
                       denominator: str | None = None, **labels: str) -> tuple[float | None, str]:
    """Highest value of ``metric`` over the limited priority levels (None when none reads)."""
    worst: float | None = None
    where = ""
    for level in LIMITED_LEVELS:
        read = signals.rate if rate else signals.value
        v = read(metric, cluster, priority_level=level, **labels)
        if v is None:
            continue
        if denominator is not None:
            d = signals.value(denominator, cluster, priority_level=level)
            if not d:
                continue
            v = v / d
        if worst is None or v > worst:
            worst, where = v, level
    return worst, where


def evaluate(spec: GateSpec, signals: Signals, cluster: str) -> GateResult:
    """Evaluate a (non-projection) gate on one cluster."""
    k, limit = spec.kind, spec.limit
    if k == "apiserver_p99_latency":
        v = signals.value("apiserver_request_duration_seconds", cluster, scope="resource", quantile="0.99")
        return _threshold_check(k, cluster, v, limit, "p99 latency of single-object requests (s)")
    if k == "apiserver_rejections":
        v, level = _worst_over_levels(signals, "apiserver_flowcontrol_rejected_requests_total", cluster, rate=True)
        return _threshold_check(k, cluster, v, limit, f"429s per second at {level or 'any level'}")
    if k == "apf_seat_utilisation":
        v, level = _worst_over_levels(signals, "apiserver_flowcontrol_current_executing_seats", cluster,
                                      denominator="apiserver_flowcontrol_nominal_limit_seats")
        return _threshold_check(k, cluster, v, limit, f"seats in use / nominal at {level or 'any level'}")
    if k == "apf_queue_wait":
        v, level = _worst_over_levels(signals, "apiserver_flowcontrol_request_wait_duration_seconds", cluster,
                                      quantile="0.99")
        return _threshold_check(k, cluster, v, limit, f"p99 APF queue wait (s) at {level or 'any level'}")
    if k == "apiserver_memory":
        used = signals.value("process_resident_memory_bytes", cluster)
        cap = signals.memory_limit_bytes(cluster)
        v = used / cap if used is not None and cap else None
        return _threshold_check(k, cluster, v, limit, "apiserver memory / limit")
    if k == "etcd_p99_latency":
        v = signals.value("etcd_request_duration_seconds", cluster, quantile="0.99")
        return _threshold_check(k, cluster, v, limit, "etcd p99 request latency (s)")
    if k == "dns_probe":
        return _threshold_check(k, cluster, signals.dns_probe_failure_ratio(cluster), limit,
                                "share of cache-bypassing DNS probes failing")
    if k == "coredns_api_errors":
        v = signals.rate("coredns_kubernetes_rest_client_requests_total", cluster, code="5xx")
        return _threshold_check(k, cluster, v, limit, "CoreDNS → API errors per second")
    if k == "workload_error_rate":
        return _threshold_check(k, cluster, signals.workload_error_ratio(cluster), limit, "workload error ratio")
    raise ValueError(f"gate {k!r} is not evaluated per cluster")


def evaluate_projection(spec: GateSpec, profiles: list[RequestProfile], clusters: list[Cluster],
                        shares: dict[str, float]) -> list[GateResult]:
    """Project the measured ``profiles`` onto the next wave: each cluster at its target node
    ``share``. Fails a cluster whose projected level utilisation exceeds the threshold — before
    the change reaches it. No measured profile is no-data."""
    limit = spec.limit
    if not profiles:
        return [GateResult("projection", c.name, "no-data", None, limit, "no measured request profile yet")
                for c in clusters]
    out = []
    for c in clusters:
        share = shares.get(c.name, 0.0)
        worst = None
        for p in profiles:
            load = project(p, c, node_share=share)
            if worst is None or load.level_utilisation > worst.level_utilisation:
                worst = load
        v = worst.level_utilisation
        status: Status = "fail" if v > limit else "pass"
        out.append(GateResult("projection", c.name, status, v, limit,
                              f"projected {worst.priority_level} utilisation {v:.2f} at {share:.0%} of "
                              f"{c.nodes:,} nodes (storm {worst.storm_drain_s:.0f} s; threshold {limit:.2f})"))
    return out


def describe(kind: str) -> str:
    return GATE_KINDS[kind][0]
