"""Datadog Agent (node agent).

Documented behaviour (Datadog docs, "Cluster Agent for Kubernetes"): node agents read pods
from their kubelet; without the Cluster Agent, every node agent also builds the service
metadata map itself by LISTing Endpoints cluster-wide every
``kubernetes_metadata_tag_update_freq`` (60 s; a plain LIST, i.e. a consistent read) and GETs
its own Node for node labels as tags. With ``DD_CLUSTER_AGENT_ENABLED=true`` node agents ask the
Cluster Agent instead. ``DD_LEADER_ELECTION=true`` makes every agent poll the leader-election
lease; the leader alone watches Events (``DD_COLLECT_KUBERNETES_EVENTS``).
"""

from __future__ import annotations

from waveguard.analysis.recognisers.base import AgentContext, Recognised, truthy
from waveguard.model import constants as C
from waveguard.model.requests import RequestClass, informer

#: kubernetes_metadata_tag_update_freq default, seconds (datadog-agent config_template.yaml).
METADATA_TAG_UPDATE_FREQ_S = 60.0



class DatadogAgent:
    name = "datadog-agent"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        if not ctx.image_matches("datadog/agent", "datadoghq/agent"):
            return None
        result = Recognised(agent=self.name)
        if truthy(ctx.env("DD_CLUSTER_AGENT_ENABLED")):
            return result
        if ctx.env("DD_KUBERNETES_COLLECT_METADATA_TAGS") is None or truthy(ctx.env("DD_KUBERNETES_COLLECT_METADATA_TAGS")):
            freq = float(ctx.env("DD_KUBERNETES_METADATA_TAG_UPDATE_FREQ") or METADATA_TAG_UPDATE_FREQ_S)
            result.classes.append(RequestClass(
                verb="list", resource="endpoints", scope="cluster", trigger="periodic", rate_per_s=1 / freq,
                resource_version="", component=f"service metadata mapper (every {freq:.0f} s)",
                config_key="env DD_CLUSTER_AGENT_ENABLED",
                fix="deploy the Datadog Cluster Agent and set DD_CLUSTER_AGENT_ENABLED=true so node agents stop "
                    "listing Endpoints themselves",
            ))
            result.classes.append(RequestClass(
                verb="get", resource="nodes", scope="object", trigger="periodic", rate_per_s=1 / freq,
                component="node labels as tags", config_key="env DD_KUBERNETES_NODE_LABELS_AS_TAGS"))
        if truthy(ctx.env("DD_LEADER_ELECTION")):
            result.classes.append(RequestClass(
                verb="get", resource="leases", api_group="coordination.k8s.io", scope="object", trigger="periodic",
                rate_per_s=1 / C.LEADER_ELECTION_RETRY_PERIOD_S, component="leader election (lease poll)",
                config_key="env DD_LEADER_ELECTION",
                fix="leave leader election to the Cluster Agent (DD_CLUSTER_AGENT_ENABLED=true)"))
            if truthy(ctx.env("DD_COLLECT_KUBERNETES_EVENTS")):
                result.classes += informer("events", "cluster", component="event collection (leader)",
                                           config_key="env DD_COLLECT_KUBERNETES_EVENTS", leader_only=True)
        return result
