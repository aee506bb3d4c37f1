"""The metric families of each served component, with the real components' names and labels.

One builder per component (path segment = Prometheus job): kube-apiserver, CoreDNS,
kube-state-metrics and ``waveguard-sim`` (ground truth with no real counterpart). Each reads
one cluster's column ``c`` of a :class:`~waveguard.sim.exporter.snapshot.Snapshot`; help texts
are the real components' (kube-apiserver's shortened), from ``../shared/inputs/metrics/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from waveguard.sim.metrics import CODES
from waveguard.sim.exporter.snapshot import (
    FSYNC_DURATION_BUCKETS, GAUGES_PER_LEVEL, REQUEST_DURATION_BUCKETS, SIM_GAUGES, WAIT_DURATION_BUCKETS, Snapshot,
)

#: The components served per cluster (path segment = Prometheus job name).
COMPONENTS = ("apiserver", "coredns", "kube-state-metrics", "waveguard-sim", "etcd")

#: Help texts as kube-apiserver exposes them (shortened).
_LEVEL_GAUGE_HELP = {
    "apiserver_flowcontrol_current_executing_seats": "[BETA] Concurrency (number of seats) occupied by the currently executing requests in the API Priority and Fairness subsystem",
    "apiserver_flowcontrol_current_inqueue_requests": "[BETA] Number of requests currently pending in queues of the API Priority and Fairness subsystem",
    "apiserver_flowcontrol_current_limit_seats": "[ALPHA] current derived number of execution seats available to each priority level",
    "apiserver_flowcontrol_nominal_limit_seats": "[BETA] Nominal number of execution seats configured for each priority level",
}
_LEVEL_COUNTER_HELP = {
    "apiserver_flowcontrol_rejected_requests_total": "[BETA] Number of requests rejected by API Priority and Fairness subsystem",
    "apiserver_flowcontrol_dispatched_requests_total": "[BETA] Number of requests executed by API Priority and Fairness subsystem",
}
_REQUEST_HELP = "[STABLE] Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code."
_LATENCY_HELP = "[STABLE] Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component."
_WAIT_HELP = "[BETA] Length of time a request spent waiting in its queue"
_ETCD_REQUEST_HELP = "[ALPHA] Etcd request latency in seconds for each operation and object type."


@dataclass(frozen=True)
class FleetLayout:
    """What the served series are labelled by: the priority level names (L), the request scopes
    (S) and each cluster's kube-apiserver replica count (C)."""

    levels: list[str]
    scopes: list[str]
    replicas: list[int]


def render(component: str, snapshot: Snapshot, c: int, layout: FleetLayout) -> bytes:
    """The text exposition of ``component`` for cluster index ``c``. KeyError for an unknown
    component."""
    build = _BUILDERS[component]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(lambda: build(snapshot, c, layout)))
    return generate_latest(registry)


def apiserver_families(s: Snapshot, c: int, layout: FleetLayout) -> Iterator[Metric]:
    """kube-apiserver: APF gauges and counters per level, 429s, latency and wait histograms,
    resident memory (bytes)."""
    for name in GAUGES_PER_LEVEL:
        gauge = GaugeMetricFamily(name, _LEVEL_GAUGE_HELP[name], labels=["priority_level"])
        for i, level in enumerate(layout.levels):
            gauge.add_metric([level], float(s.gauges[name][i, c]))
        yield gauge
    for name, doc in _LEVEL_COUNTER_HELP.items():
        counter = CounterMetricFamily(name[: -len("_total")], doc, labels=["priority_level"])
        for i, level in enumerate(layout.levels):
            counter.add_metric([level], float(s.counters[name][i, c]))
        yield counter
    counter = CounterMetricFamily("apiserver_request", _REQUEST_HELP, labels=["code"])
    for i, code in enumerate(CODES):  # 429s, 409s and 500s
        counter.add_metric([code], float(s.counters["apiserver_request_total"][i, c]))
    yield counter
    yield histogram("apiserver_request_duration_seconds", _LATENCY_HELP, ["component", "scope"],
                    [["apiserver", scope] for scope in layout.scopes], REQUEST_DURATION_BUCKETS,
                    s.latency_buckets[:, c], s.latency_count[:, c], s.latency_sum[:, c])
    yield histogram("apiserver_flowcontrol_request_wait_duration_seconds", _WAIT_HELP, ["execute", "priority_level"],
                    [["true", level] for level in layout.levels], WAIT_DURATION_BUCKETS,
                    s.wait_buckets[:, c], s.wait_count[:, c], s.wait_sum[:, c])
    gauge = GaugeMetricFamily("process_resident_memory_bytes", "Resident memory size in bytes.")
    gauge.add_metric([], float(s.gauges["process_resident_memory_bytes"][c]))
    yield gauge
    if s.etcd is not None:  # kube-apiserver's own histogram of its etcd requests (the etcd gate reads it)
        yield histogram("etcd_request_duration_seconds", _ETCD_REQUEST_HELP, ["operation"], [["update"]],
                        REQUEST_DURATION_BUCKETS, s.etcd["etcd_request_buckets"][:, c],
                        s.etcd["etcd_request_count"][:, c], s.etcd["etcd_request_sum"][:, c])


