"""What a simulation produced: the recorded series and the per-cluster summary.

Policy thresholds of the summary (not physics; a gate may choose others):

* a control plane is *saturated* from the first step of a run of ``SATURATION_SUSTAIN_S`` in
  which it keeps answering 429s (≥ 1 per second), or its p99 latency is over the SLO of
  domain.md §4 for some scope, or no apiserver replica is up;
* *DNS is failing* from the first step at which at least ``DNS_FAILING_RATIO`` of the
  workloads' lookups fail (after their caches);
* *customer impact* is the time the workloads' error ratio is at least ``IMPACT_ERROR_RATIO``.
"""

from __future__ import annotations

import math
from typing import Protocol, Sequence

import numpy as np
from pydantic import BaseModel

from waveguard.model import constants as C
from waveguard.model.fleet import Cluster
from waveguard.sim.metrics import SeriesReader
from waveguard.sim.rollback_record import RollbackRecord

#: Seconds a symptom must last to count as saturation (a typical alert's ``for: 1m``).
SATURATION_SUSTAIN_S = 60.0
#: 429s per second that count as "answering 429s".
SATURATION_MIN_REJECT_PER_S = 1.0
#: Share of failing lookups from which a cluster's DNS counts as failing: most lookups fail.
DNS_FAILING_RATIO = 0.5
#: Workload error ratio that counts as customer impact (a 99 % availability objective).
IMPACT_ERROR_RATIO = 0.01
#: What "saturated" means, in words, wherever a count or a chart of it is shown (:meth:`SimulationResult.saturated`).
SATURATED_MEANS = (f"a control plane is saturated while a run of at least {SATURATION_SUSTAIN_S:g} s lasts in which, "
                   f"at every step, it answers ≥ {SATURATION_MIN_REJECT_PER_S:g} 429/s, or a p99 latency is over its "
                   f"SLO (single object {C.SLO_SINGLE_OBJECT_S:g} s, namespace LIST {C.SLO_NAMESPACE_LIST_S:g} s, cluster "
                   f"LIST {C.SLO_CLUSTER_LIST_S:g} s), or no apiserver replica is up")


class ClusterSummary(BaseModel):
    """One row of the summary table. Times in simulated seconds from the start."""

    name: str
    nodes: int
    change_at_s: float | None
    saturated_at_s: float | None
    dns_failing_at_s: float | None
    peak_error_rate: float
    impact_minutes: float
    oom_kills: int


class RecordedRun(Protocol):
    """What a result reads of a simulator (:class:`~waveguard.sim.engine.FleetSimulator` is one)."""

    @property
    def reader(self) -> SeriesReader: ...

    @property
    def clusters(self) -> Sequence[Cluster]: ...

    @property
    def cluster_names(self) -> Sequence[str]: ...

    @property
    def oom_kills(self) -> np.ndarray: ...

    @property
    def rollbacks(self) -> list[RollbackRecord]: ...


