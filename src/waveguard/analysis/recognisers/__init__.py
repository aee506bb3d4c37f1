"""The registry of agent recognisers: one module per agent family, asked in order.

The RBAC upper bound comes last: it answers for any workload whose ServiceAccount may
LIST/WATCH something, labelled as an upper bound.
"""

from __future__ import annotations

from waveguard.analysis.recognisers import (
    alloy, antrea, aws_vpc_cni, beyla, calico, cilium, coredns, csi, datadog, filebeat, flannel, fluentbit, fluentd,
    kepler, kindling, kube_proxy, kube_router, kube_state_metrics, kured, multus, node_problem_detector, otel,
    promtail, rbac_bound, vector, weave,
)
from waveguard.analysis.recognisers.base import AgentContext, Recognised, Recogniser
from waveguard.model.errors import InputError

#: Ordered: specific agents first, the RBAC upper bound last.
REGISTRY: tuple[Recogniser, ...] = (
    otel.OpenTelemetryCollector(),
    alloy.AlloyOrPrometheus(),
    fluentbit.FluentBit(),
    filebeat.Filebeat(),
    datadog.DatadogAgent(),
    kepler.Kepler(),
    kube_state_metrics.KubeStateMetrics(),
    # log shippers, telemetry and node agents
    fluentd.Fluentd(),
    vector.Vector(),
    promtail.Promtail(),
    beyla.Beyla(),
    node_problem_detector.NodeProblemDetector(),
    kured.Kured(),
    csi.CSIDriver(),
    kindling.KindlingAgent(),
    # CNI and node-networking agents
    calico.CalicoNode(), calico.CalicoTypha(), calico.CalicoKubeControllers(),
    cilium.CiliumAgent(), cilium.CiliumOperator(),
    antrea.AntreaAgent(), antrea.AntreaController(),
    flannel.Flannel(), weave.WeaveNet(), kube_router.KubeRouter(), kube_proxy.KubeProxy(),
    aws_vpc_cni.AwsNode(), multus.Multus(),
    # DNS
    coredns.CoreDNS(),
    rbac_bound.RBACUpperBound(),
)


def recognise(ctx: AgentContext) -> Recognised | None:
    """The first recogniser's answer for ``ctx``, or None when the workload sends nothing.

    When the agent's configuration is missing from the change (a mounted ConfigMap that is not
    there) and the recogniser finds nothing to say, the RBAC upper bound stands in, and a WG115
    remark says why: silence must not read as "no API load"."""
    missing = ctx.missing_configmaps()
    for recogniser in REGISTRY:
        result = _ask(recogniser, ctx)
        if result is None:
            continue
        if missing and recogniser is not REGISTRY[-1]:
            if not result.classes:
                bound = REGISTRY[-1].recognise(ctx)
                if bound is not None:
                    result = Recognised(agent=f"{result.agent} (configuration missing: RBAC upper bound)",
                                        classes=bound.classes, remarks=result.remarks, upper_bound=True)
            result.remarks.append((
                "WG115", "warning",
                f"mounts ConfigMap {', '.join(missing)}, which is not in the change: its configuration decides "
                "its API requests, so they were " + ("bounded from RBAC" if result.upper_bound else
                                                     "read from what is present only"),
                "pass the ConfigMap with the change (helm template renders it with the workload)"))
        return result
    return None


def _ask(recogniser: Recogniser, ctx: AgentContext) -> Recognised | None:
    """``recogniser``'s answer; an agent configuration of a shape the agent itself would reject
    (a list where it takes a mapping...) is bad input, one line naming the workload."""
    try:
        return recogniser.recognise(ctx)
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        where = ctx.workload.doc.location
        raise InputError(where.file, f"{ctx.workload.ref}: its {recogniser.name} configuration has an unexpected "
                         f"shape ({type(exc).__name__}: {exc})", line=where.line,
                         hint="check the agent's configuration against its documentation") from None


__all__ = ["AgentContext", "Recognised", "Recogniser", "REGISTRY", "recognise"]
