"""Gate ``coredns_api_errors``: CoreDNS's requests to the Kubernetes API that fail."""

from __future__ import annotations

from waveguard.rollout.gates.base import GateResult, Signals, threshold_check
from waveguard.rollout.gates.registry import signal_gate

NAME = "coredns_api_errors"


@signal_gate(NAME, reads="coredns_kubernetes_rest_client_requests_total 5xx rate", unit="requests/s",
             default_threshold=0.0,
             source="policy: CoreDNS that cannot reach the API serves stale data (domain.md §6)")
def evaluate(signals: Signals, cluster: str, limit: float) -> GateResult:
    """Fails when CoreDNS gets more than ``limit`` 5xx answers per second from the API."""
    errors_per_s = signals.rate("coredns_kubernetes_rest_client_requests_total", cluster, code="5xx")
    return threshold_check(NAME, cluster, errors_per_s, limit, "CoreDNS → API errors per second")
