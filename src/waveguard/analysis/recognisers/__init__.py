"""The registry of agent recognisers: one module per agent family, asked in order.

The RBAC upper bound comes last: it answers for any workload whose ServiceAccount may
LIST/WATCH something, labelled as an upper bound.
"""

from __future__ import annotations

from waveguard.analysis.recognisers import (
    alloy, datadog, filebeat, fluentbit, kepler, kube_state_metrics, otel, rbac_bound,
)
from waveguard.analysis.recognisers.base import AgentContext, Recognised, Recogniser

#: Ordered: specific agents first, the RBAC upper bound last.
REGISTRY: tuple[Recogniser, ...] = (
    otel.OpenTelemetryCollector(),
    alloy.AlloyOrPrometheus(),
    fluentbit.FluentBit(),
    filebeat.Filebeat(),
    datadog.DatadogAgent(),
    kepler.Kepler(),
    kube_state_metrics.KubeStateMetrics(),
    rbac_bound.RBACUpperBound(),
)


def recognise(ctx: AgentContext) -> Recognised | None:
    """The first recogniser's answer for ``ctx``, or None when the workload sends nothing."""
    for recogniser in REGISTRY:
        result = recogniser.recognise(ctx)
        if result is not None:
            return result
    return None


__all__ = ["AgentContext", "Recognised", "Recogniser", "REGISTRY", "recognise"]
