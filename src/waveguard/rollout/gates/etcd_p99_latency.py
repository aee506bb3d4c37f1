"""Gate ``etcd_p99_latency``: p99 latency of etcd requests.

Not on by default. The simulator records kube-apiserver's etcd request p99 (a write's commit,
the slowest range wait, etcd's downtime after an OOM: sim/phases/etcd.py) and its exporter serves
``etcd_request_duration_seconds`` as a histogram, so the gate has data there too."""

from __future__ import annotations

from waveguard.model.readings import Reading
from waveguard.rollout.gates.base import GateResult, Signals, threshold_check, worst_of
from waveguard.rollout.gates.registry import signal_gate

NAME = "etcd_p99_latency"
READING = Reading("etcd_request_duration_seconds", "quantile", quantile=0.99)


@signal_gate(NAME, reads="etcd_request_duration_seconds p99", unit="seconds", default_threshold=0.5,
             source="policy: etcd's own guidance keeps p99 range latency well under 1 s",
             control_plane=True, reading=READING)
def evaluate(signals: Signals, cluster: str, limit: float) -> GateResult:
    """Fails when etcd's p99 request latency exceeds ``limit`` seconds."""
    latency_s, _ = worst_of(signals, READING, cluster)
    return threshold_check(NAME, cluster, latency_s, limit, "etcd p99 request latency (s)")