def etcd_families(s: Snapshot, c: int, layout: FleetLayout) -> Iterator[Metric]:
    """etcd (issue 12): bytes sent to its gRPC clients (range responses), leader changes and the
    WAL fsync histogram, under etcd's own names and help texts."""
    for name, doc in (("etcd_network_client_grpc_sent_bytes_total", "The total number of bytes sent to grpc clients."),
                      ("etcd_server_leader_changes_seen_total", "The number of leader changes seen.")):
        counter = CounterMetricFamily(name[: -len("_total")], doc)
        counter.add_metric([], float(s.counters[name][c]))
        yield counter
    if s.etcd is not None:
        yield histogram("etcd_disk_wal_fsync_duration_seconds", "The latency distributions of fsync called by WAL.",
                        [], [[]], FSYNC_DURATION_BUCKETS, s.etcd["fsync_buckets"][:, c], s.etcd["fsync_count"][:, c],
                        s.etcd["fsync_sum"][:, c])


def coredns_families(s: Snapshot, c: int, layout: FleetLayout) -> Iterator[Metric]:
    """CoreDNS: requests, and responses by rcode (the failed ones SERVFAIL)."""
    labels = ["server", "zone", "proto", "family", "type"]
    requests = CounterMetricFamily("coredns_dns_requests", "Counter of DNS requests made per zone, protocol and family.",
                                   labels=labels)
    asked = float(s.counters["coredns_dns_requests_total"][c])
    requests.add_metric(["dns://:53", ".", "udp", "1", "A"], asked)
    yield requests
    failed = float(s.counters["coredns_dns_responses_total"][c])
    responses = CounterMetricFamily("coredns_dns_responses", "Counter of response status codes.",
                                    labels=["server", "zone", "rcode"])
    responses.add_metric(["dns://:53", ".", "NOERROR"], max(0.0, asked - failed))
    responses.add_metric(["dns://:53", ".", "SERVFAIL"], failed)
    yield responses


def kube_state_metrics_families(s: Snapshot, c: int, layout: FleetLayout) -> Iterator[Metric]:
    """kube-state-metrics: the memory limit (bytes) of each kube-apiserver container."""
    gauge = GaugeMetricFamily("kube_pod_container_resource_limits",
                              "The number of requested limit resource by a container.",
                              labels=["namespace", "pod", "container", "resource", "unit"])
    limit = float(s.gauges["waveguard_sim_apiserver_memory_limit_bytes"][c])
    for replica in range(layout.replicas[c]):
        gauge.add_metric(["kube-system", f"kube-apiserver-{replica}", "kube-apiserver", "memory", "byte"], limit)
    yield gauge


def waveguard_sim_families(s: Snapshot, c: int, layout: FleetLayout) -> Iterator[Metric]:
    """The simulator's ground truth and its clock (simulated seconds)."""
    for name in SIM_GAUGES:
        gauge = GaugeMetricFamily(name, "waveguard simulator ground truth (no real counterpart)")
        gauge.add_metric([], float(s.gauges[name][c]))
        yield gauge
    gauge = GaugeMetricFamily("waveguard_sim_time_seconds", "Simulated seconds since the simulation started.")
    gauge.add_metric([], float(s.time_s))
    yield gauge


_BUILDERS: dict[str, Callable[[Snapshot, int, FleetLayout], Iterator[Metric]]] = {
    "apiserver": apiserver_families, "coredns": coredns_families,
    "kube-state-metrics": kube_state_metrics_families, "waveguard-sim": waveguard_sim_families,
    "etcd": etcd_families,
}


class _Families:
    """A prometheus-client collector yielding the families a function builds."""

    def __init__(self, build: Callable[[], Iterable[Metric]]) -> None:
        self._build = build

    def collect(self) -> Iterator[Metric]:
        yield from self._build()


def histogram(name: str, doc: str, labels: list[str], rows: list[list[str]], bounds: tuple[float, ...],
              buckets: np.ndarray, counts: np.ndarray, sums: np.ndarray) -> HistogramMetricFamily:
    """One histogram family, a series per row of label values (``buckets`` cumulative, one row each)."""
    family = HistogramMetricFamily(name, doc, labels=labels)
    for i, values in enumerate(rows):
        family.add_metric(values, _buckets(bounds, buckets[i], counts[i]), float(sums[i]))
    return family


def _buckets(bounds: tuple[float, ...], counts: np.ndarray, total: float) -> list[tuple[str, float]]:
    out = [(_le(bound), float(count)) for bound, count in zip(bounds, counts, strict=True)]
    out.append(("+Inf", float(total)))
    return out


def _le(bound: float) -> str:
    """A bucket bound as kube-apiserver writes it (Go's shortest form: ``0.005``, ``1``, ``60``)."""
    return f"{bound:g}"
