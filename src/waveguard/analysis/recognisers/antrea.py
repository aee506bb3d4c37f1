"""Antrea: antrea-agent on every node, antrea-controller (one replica).

antrea-agent (antrea-io/antrea ``cmd/antrea-agent/agent.go``, ``run``):

* ``localPodInformer``: pods with the field selector ``spec.nodeName=<its node>`` — node-local.
* one shared informer factory, no selector: Nodes (NodeRouteController: a route and tunnel per
  peer node), Services, Endpoints/EndpointSlices (AntreaProxy, on by default; option
  ``antreaProxy.enable`` in the antrea-agent.conf of the antrea-config ConfigMap) and
  Namespaces; Antrea CRDs (Egresses, ExternalIPPools, Traceflows, TrafficControls, IPPools,
  NodeLatencyMonitors) are few objects.
* NetworkPolicies are *not* watched from kube-apiserver: antrea-controller computes them and
  each agent receives only its node's share over the controller's own API
  (``controlplane.antrea.io``, ``client.NewAntreaClientProvider``), served by antrea-controller,
  not kube-apiserver.

antrea-controller (``cmd/antrea-controller/controller.go``) watches pods, namespaces, network
policies, services and nodes cluster-wide — once per cluster (O(nodes)).

Evidence: recognised from the container (image / binary) and the agent's config file; no RBAC
is read.
"""

from __future__ import annotations

import yaml

from waveguard.analysis.recognisers.base import AgentContext, Recognised
from waveguard.analysis.recognisers.podspec import runs
from waveguard.model.requests import informer
from waveguard.model.yamlio import safe_load

_PROXY_FIX = ("AntreaProxy (like kube-proxy) needs every Service and EndpointSlice on every node; keep service counts "
              "within the scalability limits")


def _antrea_proxy_enabled(ctx: AgentContext) -> bool:
    """``antreaProxy.enable`` of antrea-agent.conf (default true), or the old feature gate."""
    for name, text in ctx.config.items():
        if not name.startswith("antrea-agent"):
            continue
        try:
            conf = safe_load(text)
        except yaml.YAMLError:  # a malformed config reads as the default
            continue
        if not isinstance(conf, dict):
            continue
        proxy = conf.get("antreaProxy")
        if isinstance(proxy, dict) and proxy.get("enable") is False:
            return False
        gates = conf.get("featureGates")
        if isinstance(gates, dict) and gates.get("AntreaProxy") is False:
            return False
    return True


class AntreaAgent:
    name = "antrea-agent"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        if not (runs(ctx, "antrea-agent") or (ctx.workload.per_node and ctx.image_matches(
                "antrea/antrea-agent-ubuntu", "antrea/antrea-ubuntu", "antrea-agent", "antrea-ubuntu"))):
            return None
        result = Recognised(agent=self.name)
        result.classes += informer("pods", "node", component="localPodInformer (spec.nodeName=<its node>)",
                                   config_key="cmd/antrea-agent")
        result.classes += informer("nodes", "cluster", component="NodeRouteController (every peer Node)",
                                   config_key="cmd/antrea-agent",
                                   fix="inherent to Antrea's per-node routes; Nodes are few and small")
        if _antrea_proxy_enabled(ctx):
            for resource, group in (("services", ""), ("endpointslices", "discovery.k8s.io")):
                result.classes += informer(resource, "cluster", api_group=group, component=f"AntreaProxy ({resource})",
                                           config_key="antrea-agent.conf antreaProxy.enable", fix=_PROXY_FIX)
        result.classes += informer("namespaces", "cluster", component="namespaces", config_key="cmd/antrea-agent")
        return result


class AntreaController:
    name = "antrea-controller"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        if not (runs(ctx, "antrea-controller") or (not ctx.workload.per_node and ctx.image_matches(
                "antrea/antrea-controller-ubuntu", "antrea/antrea-ubuntu", "antrea-controller", "antrea-ubuntu"))):
            return None
        result = Recognised(agent=self.name)
        for resource, group in (("pods", ""), ("namespaces", ""), ("networkpolicies", "networking.k8s.io"),
                                ("services", ""), ("nodes", "")):
            result.classes += informer(resource, "cluster", api_group=group,
                                       component=f"policy computation ({resource})", config_key="cmd/antrea-controller")
        return result
