"""Gate ``apf_seat_utilisation``: seats in use over a priority level's nominal seats, worst level."""

from __future__ import annotations

from waveguard.model.readings import Reading
from waveguard.rollout.gates.base import GateResult, Signals, threshold_check, worst_of
from waveguard.rollout.gates.registry import signal_gate

NAME = "apf_seat_utilisation"
READING = Reading("apiserver_flowcontrol_current_executing_seats", per_level=True,
                  over=Reading("apiserver_flowcontrol_nominal_limit_seats", per_level=True))


@signal_gate(NAME, reads="apiserver_flowcontrol_current_executing_seats / nominal_limit_seats, any level",
             unit="ratio", default_threshold=0.9,
             source="policy: 90 % of a level's nominal seats",
             control_plane=True, default_on=True, reads_apiserver=True, reading=READING)
def evaluate(signals: Signals, cluster: str, limit: float) -> GateResult:
    """Fails when some priority level uses more than ``limit`` of its nominal seats."""
    utilisation, level = worst_of(signals, READING, cluster)
    return threshold_check(NAME, cluster, utilisation, limit, f"seats in use / nominal at {level or 'any level'}")
