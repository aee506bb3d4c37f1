"""kube-proxy: one per node, programs Service VIPs.

kubernetes/kubernetes ``cmd/kube-proxy/app/server.go`` (``ProxyServer.Run``): one shared
informer factory whose only tweak is a *label* selector (``!service.kubernetes.io/headless``,
``!service.kubernetes.io/service-proxy-name``) — Services and EndpointSlices (Endpoints before
EndpointSlices became the default, v1.19) cluster-wide, plus ServiceCIDRs where the
MultiCIDRServiceAllocator gate is on (a handful of objects); and a second factory for its own
Node only (field selector ``metadata.name=<node>``). Every node holds every Service and
EndpointSlice: O(nodes²) by construction, which is what Kubernetes' 5,000-node scalability
limits are measured with.

Recognised by image (``registry.k8s.io/kube-proxy``) or binary (``kube-proxy``); no RBAC is read
(kube-proxy binds the built-in ClusterRole system:node-proxier, which is not in manifests).
"""

from __future__ import annotations

from waveguard.analysis.recognisers.base import AgentContext, Recognised
from waveguard.analysis.recognisers.podspec import image_version, runs
from waveguard.model.requests import RequestClass, informer

#: kube-proxy reads EndpointSlices by default from v1.19 (KEP-752, feature gate
#: EndpointSliceProxying beta and on by default for Linux in 1.19); Endpoints before.
ENDPOINTSLICES_SINCE = (1, 19)


class KubeProxy:
    name = "kube-proxy"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        if not (ctx.image_matches("kube-proxy") or runs(ctx, "kube-proxy")):
            return None
        result = Recognised(agent=self.name)
        version = image_version(ctx, "kube-proxy")
        endpoints = ("endpoints", "") if version is not None and version < ENDPOINTSLICES_SINCE else \
            ("endpointslices", "discovery.k8s.io")
        for resource, group in (("services", ""), endpoints):
            for rc in informer(resource, "cluster", api_group=group, config_key="cmd/kube-proxy",
                               component=f"service proxy ({resource}, label selector excludes headless "
                                         "and other proxies' services)",
                               fix="inherent to kube-proxy; a kube-proxy replacement (Cilium, Calico eBPF) watches "
                                   "the same objects, so keep services and endpoints within the scalability "
                                   "limits instead"):
                result.classes.append(rc.model_copy(update={"selector": True}))
        result.classes += informer("nodes", "object", component="its own Node (field selector metadata.name)",
                                   config_key="cmd/kube-proxy")
        result.classes.append(RequestClass(
            verb="create", resource="events", scope="namespace", trigger="start",
            component="birth cry event", config_key="cmd/kube-proxy"))
        return result
