"""What every gate shares: the :class:`Signals` source it reads, the :class:`GateResult` it
returns, and the two readings most gates are made of (a threshold check, the worst priority
level).

A gate reads a :class:`Signals` source, which speaks the metric names real components expose
(domain.md §5): the simulator (``waveguard.rollout.simtarget``) and Prometheus
(``waveguard.signals.prometheus``) implement it alike. No data, stale data or an unreachable
source is ``no-data``, which never passes: the engine pauses.
"""

from __future__ import annotations

from typing import Any, Protocol

from waveguard.model.readings import LIMITED_LEVELS, Reading
from waveguard.model.result import CheckResult, Status

__all__ = ["LIMITED_LEVELS", "GateResult", "Signals", "read_figure", "threshold_check", "worst_of"]


class GateResult(CheckResult):
    """One gate on one cluster: the one result shape (:class:`~waveguard.model.result.CheckResult`)
    with ``signal`` the gate's name and ``subject`` the cluster, read as ``gate`` and ``cluster``.
    ``value`` is the figure read (None when there was none), ``threshold`` the gate's limit
    (always set), ``detail`` the reason."""

    __slots__ = ()

    @classmethod
    def of(cls, gate: str, cluster: str, status: Status, value: float | None, threshold: float,
           detail: str) -> GateResult:
        """The result of ``gate`` on ``cluster`` (the field order of the event log's JSON)."""
        return cls(status, value, threshold, detail, signal=gate, subject=cluster)

    @property
    def gate(self) -> str:
        return self.signal

    @property
    def cluster(self) -> str:
        return self.subject

    def as_json(self) -> dict[str, Any]:
        """What the event log records for a gate evaluation (its keys and their order are part
        of the state files and the golden outputs)."""
        return {"gate": self.signal, "cluster": self.subject, "status": self.status, "value": self.value,
                "threshold": self.threshold, "detail": self.detail}


class Signals(Protocol):
    """Where gates read from. Every method returns None when it has no fresh data.

    A new gate needs at most one new reading here (and in its implementations: the simulator's
    ``SimSignals``, ``PrometheusSignals``); most read ``value`` or ``rate`` of a metric."""

    def value(self, metric: str, cluster: str, **labels: str) -> float | None:
        """Latest value of a gauge (quantiles via ``quantile="0.99"``)."""

    def rate(self, metric: str, cluster: str, **labels: str) -> float | None:
        """Per-second increase of a counter over the last gate interval."""

    def dns_probe_failure_ratio(self, cluster: str) -> float | None:
        """Share of cache-bypassing lookups (asked of CoreDNS/the authoritative server directly,
        names no cache holds) that fail."""

    def memory_limit_bytes(self, cluster: str) -> float | None:
        """Memory limit of one apiserver replica, bytes."""

    def workload_error_ratio(self, cluster: str) -> float | None:
        """Share of the workloads' requests that fail (what today's tools gate on)."""

    def explain(self, cluster: str) -> str:
        """Why the last figure read for ``cluster`` had no data, one line ("" when there is no
        more to say than "no data": Prometheus unreachable, a stale series...)."""


def threshold_check(gate: str, cluster: str, value: float | None, limit: float, what: str) -> GateResult:
    """``fail`` when ``value`` exceeds ``limit``, ``pass`` at or under it, ``no-data`` when None.
    ``what`` names the figure (and its unit) for a person."""
    if value is None:
        return GateResult.of(gate, cluster, "no-data", None, limit, f"no fresh {what}")
    status: Status = "fail" if value > limit else "pass"
    return GateResult.of(gate, cluster, status, value, limit, f"{what} {value:.3g} (threshold {limit:.3g})")


def read_figure(signals: Signals, reading: Reading, cluster: str, **labels: str) -> float | None:
    """``reading`` on ``cluster`` (its ``over`` not applied; ``labels`` added, e.g. a level)."""
    read = signals.rate if reading.how == "rate" else signals.value
    return read(reading.metric, cluster, **reading.label_dict, **labels)


def worst_of(signals: Signals, reading: Reading, cluster: str) -> tuple[float | None, str]:
    """The figure ``reading`` describes on ``cluster`` and the priority level it was read at:
    for a per-level reading the highest over the :data:`LIMITED_LEVELS` (levels without a
    reading, or whose ``over`` reads 0 or None, skipped; (None, "") when none reads), else the
    one value ("" for the level). ``over`` divides each value by that reading of the same level."""
    worst: float | None = None
    where = ""
    for level in LIMITED_LEVELS if reading.per_level else ("",):
        extra = {"priority_level": level} if level else {}
        value = read_figure(signals, reading, cluster, **extra)
        if value is None:
            continue
        if reading.over is not None:
            divisor = read_figure(signals, reading.over, cluster, **extra)
            if not divisor:
                continue
            value = value / divisor
        if worst is None or value > worst:
            worst, where = value, level
    return worst, where
