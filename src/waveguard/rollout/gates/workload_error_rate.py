"""Gate ``workload_error_rate``: the workloads' own error ratio (what today's rollout tools gate on)."""

from __future__ import annotations

from waveguard.rollout.gates.base import GateResult, Signals, threshold_check
from waveguard.rollout.gates.registry import signal_gate

NAME = "workload_error_rate"


@signal_gate(NAME, reads="workload request error rate", unit="ratio", default_threshold=0.05,
             source="what Argo Rollouts / Flagger analyses typically use (5 % errors)", most=1.0)
def evaluate(signals: Signals, cluster: str, limit: float) -> GateResult:
    """Fails when more than ``limit`` of the workloads' requests fail."""
    return threshold_check(NAME, cluster, signals.workload_error_ratio(cluster), limit, "workload error ratio")
