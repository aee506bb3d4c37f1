"""Gate ``coredns_api_errors``: CoreDNS's requests to the Kubernetes API that fail."""

from __future__ import annotations

from waveguard.model.readings import Reading
from waveguard.rollout.gates.base import GateResult, Signals, threshold_check, worst_of
from waveguard.rollout.gates.registry import signal_gate

NAME = "coredns_api_errors"
READING = Reading("coredns_kubernetes_rest_client_requests_total", "rate", labels=(("code", "5xx"),))


@signal_gate(NAME, reads="coredns_kubernetes_rest_client_requests_total 5xx rate", unit="requests/s",
             default_threshold=0.0,
             source="policy: CoreDNS that cannot reach the API serves stale data (domain.md §6)",
             reading=READING)
def evaluate(signals: Signals, cluster: str, limit: float) -> GateResult:
    """Fails when CoreDNS gets more than ``limit`` 5xx answers per second from the API."""
    errors_per_s, _ = worst_of(signals, READING, cluster)
    return threshold_check(NAME, cluster, errors_per_s, limit, "CoreDNS → API errors per second")
