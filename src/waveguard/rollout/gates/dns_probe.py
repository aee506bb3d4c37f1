"""Gate ``dns_probe``: lookups that bypass every cache (DNS failures caches would hide for minutes)."""

from __future__ import annotations

from waveguard.rollout.gates.base import GateResult, Signals, threshold_check
from waveguard.rollout.gates.registry import signal_gate

NAME = "dns_probe"


@signal_gate(NAME, reads="share of cache-bypassing probes that fail (authoritative CoreDNS answer)",
             unit="ratio", default_threshold=0.01,
             source="policy: 1 % of uncached lookups failing is a failure clients will see once caches expire",
             default_on=True, most=1.0)
def evaluate(signals: Signals, cluster: str, limit: float) -> GateResult:
    """Fails when more than ``limit`` of the cache-bypassing probes fail."""
    return threshold_check(NAME, cluster, signals.dns_probe_failure_ratio(cluster), limit,
                           "share of cache-bypassing DNS probes failing")