class SimulationResult:
    """Series under real metric names (:meth:`series`, :meth:`rate`) and the summary.

    ``series(metric, cluster, **labels) -> np.ndarray`` of shape (T,) aligned with
    :attr:`times` (seconds); see :mod:`waveguard.sim.metrics` for names and labels.
    """

    def __init__(self, scenario: str, simulator: RecordedRun | None = None, *,
                 reader: SeriesReader | None = None, nodes: dict[str, int] | None = None,
                 oom_kills: dict[str, int] | None = None, rollbacks: list[RollbackRecord] | None = None) -> None:
        if simulator is not None:
            reader = simulator.reader
            nodes = {c.name: c.nodes for c in simulator.clusters}
            oom_kills = {n: int(k) for n, k in zip(simulator.cluster_names, simulator.oom_kills, strict=True)}
            rollbacks = simulator.rollbacks
        if reader is None or nodes is None or oom_kills is None:
            raise ValueError("give a simulator, or reader, nodes and oom_kills")
        self.scenario = scenario
        self.reader: SeriesReader = reader
        self.clusters = list(reader.clusters)
        self.nodes = nodes
        self.level_names = list(reader.labels.priority_level)
        self.step_s = reader.step_s
        self._oom = oom_kills
        #: Rollbacks sent through the simulated apiservers (:mod:`waveguard.sim.rollback`).
        self.rollbacks: list[RollbackRecord] = list(rollbacks or [])
        self._summary: list[ClusterSummary] | None = None

    @property
    def times(self) -> np.ndarray:
        return self.reader.times

    def series(self, metric: str, cluster: str, **labels: str) -> np.ndarray:
        """See :meth:`SeriesReader.series`. Raises KeyError for unknown names."""
        return self.reader.series(metric, cluster, **labels)

    def rate(self, metric: str, cluster: str, **labels: str) -> np.ndarray:
        return self.reader.rate(metric, cluster, **labels)

    def at(self, time_s: float) -> int:
        """Index of the step at (or just after) ``time_s``."""
        return min(len(self.times) - 1, int(np.searchsorted(self.times, time_s - 1e-9)))

    # --- summary -----------------------------------------------------------------------------

    def saturated_mask(self, cluster: str) -> np.ndarray:
        """Per step: 429s, p99 over an SLO, or no replica up (before the sustain rule)."""
        r = self.reader
        rejecting = r.rate("apiserver_request_total", cluster, code="429") >= SATURATION_MIN_REJECT_PER_S
        slow = np.zeros(len(self.times), dtype=bool)
        for scope, slo in (("resource", C.SLO_SINGLE_OBJECT_S), ("namespace", C.SLO_NAMESPACE_LIST_S),
                           ("cluster", C.SLO_CLUSTER_LIST_S)):
            slow |= r.series("apiserver_request_duration_seconds", cluster, scope=scope, quantile="0.99") > slo
        down = r.series("up", cluster, job="apiserver") < 0.5
        return rejecting | slow | down

    def saturated(self, cluster: str) -> np.ndarray:
        """THE definition of "saturated" (:data:`SATURATED_MEANS`), shared by every table and
        chart: per step, shape (T,) bool, True inside a run of at least ``SATURATION_SUSTAIN_S``
        of :meth:`saturated_mask` symptoms. :meth:`saturated_at` is its first True step."""
        return _sustained(self.saturated_mask(cluster), SATURATION_SUSTAIN_S, self.step_s)

    def saturated_at(self, cluster: str) -> float | None:
        return _first(self.saturated(cluster), self.times)

    def recovered_at(self, cluster: str, after_s: float) -> float | None:
        """Start of the first run of ``SATURATION_SUSTAIN_S`` at or after ``after_s`` seconds
        without any saturation symptom (:meth:`saturated_mask`): when the control plane is back.
        None when it never is before the end of the run."""
        t = self.times
        start = int(np.searchsorted(t, after_s - 1e-9))
        return _first_sustained(~self.saturated_mask(cluster)[start:], t[start:], SATURATION_SUSTAIN_S, self.step_s)

    def nodes_running_change(self, clusters: Sequence[str]) -> np.ndarray:
        """Per step, shape (T,): nodes of ``clusters`` that run the change (each cluster's rollout
        share × its nodes, summed) — a rollout's blast radius in nodes."""
        return sum((self.series("waveguard_sim_rollout_share", c) * self.nodes[c] for c in clusters),
                   np.zeros(len(self.times)))

    def summary(self) -> list[ClusterSummary]:
        """Per cluster: nodes, change start, saturation, DNS failure, peak error, impact."""
        if self._summary is None:
            self._summary = [self._summarise(c) for c in self.clusters]
        return self._summary

    def _summarise(self, cluster: str) -> ClusterSummary:
        t = self.times
        share = self.series("waveguard_sim_rollout_share", cluster)
        dns = self.series("waveguard_sim_dns_client_failure_ratio", cluster)
        err = self.series("waveguard_sim_workload_error_ratio", cluster)
        return ClusterSummary(
            name=cluster, nodes=self.nodes[cluster], change_at_s=_first(share > 0, t),
            saturated_at_s=self.saturated_at(cluster), dns_failing_at_s=_first(dns >= DNS_FAILING_RATIO, t),
            peak_error_rate=float(np.clip(err.max(initial=0.0), 0.0, 1.0)),
            impact_minutes=float((err >= IMPACT_ERROR_RATIO).sum() * self.step_s / 60.0),
            oom_kills=self._oom[cluster],
        )

    def to_json(self) -> dict:
        """``{"scenario", "duration_s", "step_s", "clusters": [...], "fleet": {...}}``, plus
        ``"rollbacks": [...]`` (:meth:`RollbackRecord.as_json`) when the run had any."""
        rows = self.summary()
        out = {
            "scenario": self.scenario,
            "duration_s": float(self.times[-1]) if len(self.times) else 0.0,
            "step_s": self.step_s,
            "clusters": [{
                "name": s.name, "nodes": s.nodes, "change_at_s": s.change_at_s, "saturated_at_s": s.saturated_at_s,
                "dns_failing_at_s": s.dns_failing_at_s, "peak_error_rate": round(s.peak_error_rate, 4),
                "impact_minutes": round(s.impact_minutes, 1), "oom_kills": s.oom_kills,
            } for s in rows],
            "fleet": {
                "clusters": len(rows), "nodes": sum(s.nodes for s in rows),
                "saturated": sum(s.saturated_at_s is not None for s in rows),
                "dns_failing": sum(s.dns_failing_at_s is not None for s in rows),
                "impact_minutes": round(sum(s.impact_minutes for s in rows), 1),
            },
        }
        if self.rollbacks:
            out["rollbacks"] = [r.as_json() for r in self.rollbacks]
        return out

    def worst_clusters(self, n: int = 4) -> list[str]:
        """The ``n`` worst clusters: DNS failing first, then by peak error rate, impact minutes,
        earliest saturation, size."""
        rows = sorted(self.summary(), key=lambda s: (s.dns_failing_at_s is None, -round(s.peak_error_rate, 2),
                                                     -s.impact_minutes,
                                                     s.saturated_at_s if s.saturated_at_s is not None else math.inf,
                                                     -s.nodes))
        return [s.name for s in rows[:n]]


def _first(mask: np.ndarray, times: np.ndarray) -> float | None:
    idx = np.flatnonzero(mask)
    return float(times[idx[0]]) if len(idx) else None


def _sustained(mask: np.ndarray, sustain_s: float, step_s: float) -> np.ndarray:
    """``mask`` kept only where it is part of a run of True lasting ``sustain_s``, shape as ``mask``."""
    w = max(1, int(round(sustain_s / step_s)))
    if len(mask) < w:
        return np.zeros(len(mask), dtype=bool)
    full = np.convolve(mask.astype(np.int32), np.ones(w, dtype=np.int32), mode="valid") >= w  # windows all True
    return np.convolve(full.astype(np.int32), np.ones(w, dtype=np.int32), mode="full")[: len(mask)] > 0


def _first_sustained(mask: np.ndarray, times: np.ndarray, sustain_s: float, step_s: float) -> float | None:
    """Start of the first run of True lasting ``sustain_s``."""
    w = max(1, int(round(sustain_s / step_s)))
    if len(mask) < w:
        return None
    run = np.convolve(mask.astype(np.int32), np.ones(w, dtype=np.int32), mode="valid")
    idx = np.flatnonzero(run >= w)
    return float(times[idx[0]]) if len(idx) else None
