"""Gates: one small interface, each returns pass / fail / no-data with the figure and threshold.

A gate reads a :class:`Signals` source, which speaks the metric names real components expose
(domain.md §5): the simulator (``waveguard.sim``) and Prometheus implement it alike. No data,
stale data or an unreachable source is ``no-data``, which never passes: the engine pauses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from waveguard.model.apf import DEFAULT_PRIORITY_LEVELS
from waveguard.model.cost import baseline_memory_bytes, combined_storm_memory_bytes, priority_level_of, project
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


#: Gates that read kube-apiserver itself: with no replica up there is nothing to read, and that
#: is a failure (Prometheus records ``up == 0`` for the failed scrapes), not missing data.
APISERVER_GATES = frozenset({"apiserver_p99_latency", "apiserver_rejections", "apf_seat_utilisation",
                             "apf_queue_wait", "apiserver_memory"})


def evaluate(spec: GateSpec, signals: Signals, cluster: str) -> GateResult:
    """Evaluate a (non-projection) gate on one cluster. A no-data result says why when the
    source can (an optional ``signals.explain(cluster)``: Prometheus unreachable, stale...)."""
    result = _evaluate(spec, signals, cluster)
    explain = getattr(signals, "explain", None)
    if result.status == "no-data" and explain is not None:
        why = explain(cluster)
        if why:
            result = GateResult(result.gate, result.cluster, result.status, None, result.threshold,
                                f"{result.detail}: {why}")
    return result


def _evaluate(spec: GateSpec, signals: Signals, cluster: str) -> GateResult:
    k, limit = spec.kind, spec.limit
    if k in APISERVER_GATES and signals.value("up", cluster, job="apiserver") == 0:
        return GateResult(k, cluster, "fail", 0.0, limit, "no kube-apiserver replica is up (up == 0)")
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
    """Project the measured ``profiles`` onto the next wave, each cluster at its target node
    ``share``, with the cost model. Fails a cluster — before the change reaches it — whose
    projected priority-level utilisation exceeds the gate's threshold, or whose projected
    apiserver memory during the start-up storm exceeds the ``apiserver_memory`` gate's default
    (the storm is what a wave sets off). No measured profile is no-data."""
    limit = spec.limit
    memory_limit = GATE_KINDS["apiserver_memory"][1]
    if not profiles:
        return [GateResult("projection", c.name, "no-data", None, limit, "no measured request profile yet")
                for c in clusters]
    levels = [priority_level_of(p) for p in profiles]
    out = []
    for c in clusters:
        share = shares.get(c.name, 0.0)
        baseline = baseline_memory_bytes(c)
        loads = [project(p, c, node_share=share, level=lv, baseline_memory=baseline) for p, lv in zip(profiles, levels)]
        util = sum(l.level_utilisation for l in loads)  # workloads of one change share the level
        memory = combined_storm_memory_bytes(loads, baseline) / c.memory_limit_bytes
        where = f"at {share:.0%} of {c.nodes:,} nodes"
        if memory / memory_limit > util / limit:
            value, threshold, detail = memory, memory_limit, f"projected apiserver memory {memory:.0%} of its limit {where}"
        else:
            value, threshold = util, limit
            detail = f"projected {loads[0].priority_level} utilisation {util:.2f} {where} (memory {memory:.0%})"
        status: Status = "fail" if value > threshold else "pass"
        out.append(GateResult("projection", c.name, status, value, threshold, f"{detail}; threshold {threshold:.2f}"))
    return out

