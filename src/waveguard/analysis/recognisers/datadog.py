"""Datadog Agent (node agent).

Documented behaviour (Datadog docs, "Cluster Agent for Kubernetes"): node agents read pods
from their kubelet; without the Cluster Agent, every node agent also builds the service
metadata map itself by LISTing Endpoints cluster-wide every
``kubernetes_metadata_tag_update_freq`` (60 s; a plain LIST, i.e. a consistent read) and GETs
its own Node for node labels as tags. With ``DD_CLUSTER_AGENT_ENABLED=true`` node agents ask the
Cluster Agent instead. ``DD_LEADER_ELECTION=true`` makes every agent poll the leader-election
lease; the leader alone watches Events (``DD_COLLECT_KUBERNETES_EVENTS``).

Cluster Agent mode (Datadog docs ``containers/cluster_agent/setup``, "Configure Datadog Agent
communication": set ``DD_CLUSTER_AGENT_ENABLED=true`` and ``DD_CLUSTER_AGENT_AUTH_TOKEN`` on the
node agents): the node agents get cluster-level metadata (service tags, node labels) from the
Cluster Agent over HTTPS and send nothing to kube-apiserver for it; the Cluster Agent
(``datadog/cluster-agent``, binary ``datadog-cluster-agent``; DataDog/datadog-agent
``pkg/util/kubernetes/apiserver/controllers/metadata_controller.go``: an Endpoints informer,
and Nodes through workloadmeta's Kubernetes node collector) watches them once for the cluster —
at least these; optional features (admission controller, autoscaling, workloadmeta pod
collection) add more, still in the Cluster Agent's fixed replicas — and polls its
leader-election lease (``DD_LEADER_ELECTION``).

Recognised by image (``datadog/agent``, ``datadoghq/agent``, ``datadog/cluster-agent``) or by
binary (``agent run``, ``datadog-cluster-agent``).
"""

from __future__ import annotations

from waveguard.analysis.recognisers.podspec import runs_binary
from waveguard.analysis.recognisers.base import AgentContext, Recognised, truthy
from waveguard.model import constants as C
from waveguard.model.requests import RequestClass, informer

#: kubernetes_metadata_tag_update_freq default, seconds (datadog-agent config_template.yaml).
METADATA_TAG_UPDATE_FREQ_S = 60.0



#: Resources the Cluster Agent's metadata controller watches (metadata_controller.go).
CLUSTER_AGENT_RESOURCES = ("nodes", "endpoints")


def _is_cluster_agent(ctx: AgentContext) -> bool:
    return ctx.image_matches("datadog/cluster-agent", "datadoghq/cluster-agent") or runs_binary(
        ctx, "datadog-cluster-agent")


def _is_node_agent(ctx: AgentContext) -> bool:
    if ctx.image_matches("datadog/agent", "datadoghq/agent"):
        return True
    # The node agent image's entrypoint is "agent run"; the binary is /opt/datadog-agent/bin/agent/agent.
    return any(c.command[:2] == ["agent", "run"] or c.args[:2] == ["agent", "run"] for c in ctx.workload.containers)


def _cluster_agent(ctx: AgentContext) -> Recognised:
    """The Cluster Agent: one informer set for the cluster, plus its lease poll."""
    result = Recognised(agent="datadog-cluster-agent")
    for resource in CLUSTER_AGENT_RESOURCES:
        result.classes += informer(resource, "cluster", component=f"cluster agent metadata controller ({resource})",
                                   config_key="datadog-cluster-agent")
    if ctx.env("DD_LEADER_ELECTION") is None or truthy(ctx.env("DD_LEADER_ELECTION")):
        result.classes.append(RequestClass(
            verb="get", resource="leases", api_group="coordination.k8s.io", scope="object", trigger="periodic",
            rate_per_s=1 / C.LEADER_ELECTION_RETRY_PERIOD_S, component="cluster agent leader election (lease poll)",
            config_key="env DD_LEADER_ELECTION"))
    return result


class DatadogAgent:
    name = "datadog-agent"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        if _is_cluster_agent(ctx):
            return _cluster_agent(ctx)
        if not _is_node_agent(ctx):
            return None
        result = Recognised(agent=self.name)
        if truthy(ctx.env("DD_CLUSTER_AGENT_ENABLED")):
            # Cluster Agent mode: metadata comes from the Cluster Agent, not from kube-apiserver.
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
