"""The exporter's view of the simulator: immutable snapshots of counters, gauges and histograms.

:class:`SnapshotTaker` runs in the thread that steps the simulator. Each call turns the steps
recorded since the last one into histogram observations (the scheme is in the package docstring:
``dispatched`` requests spread over the buckets as an exponential whose p99 is the simulator's)
and returns a :class:`Snapshot`, which the HTTP and DNS threads read without locks.

Array shapes: C clusters, L priority levels, S scopes, B bucket bounds, k new steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from waveguard.sim.engine import FleetSimulator

#: kube-apiserver's ``apiserver_request_duration_seconds`` buckets (seconds), as exposed by
#: v1.35 (``../shared/inputs/metrics/kube-apiserver-v1.35-nri-kubernetes.prom``).
REQUEST_DURATION_BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0,
                            6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0)
#: ``apiserver_flowcontrol_request_wait_duration_seconds`` buckets (seconds), same source.
WAIT_DURATION_BUCKETS = (0.0, 0.005, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0)
#: ``etcd_disk_wal_fsync_duration_seconds`` buckets (seconds): etcd's ExponentialBuckets(0.001, 2, 14),
#: as etcd exposes them (``../shared/inputs/metrics/etcd-v1.35-nri-kubernetes.prom``).
FSYNC_DURATION_BUCKETS = tuple(0.001 * 2.0 ** k for k in range(14))
#: ln(100): an exponential with p99 q has rate ln(100) / q, hence mean q / ln(100).
LN100 = math.log(100.0)

#: Gauges per priority level, (L, C) in the snapshot.
GAUGES_PER_LEVEL = ("apiserver_flowcontrol_current_executing_seats", "apiserver_flowcontrol_current_inqueue_requests",
                    "apiserver_flowcontrol_current_limit_seats", "apiserver_flowcontrol_nominal_limit_seats")
#: Counters per priority level, (L, C) in the snapshot.
COUNTERS_PER_LEVEL = ("apiserver_flowcontrol_rejected_requests_total",
                      "apiserver_flowcontrol_dispatched_requests_total")
#: Counters per cluster, (C,) in the snapshot.
COUNTERS_PER_CLUSTER = ("apiserver_request_total", "coredns_dns_requests_total", "coredns_dns_responses_total",
                        "etcd_network_client_grpc_sent_bytes_total", "etcd_server_leader_changes_seen_total")
#: The simulator's ground truth, (C,) gauges served on the ``waveguard-sim`` target.
SIM_GAUGES = ("waveguard_sim_workload_error_ratio", "waveguard_sim_dns_client_failure_ratio",
              "waveguard_sim_rollout_share", "waveguard_sim_apiserver_cpu_demand_ratio",
              "waveguard_sim_apiserver_memory_limit_bytes")


def exponential_cdf(bounds: tuple[float, ...] | np.ndarray, p99: np.ndarray) -> np.ndarray:
    """Share of observations ≤ each bucket bound for an exponential distribution with the given
    p99 (seconds). ``p99`` any shape; result ``p99.shape + (len(bounds),)``. p99 ≤ 0: all
    observations at 0."""
    p99_s = np.asarray(p99, dtype=np.float64)[..., None]
    bounds_s = np.asarray(bounds, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        cdf = 1.0 - np.exp(-LN100 * bounds_s / np.where(p99_s > 0, p99_s, 1.0))
    return np.where(p99_s > 0, cdf, np.where(bounds_s >= 0, 1.0, 0.0))


@dataclass(frozen=True)
class Snapshot:
    """Everything the HTTP/DNS threads need, fixed at one simulated instant."""

    version: int
    time_s: float
    up: np.ndarray                       # (C,) replicas up
    gauges: dict[str, np.ndarray]        # name → (C,) or (L, C)
    counters: dict[str, np.ndarray]      # name → (C,) or (L, C), since attach
    latency_buckets: np.ndarray          # (S, C, B) cumulative counts per scope
    latency_sum: np.ndarray              # (S, C) seconds
    latency_count: np.ndarray            # (S, C) requests
    wait_buckets: np.ndarray             # (L, C, B)
    wait_sum: np.ndarray                 # (L, C) seconds
    wait_count: np.ndarray               # (L, C) requests
    dns_fail_ratio: np.ndarray           # (C,) latest step's SERVFAIL share
    etcd: dict[str, np.ndarray] | None = None  # issue 12: "<histogram>_buckets" (1, C, B), "_sum", "_count" (1, C)


class Histogram:
    """Cumulative observations of one histogram family: ``buckets`` (X, C, B) counts ≤ each
    bound, ``sums`` (X, C) seconds, ``counts`` (X, C) requests; X series per cluster."""

    def __init__(self, series: int, clusters: int, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.buckets = np.zeros((series, clusters, len(bounds)))
        self.sums = np.zeros((series, clusters))
        self.counts = np.zeros((series, clusters))

    def observe(self, requests: np.ndarray, p99_s: np.ndarray) -> None:
        """Add ``requests`` (k, X, C) observations per step, each step's exponentially
        distributed with the p99 ``p99_s`` (k, X, C) seconds."""
        self.buckets += (requests[..., None] * exponential_cdf(self.bounds, p99_s)).sum(axis=0)
        self.sums += (requests * p99_s / LN100).sum(axis=0)
        self.counts += requests.sum(axis=0)


class SnapshotTaker:
    """Reads ``sim`` (its recorded steps, totals and latest gauges) into :class:`Snapshot`\\ s.
    Counters start at 0 when the taker is created (the exporter attaches)."""

    def __init__(self, sim: FleetSimulator, levels: list[str], scopes: list[str]) -> None:
        self.sim = sim
        self.levels = levels
        clusters = len(sim.cluster_names)
        self._next_step = sim.store.n  # first step not yet turned into observations
        self._counter_base = {name: np.array(sim.store.totals[name], dtype=np.float64)
                              for name in COUNTERS_PER_LEVEL + COUNTERS_PER_CLUSTER}
        self.latency = Histogram(len(scopes), clusters, REQUEST_DURATION_BUCKETS)
        self.wait = Histogram(len(levels), clusters, WAIT_DURATION_BUCKETS)
        # issue 12: etcd's WAL fsync and kube-apiserver's etcd requests, one observation per commit
        self.fsync = Histogram(1, clusters, FSYNC_DURATION_BUCKETS)
        self.etcd_request = Histogram(1, clusters, REQUEST_DURATION_BUCKETS)
        self._version = 0

    def take(self) -> Snapshot:
        """Observe the steps recorded since the last call and return the new snapshot."""
        self._observe_new_steps()
        self._version += 1
        latency, wait = self.latency, self.wait
        return Snapshot(
            version=self._version, time_s=self.sim.time_s, up=self._replicas_up(), gauges=self._gauges(),
            counters=self._counters(), latency_buckets=latency.buckets.copy(), latency_sum=latency.sums.copy(),
            latency_count=latency.counts.copy(), wait_buckets=wait.buckets.copy(), wait_sum=wait.sums.copy(),
            wait_count=wait.counts.copy(), dns_fail_ratio=self._dns_fail_ratio(), etcd=self._etcd())

    def _observe_new_steps(self) -> None:
        store = self.sim.store
        recorded = store.n
        if recorded <= self._next_step:
            return
        steps = slice(self._next_step, recorded)
        arrays = store.arrays
        dispatched = np.asarray(arrays["apiserver_flowcontrol_dispatched_requests_total"][steps], dtype=np.float64)
        wait_p99 = np.asarray(arrays["apiserver_flowcontrol_request_wait_duration_seconds"][steps], dtype=np.float64)
        latency_p99 = np.asarray(arrays["apiserver_request_duration_seconds"][steps], dtype=np.float64)
        # The wait is per level (k, L, C); the latency per scope (k, S, C) over all dispatched requests.
        self.wait.observe(dispatched, wait_p99)
        all_levels = dispatched.sum(axis=1)  # (k, C)
        self.latency.observe(np.broadcast_to(all_levels[:, None, :], latency_p99.shape), latency_p99)
        commits = np.asarray(arrays["waveguard_sim_etcd_commits_total"][steps], dtype=np.float64)[:, None, :]
        self.fsync.observe(commits, np.asarray(arrays["etcd_disk_wal_fsync_duration_seconds"][steps],
                                               dtype=np.float64)[:, None, :])
        self.etcd_request.observe(commits, np.asarray(arrays["etcd_request_duration_seconds"][steps],
                                                      dtype=np.float64)[:, None, :])
        self._next_step = recorded

    def _replicas_up(self) -> np.ndarray:
        store = self.sim.store
        if not store.n:
            return np.zeros(len(self.sim.cluster_names))
        return np.asarray(store.arrays["up"][store.n - 1], dtype=np.float64).sum(axis=0)

    def _gauges(self) -> dict[str, np.ndarray]:
        reader = self.sim.reader
        gauges = {name: np.stack([reader.latest(name, priority_level=level) for level in self.levels])
                  for name in GAUGES_PER_LEVEL}
        gauges |= {name: reader.latest(name) for name in SIM_GAUGES}
        gauges["process_resident_memory_bytes"] = reader.latest("process_resident_memory_bytes")
        return gauges

    def _counters(self) -> dict[str, np.ndarray]:
        totals = self.sim.store.totals
        return {name: np.asarray(totals[name], dtype=np.float64) - self._counter_base[name]
                for name in COUNTERS_PER_LEVEL + COUNTERS_PER_CLUSTER}

    def _dns_fail_ratio(self) -> np.ndarray:
        store = self.sim.store
        if not store.n:
            return np.zeros(len(self.sim.cluster_names))
        asked = np.asarray(store.arrays["coredns_dns_requests_total"][store.n - 1], dtype=np.float64)
        failed = np.asarray(store.arrays["coredns_dns_responses_total"][store.n - 1], dtype=np.float64)
        return np.where(asked > 0, np.minimum(1.0, failed / np.maximum(asked, 1e-12)), 0.0)

    def _etcd(self) -> dict[str, np.ndarray]:
        """The etcd histograms' cumulative buckets, sums and counts (issue 12)."""
        out: dict[str, np.ndarray] = {}
        for name, hist in (("fsync", self.fsync), ("etcd_request", self.etcd_request)):
            out[f"{name}_buckets"], out[f"{name}_sum"], out[f"{name}_count"] = \
                hist.buckets.copy(), hist.sums.copy(), hist.counts.copy()
        return out
