"""Gate ``apf_queue_wait``: p99 time requests wait in API Priority and Fairness queues, worst level."""

from __future__ import annotations

from waveguard.model.readings import Reading
from waveguard.rollout.gates.base import GateResult, Signals, threshold_check, worst_of
from waveguard.rollout.gates.registry import signal_gate

NAME = "apf_queue_wait"
READING = Reading("apiserver_flowcontrol_request_wait_duration_seconds", "quantile", quantile=0.99, per_level=True)


@signal_gate(NAME, reads="apiserver_flowcontrol_request_wait_duration_seconds p99, worst limited priority level",
             unit="seconds", default_threshold=1.0,
             source="policy: a second in the queue is already a visible slowdown",
             control_plane=True, default_on=True, reads_apiserver=True, reading=READING)
def evaluate(signals: Signals, cluster: str, limit: float) -> GateResult:
    """Fails when the p99 queue wait of some priority level exceeds ``limit`` seconds."""
    wait_s, level = worst_of(signals, READING, cluster)
    return threshold_check(NAME, cluster, wait_s, limit, f"p99 APF queue wait (s) at {level or 'any level'}")
