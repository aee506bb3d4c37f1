"""Gate ``apiserver_rejections``: HTTP 429s from API Priority and Fairness, worst priority level."""

from __future__ import annotations

from waveguard.model.readings import Reading
from waveguard.rollout.gates.base import GateResult, Signals, threshold_check, worst_of
from waveguard.rollout.gates.registry import signal_gate

NAME = "apiserver_rejections"
READING = Reading("apiserver_flowcontrol_rejected_requests_total", "rate", per_level=True)


@signal_gate(NAME, reads="apiserver_flowcontrol_rejected_requests_total rate, worst limited priority level",
             unit="requests/s", default_threshold=1.0,
             source="policy: sustained 429s mean a priority level is saturated",
             control_plane=True, default_on=True, reads_apiserver=True, reading=READING)
def evaluate(signals: Signals, cluster: str, limit: float) -> GateResult:
    """Fails when some priority level rejects more than ``limit`` requests per second."""
    rejected_per_s, level = worst_of(signals, READING, cluster)
    return threshold_check(NAME, cluster, rejected_per_s, limit, f"429s per second at {level or 'any level'}")
