"""Gates: one registry, one module per gate. Each returns pass / fail / no-data with the figure
and the threshold (:class:`GateResult`, the one result shape of ``waveguard.model.result``).

A gate module registers itself once (:func:`~waveguard.rollout.gates.registry.signal_gate` or
:func:`~waveguard.rollout.gates.registry.projection_gate`): its name, what it reads, the unit,
the default threshold and its source, whether it reads the control plane and is on by default,
and its evaluate function. Adding a gate: one module here, its import below (the order is the
order plans and messages list gates in), and at most one new reading on :class:`Signals`.

A gate reads a :class:`Signals` source, which speaks the metric names real components expose
(domain.md §5): the simulator and Prometheus implement it alike. No data, stale data or an
unreachable source is ``no-data``, which never passes: the engine pauses.
"""

from __future__ import annotations

# The gate modules register themselves on import, in this order.
from waveguard.rollout.gates import (  # noqa: F401
    apiserver_p99_latency, apiserver_rejections, apf_seat_utilisation, apf_queue_wait, apiserver_memory,
    etcd_p99_latency, dns_probe, coredns_api_errors, workload_error_rate, projection,
)
from waveguard.rollout.gates.base import LIMITED_LEVELS, GateResult, Signals, read_figure, threshold_check, worst_of
from waveguard.rollout.gates.registry import (
    GATES, Gate, control_plane_gate_kinds, default_gate_kinds, evaluate, evaluate_projection, projection_gate,
    register, signal_gate,
)
from waveguard.model.result import Status

__all__ = [
    "GATES", "Gate", "GateResult", "LIMITED_LEVELS", "Signals", "Status", "control_plane_gate_kinds",
    "default_gate_kinds", "evaluate", "evaluate_projection", "projection_gate", "register", "signal_gate",
    "read_figure", "threshold_check", "worst_of",
]
