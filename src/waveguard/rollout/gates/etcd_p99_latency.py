"""Gate ``etcd_p99_latency``: p99 latency of etcd requests.

Not on by default: the simulator models etcd only as the bandwidth LISTs from etcd share and
records no etcd request latency, so it reads no-data there (docs/rollout.md)."""

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
