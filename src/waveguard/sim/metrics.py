"""Per-step outputs under the names real components expose (domain.md §5), so a gate reads the
simulator and a real Prometheus the same way.

Conventions (as Prometheus):

* gauges are instantaneous values; counters (``*_total``) are cumulative — :meth:`series`
  returns the running total, :meth:`rate` the per-second increase;
* quantiles are exposed summary-style, with a ``quantile="0.99"`` label;
* apiserver figures are per cluster: counters and seats summed over its replicas,
  ``process_resident_memory_bytes`` the fullest replica; the wait/latency quantiles combine the
  cluster-wide queue wait with the slowest replica's service time. There is no ``instance``
  label.

``waveguard_sim_*`` series have no real counterpart (ground truth a real cluster does not expose:
the workloads' error ratio, the rollout's progress).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Kind = Literal["gauge", "counter"]
#: Response codes ``apiserver_request_total`` is broken down by: 429 (APF, or a watch cache that
#: is not ready), 409 (an UPDATE's conflict: sim.phases.conflicts) and 500 (a request that waited
#: etcd's request timeout for a leader: "etcdserver: request timed out", sim.phases.etcd).
CODES = ("429", "409", "500")


@dataclass(frozen=True)
class MetricSpec:
    """A metric: its name, kind, the label it is broken down by (if any), and help text."""

    name: str
    kind: Kind
    label: str | None
    help: str
    fixed_labels: tuple[tuple[str, str], ...] = ()


#: Every series the simulator records. ``label`` names the dimension of the stored array.
METRICS: dict[str, MetricSpec] = {m.name: m for m in (
    MetricSpec("apiserver_flowcontrol_current_executing_seats", "gauge", "priority_level",
               "Seats in use by executing requests (all replicas)."),
    MetricSpec("apiserver_flowcontrol_current_inqueue_requests", "gauge", "priority_level",
               "Requests waiting in APF queues (all replicas)."),
    MetricSpec("apiserver_flowcontrol_current_limit_seats", "gauge", "priority_level",
               "Current concurrency limit after borrowing (all replicas up)."),
    MetricSpec("apiserver_flowcontrol_nominal_limit_seats", "gauge", "priority_level",
               "Nominal concurrency limit (all replicas up)."),
    MetricSpec("apiserver_flowcontrol_rejected_requests_total", "counter", "priority_level",
               "Requests rejected with 429 (queue full, queue time-out, concurrency limit)."),
    MetricSpec("apiserver_flowcontrol_dispatched_requests_total", "counter", "priority_level",
               "Requests dispatched to execute."),
    MetricSpec("apiserver_flowcontrol_request_wait_duration_seconds", "gauge", "priority_level",
               "p99 time requests wait in APF queues (cluster-wide).", (("quantile", "0.99"),)),
    MetricSpec("apiserver_request_duration_seconds", "gauge", "scope",
               "p99 request latency by scope (resource = single object; slowest replica's service time).",
               (("quantile", "0.99"),)),
    MetricSpec("apiserver_request_total", "counter", "code",
               "Requests answered 429 (APF, a watch cache not ready), 409 (UPDATE conflicts), 500 (etcd had no leader)."),
    MetricSpec("apiserver_current_inflight_requests", "gauge", None, "Requests executing (all replicas)."),
    MetricSpec("process_resident_memory_bytes", "gauge", "instance", "Resident memory per apiserver replica."),
    MetricSpec("up", "gauge", "instance", "1 when the apiserver replica is up.", (("job", "apiserver"),)),
    MetricSpec("coredns_dns_requests_total", "counter", None, "Lookups reaching CoreDNS."),
    MetricSpec("coredns_dns_responses_total", "counter", None, "CoreDNS SERVFAIL answers.",
               (("rcode", "SERVFAIL"),)),
    MetricSpec("waveguard_sim_dns_client_failure_ratio", "gauge", None,
               "Share of the workloads' lookups that fail (after client and node-local caches)."),
    MetricSpec("waveguard_sim_workload_error_ratio", "gauge", None,
               "Share of user requests failing (DNS failures and API dependence)."),
    MetricSpec("waveguard_sim_rollout_share", "gauge", None, "Share of the cluster's nodes running the change."),
    MetricSpec("waveguard_sim_apiserver_cpu_demand_ratio", "gauge", None,
               "CPU demand / cores of the busiest apiserver replica."),
    MetricSpec("waveguard_sim_apiserver_memory_limit_bytes", "gauge", None, "Memory limit of one replica."),
    MetricSpec("waveguard_sim_rollback_pending_requests", "gauge", None,
               "Requests of the cluster's rollback not yet served (0: none running, or completed)."),
    MetricSpec("waveguard_sim_rollback_rejected_requests_total", "counter", None,
               "The rollback's attempts answered 429."),
    MetricSpec("waveguard_sim_rollback_failed_requests_total", "counter", None,
               "The rollback's attempts that failed otherwise: no apiserver up, replica died, timed out."),
    # issue 12: fairness, clients, writes — etcd as a component, clients' retries
    MetricSpec("etcd_network_client_grpc_sent_bytes_total", "counter", None,
               "The total number of bytes sent to grpc clients (range responses to kube-apiserver)."),
    MetricSpec("etcd_server_leader_changes_seen_total", "counter", None, "The number of leader changes seen."),
    MetricSpec("etcd_disk_wal_fsync_duration_seconds", "gauge", None,
               "p99 latency of fsync called by WAL (healthy disk: ETCD_WAL_FSYNC_S).", (("quantile", "0.99"),)),
    MetricSpec("etcd_request_duration_seconds", "gauge", None,
               "p99 of kube-apiserver's etcd requests: a write's commit or the slowest range wait.",
               (("quantile", "0.99"),)),
    MetricSpec("waveguard_sim_etcd_commits_total", "counter", None, "Writes etcd committed (one WAL fsync each)."),
    MetricSpec("waveguard_sim_etcd_memory_bytes", "gauge", None, "Resident memory of one etcd member."),
    MetricSpec("waveguard_sim_client_retries_total", "counter", None,
               "Requests clients re-sent after a 429 (each also counted where it was answered)."),
)}

_SUM_OVER_INSTANCES = {"process_resident_memory_bytes": "max", "up": "sum"}


def _takes_max(spec: MetricSpec) -> bool:
    """Aggregated over its label by the max (quantiles, memory) rather than the sum."""
    how = _SUM_OVER_INSTANCES.get(spec.name, "max" if "quantile" in dict(spec.fixed_labels) else "sum")
    return how == "max"


class MetricStore:
    """Preallocated per-step storage. All series of a step form one frame ``(K, C)``: K rows
    (one per metric, or one per label value) × clusters; frames are kept as float32
    ``(T, K, C)``. ``arrays[name]`` is a view ``(T, C)`` or ``(T, X, C)`` of one metric.

    A writer fills :attr:`frame` (float64, rows from :attr:`rows`), sets ``times[n]`` and calls
    :meth:`commit`."""

    def __init__(self, n_clusters: int, dims: dict[str, int], capacity: int) -> None:
        self.n = 0
        self._cap = max(1, capacity)
        self.rows: dict[str, slice] = {}
        k = 0
        # Counters first: only their rows need running totals.
        ordered = sorted(METRICS.items(), key=lambda kv: kv[1].kind != "counter")
        for name, spec in ordered:
            if name in _STATIC:
                continue
            width = 1 if spec.label is None else dims[spec.label]
            self.rows[name] = slice(k, k + width)
            k += width
        self.frame = np.zeros((k, n_clusters))
        self.frames = np.zeros((self._cap, k, n_clusters), dtype=np.float32)
        self.times = np.zeros(self._cap, dtype=np.float64)
        #: Running totals (float64) of every row, so a counter's latest value costs O(1).
        self._n_counter_rows = max((sl.stop for n, sl in self.rows.items() if METRICS[n].kind == "counter"), default=0)
        self._total = np.zeros((k, n_clusters))
        self.totals = {name: self._total[sl] if METRICS[name].label else self._total[sl.start]
                       for name, sl in self.rows.items() if METRICS[name].kind == "counter"}  # (C,) or (X, C)
        self._views()

    def _views(self) -> None:
        self.arrays = {name: self.frames[:, sl, :] if METRICS[name].label else self.frames[:, sl.start, :]
                       for name, sl in self.rows.items()}

    @property
    def capacity(self) -> int:
        return self._cap

    def commit(self) -> None:
        """Store the frame being written as step ``n``."""
        self.frames[self.n] = self.frame
        k = self._n_counter_rows
        self._total[:k] += self.frame[:k]
        self.n += 1

    def grow(self) -> None:
        self._cap *= 2
        self.times = np.resize(self.times, self._cap)
        frames = np.zeros((self._cap,) + self.frames.shape[1:], dtype=self.frames.dtype)
        frames[: self.n] = self.frames[: self.n]
        self.frames = frames
        self._views()


#: Metrics computed from the configuration rather than stored per step.
_STATIC = {"apiserver_flowcontrol_nominal_limit_seats", "waveguard_sim_apiserver_memory_limit_bytes"}


@dataclass
class LabelSpace:
    """Label values of each broken-down dimension."""

    priority_level: list[str]
    scope: list[str]
    instance: list[str]
    code: list[str] = field(default_factory=lambda: list(CODES))


class SeriesReader:
    """Read metrics by name, cluster and labels from stored arrays (shared by the live
    simulator's :meth:`FleetSimulator.metrics` and :class:`SimulationResult`)."""

    def __init__(self, store: MetricStore, clusters: list[str], labels: LabelSpace, static: dict[str, np.ndarray],
                 step_s: float) -> None:
        self._store = store
        self.clusters = list(clusters)
        self._index = {c: i for i, c in enumerate(clusters)}
        self.labels = labels
        self._static = static
        self.step_s = step_s

    @property
    def times(self) -> np.ndarray:
        """Simulated seconds at the end of each recorded step, shape (T,)."""
        return self._store.times[: self._store.n]

    @property
    def static(self) -> dict[str, np.ndarray]:
        """Metrics computed from the configuration, not stored per step: name → ``(..., C)``."""
        return self._static

    def cluster_index(self, cluster: str) -> int:
        try:
            return self._index[cluster]
        except KeyError:
            raise KeyError(f"no cluster named {cluster!r}") from None

    def series(self, metric: str, cluster: str, **labels: str) -> np.ndarray:
        """Values of ``metric`` on ``cluster`` at every recorded step, shape (T,), float64.

        Counters come back cumulative (as Prometheus stores them). Without its breakdown label
        a metric is aggregated over priority levels/scopes: summed, except quantiles (the max).
        Raises KeyError for an unknown metric, cluster or label value."""
        spec = _spec(metric)
        _check_fixed(spec, labels)
        c = self.cluster_index(cluster)
        raw = self._raw(spec, c, labels)
        return np.cumsum(raw, dtype=np.float64) if spec.kind == "counter" else raw.astype(np.float64)

    def rate(self, metric: str, cluster: str, **labels: str) -> np.ndarray:
        """Per-second increase of a counter at every step, shape (T,)."""
        spec = _spec(metric)
        if spec.kind != "counter":
            raise KeyError(f"{metric} is a gauge; rate() needs a counter")
        _check_fixed(spec, labels)
        return self._raw(spec, self.cluster_index(cluster), labels).astype(np.float64) / self.step_s

    def last(self, metric: str, cluster: str, **labels: str) -> float:
        """The latest value (counters: the cumulative total) in O(1)."""
        spec = _spec(metric)
        _check_fixed(spec, labels)
        c = self.cluster_index(cluster)
        if self._store.n == 0:
            return 0.0
        if spec.kind == "counter":
            total = self._store.totals[spec.name][..., c]
            return float(total if spec.label is None else
                         total[self._label_index(spec, labels[spec.label])] if spec.label in labels else total.sum())
        return float(self._raw(spec, c, labels, last_only=True)[-1])

    def latest(self, metric: str, **labels: str) -> np.ndarray:
        """The latest value of ``metric`` on every cluster at once, shape (C,), float64 — gates
        over a large fleet read one vector instead of a value per cluster. Counters give the
        cumulative total; aggregation as :meth:`series`. KeyError for unknown names/labels."""
        spec = _spec(metric)
        _check_fixed(spec, labels)
        n = self._store.n
        if spec.kind == "counter" or spec.name in self._static:
            source = self._store.totals[spec.name] if spec.kind == "counter" else self._static[spec.name]
            values = np.asarray(source, dtype=np.float64)
        elif n == 0:
            return np.zeros(len(self.clusters))
        else:
            values = np.asarray(self._store.arrays[spec.name][n - 1], dtype=np.float64)
        if spec.label is None or values.ndim == 1:
            return values
        # labelled metrics are stored (X, C): label first, clusters last
        if spec.label in labels:
            return values[self._label_index(spec, labels[spec.label])]
        return values.max(axis=0) if _takes_max(spec) else values.sum(axis=0)

    def window_rate(self, metric: str, window_s: float, **labels: str) -> np.ndarray:
        """Per-second increase of a counter over the last ``window_s`` seconds on every cluster,
        shape (C,) — Prometheus's ``rate(metric[window])``. Depends only on the recorded history
        (not on earlier calls), so a replayed simulation reads the same."""
        spec = _spec(metric)
        if spec.kind != "counter":
            raise KeyError(f"{metric} is a gauge; window_rate() needs a counter")
        _check_fixed(spec, labels)
        n = self._store.n
        if spec.name in self._static or n == 0:
            return np.zeros(len(self.clusters))
        k = max(1, min(n, int(round(window_s / self.step_s))))
        increments = np.asarray(self._store.arrays[spec.name][n - k:n], dtype=np.float64).sum(axis=0)
        if spec.label is not None:
            increments = (increments[self._label_index(spec, labels[spec.label])] if spec.label in labels
                          else increments.sum(axis=0))
        return increments / (k * self.step_s)

    def _raw(self, spec: MetricSpec, c: int, labels: dict[str, str], last_only: bool = False) -> np.ndarray:
        n = self._store.n
        start = n - 1 if last_only else 0
        if spec.name in self._static:
            values = self._static[spec.name][..., c]
            if spec.label is None:
                return np.full(n - start, values, dtype=np.float64)
            return np.full(n - start, values[self._label_index(spec, labels[spec.label])] if spec.label in labels
                           else values.sum(), dtype=np.float64)
        arr = self._store.arrays[spec.name][start:n, ..., c]
        if spec.label is None:
            return arr
        if spec.label in labels:
            return arr[:, self._label_index(spec, labels[spec.label])]
        return arr.max(axis=1) if _takes_max(spec) else arr.sum(axis=1)

    def _label_index(self, spec: MetricSpec, value: str) -> int:
        if spec.label is None:
            raise KeyError(f"{spec.name} has no breakdown label")
        values = getattr(self.labels, spec.label)
        try:
            return values.index(str(value))
        except ValueError:
            raise KeyError(f"{spec.name}: no {spec.label}={value!r} (have {values})") from None


def _spec(metric: str) -> MetricSpec:
    try:
        return METRICS[metric]
    except KeyError:
        raise KeyError(f"unknown metric {metric!r}; known: {sorted(METRICS)}") from None


def _check_fixed(spec: MetricSpec, labels: dict[str, str]) -> None:
    allowed = {k for k, _ in spec.fixed_labels} | ({spec.label} if spec.label else set())
    for key, value in labels.items():
        if key not in allowed:
            raise KeyError(f"{spec.name} has no label {key!r} (labels: {sorted(allowed)})")
        fixed = dict(spec.fixed_labels).get(key)
        if fixed is not None and str(value) != fixed:
            raise KeyError(f"{spec.name}: the simulator records {key}={fixed!r} only")


@dataclass
class Snapshot:
    """The latest values of every metric, per cluster (see :meth:`FleetSimulator.metrics`)."""

    time_s: float
    reader: SeriesReader

    def value(self, metric: str, cluster: str, **labels: str) -> float:
        """The last recorded value (counters: cumulative total). KeyError for unknown names."""
        return self.reader.last(metric, cluster, **labels)

    def rate(self, metric: str, cluster: str, **labels: str) -> float:
        """The last step's per-second increase of a counter."""
        spec = _spec(metric)
        if spec.kind != "counter":
            raise KeyError(f"{metric} is a gauge; rate() needs a counter")
        _check_fixed(spec, labels)
        raw = self.reader._raw(spec, self.reader.cluster_index(cluster), labels, last_only=True)
        return float(raw[-1]) / self.reader.step_s if len(raw) else 0.0
