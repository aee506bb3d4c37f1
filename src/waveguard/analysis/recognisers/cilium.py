"""Cilium: cilium-agent on every node, cilium-operator (a Deployment, leader-elected).

cilium-agent's Kubernetes resources (cilium/cilium ``pkg/k8s/resource_ctors.go`` and the
agent's ``daemon/k8s/resources.go``):

* Pods through ``LocalPodResource``: ``PodResource`` with the field selector
  ``spec.nodeName=<its node>`` — node-local; its own Node and CiliumNode by ``metadata.name``
  (``LocalNodeResource``, ``LocalCiliumNodeResource``; the ``Resources`` struct of
  ``daemon/k8s/resources.go`` lists everything the agent watches).
* Services and EndpointSlices cluster-wide (``ServiceResource``, ``EndpointsResource``: only a
  label selector on ``service.kubernetes.io/service-proxy-name``): the service load-balancer
  needs all of them on every node, like kube-proxy.
* Namespaces, NetworkPolicies, CiliumNetworkPolicies, CiliumClusterwideNetworkPolicies
  cluster-wide (policy).
* The cluster's endpoints for the ipcache: every CiliumEndpoint (one per pod,
  ``CiliumSlimEndpointResource`` lists ``CiliumEndpoints(NamespaceAll)``) — or, with
  ``enable-cilium-endpoint-slice: "true"`` in the cilium-config ConfigMap, CiliumEndpointSlices
  (the operator batches endpoints into slices); CiliumIdentities and CiliumNodes (peer
  discovery) cluster-wide.
* kvstore mode (``kvstore: etcd`` and/or ``identity-allocation-mode: kvstore``, Cilium docs
  "Installation with external etcd"): identities, endpoints (ipcache) and nodes are shared
  through etcd, so the agents do not watch CiliumIdentities, CiliumEndpoints(Slices) or
  CiliumNodes from kube-apiserver; pods, services and policies still come from it.
* ``KUBE_FEATURE_WatchListClient=true`` (client-go feature gate, env): informers start with a
  streaming WATCH (``sendInitialEvents``) instead of a LIST. The model still costs that start
  as a LIST from the watch cache: an upper bound on its memory.

cilium-operator: every replica polls the leader-election lease; the leader alone runs the
controllers that watch pods, nodes, CiliumNodes, CiliumIdentities and CiliumEndpoints (identity
GC, IPAM, CES batching; ``operator/cmd/root.go`` starts them when it starts leading). A fixed
number of replicas: O(nodes) at most.

Evidence: recognised from the image / binary and the cilium-config ConfigMap; no RBAC is read.
"""

from __future__ import annotations

from waveguard.analysis.recognisers.base import AgentContext, Recognised, truthy
from waveguard.analysis.recognisers.podspec import configmap_value, env_value, image_named, runs
from waveguard.model import constants as C
from waveguard.model.requests import RequestClass, informer

CILIUM_GROUP = "cilium.io"
CONFIGMAP = "cilium-config"


def setting(ctx: AgentContext, key: str) -> str | None:
    """A cilium-config option: the mounted ConfigMap file, the ConfigMap in the change, or
    ``--key=value`` in the args (in that order of precedence, as the agent reads them)."""
    return ctx.config.get(key) or configmap_value(ctx, CONFIGMAP, key) or ctx.arg_value(f"--{key}")


def kvstore_mode(ctx: AgentContext) -> bool:
    """Identities, endpoints and nodes shared through etcd: ``kvstore`` set (e.g. ``etcd``) or
    ``identity-allocation-mode: kvstore`` (or ``doublewrite-readkvstore``, which reads etcd)."""
    mode = (setting(ctx, "identity-allocation-mode") or "crd").strip().lower()
    return mode in ("kvstore", "doublewrite-readkvstore") or bool((setting(ctx, "kvstore") or "").strip())


def _watchlist(ctx: AgentContext) -> str:
    return " (WatchList streaming: costed as a LIST)" if truthy(env_value(ctx, "KUBE_FEATURE_WatchListClient")) else ""


class CiliumAgent:
    name = "cilium-agent"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        if not (runs(ctx, "cilium-agent") or (ctx.workload.per_node and image_named(ctx, "cilium", "cilium-dev"))):
            return None
        stream = _watchlist(ctx)
        classes = informer("pods", "node", component=f"LocalPodResource (spec.nodeName=<its node>){stream}",
                           config_key="cilium-agent")
        classes += informer("nodes", "object", component="its own Node", config_key="cilium-agent")
        for resource, group in (("services", ""), ("endpointslices", "discovery.k8s.io")):
            classes += informer(resource, "cluster", api_group=group, config_key="cilium-agent",
                                component=f"service load-balancer ({resource}){stream}",
                                fix="inherent to per-node service load-balancing (as kube-proxy); keep services "
                                    "and endpoints within the scalability limits")
        for resource, group in (("namespaces", ""), ("networkpolicies", "networking.k8s.io"),
                                ("ciliumnetworkpolicies", CILIUM_GROUP),
                                ("ciliumclusterwidenetworkpolicies", CILIUM_GROUP)):
            classes += informer(resource, "cluster", api_group=group, component=f"policy ({resource}){stream}",
                                config_key="cilium-agent")
        kvstore = kvstore_mode(ctx)
        if not kvstore:
            slices = truthy(setting(ctx, "enable-cilium-endpoint-slice"))
            endpoints = "ciliumendpointslices" if slices else "ciliumendpoints"
            for resource in (endpoints, "ciliumidentities", "ciliumnodes"):
                classes += informer(
                    resource, "cluster", api_group=CILIUM_GROUP, component=f"ipcache / peers ({resource}){stream}",
                    config_key=f"{CONFIGMAP} enable-cilium-endpoint-slice / identity-allocation-mode",
                    fix="" if slices or resource != "ciliumendpoints" else
                    f"set enable-cilium-endpoint-slice: \"true\" in the {CONFIGMAP} ConfigMap, so agents watch "
                    "batched CiliumEndpointSlices instead of one CiliumEndpoint per pod")
        mode = "kvstore: identities, endpoints and nodes from etcd" if kvstore else "CRD mode"
        return Recognised(agent=f"{self.name} ({mode})", classes=classes)


class CiliumOperator:
    name = "cilium-operator"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        if not (runs(ctx, "cilium-operator", "cilium-operator-generic", "cilium-operator-aws",
                     "cilium-operator-azure") or ctx.image_matches("cilium/operator", "cilium/operator-generic",
                                                                   "cilium/operator-aws", "cilium/operator-azure")):
            return None
        classes = [RequestClass(
            verb="get", resource="leases", api_group="coordination.k8s.io", scope="object", trigger="periodic",
            rate_per_s=1 / C.LEADER_ELECTION_RETRY_PERIOD_S, component="leader election (lease poll)",
            config_key="cilium-operator")]
        resources = ["pods", "nodes"]
        if not kvstore_mode(ctx):
            resources += ["ciliumnodes", "ciliumidentities", "ciliumendpoints"]
        for resource in resources:
            group = CILIUM_GROUP if resource.startswith("cilium") else ""
            classes += informer(resource, "cluster", api_group=group, leader_only=True,
                                component=f"operator leader ({resource})", config_key="cilium-operator")
        return Recognised(agent=self.name, classes=classes)
