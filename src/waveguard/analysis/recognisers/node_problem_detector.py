"""node-problem-detector (kubernetes/node-problem-detector).

Source: ``pkg/exporters/k8sexporter/problemclient/problem_client.go`` (``GetNode`` of its own
node, ``SetConditions`` PATCHes ``nodes/<own>/status``, ``Eventf`` creates Events about its own
node) and ``pkg/exporters/k8sexporter/condition/manager.go`` (``syncLoop``: conditions are synced to the
API server when they change, retried every 10 s after a failure, and re-sent every
``heartbeatPeriod``, the ``--k8s-exporter-heartbeat-period`` flag, 5 min by default). It watches no
collection: nothing it asks for grows with the cluster. ``--enable-k8s-exporter=false`` turns
the API client off entirely.
"""

from __future__ import annotations

from waveguard.analysis.recognisers.podspec import images_or_binary
from waveguard.analysis.recognisers.base import AgentContext, Recognised
from waveguard.analysis.recognisers.otel import duration_seconds
from waveguard.model.requests import RequestClass

#: Condition heartbeat, seconds: --k8s-exporter-heartbeat-period default (5m, node-problem-detector
#: cmd options; condition/manager.go needHeartbeat).
HEARTBEAT_PERIOD_S = 300.0


class NodeProblemDetector:
    name = "node-problem-detector"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        if not images_or_binary(ctx, ("node-problem-detector",), ("node-problem-detector",)):
            return None
        result = Recognised(agent=self.name)
        if (ctx.arg_value("--enable-k8s-exporter") or "true").lower() == "false":
            return result
        heartbeat = duration_seconds(ctx.arg_value("--k8s-exporter-heartbeat-period") or HEARTBEAT_PERIOD_S)
        result.classes = [
            RequestClass(verb="get", resource="nodes", scope="object", trigger="start",
                         component="k8s exporter (own Node)", config_key="--enable-k8s-exporter"),
            RequestClass(verb="patch", resource="nodes", scope="object", trigger="periodic",
                         rate_per_s=1 / heartbeat, component="k8s exporter (own Node conditions heartbeat)",
                         config_key="--enable-k8s-exporter"),
        ]
        return result
