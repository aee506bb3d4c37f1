"""Gate ``apiserver_p99_latency``: p99 latency of single-object requests to kube-apiserver."""

from __future__ import annotations

from waveguard.model.readings import Reading
from waveguard.rollout.gates.base import GateResult, Signals, threshold_check, worst_of
from waveguard.rollout.gates.registry import signal_gate

NAME = "apiserver_p99_latency"
READING = Reading("apiserver_request_duration_seconds", "quantile", labels=(("scope", "resource"),), quantile=0.99)


@signal_gate(NAME, reads="apiserver_request_duration_seconds p99 of single-object requests (scope=resource)",
             unit="seconds", default_threshold=1.0,
             source="sig-scalability SLO: mutating/read single object ≤ 1 s (domain.md §4)",
             control_plane=True, default_on=True, reads_apiserver=True, reading=READING)
def evaluate(signals: Signals, cluster: str, limit: float) -> GateResult:
    """Fails when the p99 of single-object requests exceeds ``limit`` seconds."""
    latency_s, _ = worst_of(signals, READING, cluster)
    return threshold_check(NAME, cluster, latency_s, limit, "p99 latency of single-object requests (s)")
