"""kube-router (cloudnativelabs/kube-router): routing, network policy and service proxy per node.

``pkg/cmd/kube-router.go`` (``KubeRouter.Run``) builds one shared informer factory with no
tweak (no field or label selector) and asks it for six informers — Services, EndpointSlices,
Pods, Nodes, Namespaces, NetworkPolicies — *before* ``informerFactory.Start``, which starts
every informer requested so far. The ``--run-router`` / ``--run-firewall`` /
``--run-service-proxy`` flags (pkg/options: all default true) only decide which controllers
register event handlers afterwards; they do not stop any informer. So with the firewall off
every replica still LISTs and WATCHes all pods, namespaces and network policies. Only when all
three are false does kube-router exit at once ("Router, Firewall or Service proxy functionality
must be specified. Exiting!"). Versions: v1.x asked for ``Endpoints()`` (``epInformer``); early
v2 releases (module path ``kube-router/v2``) asked for both ``Endpoints()`` and
``EndpointSlices()``; current releases for ``EndpointSlices()`` only. Modelled: Endpoints before
v2.0, EndpointSlices from v2.0 (an early v2's extra Endpoints informer is not counted).

Evidence: recognised from the container's args and image tag; no RBAC is read.
"""

from __future__ import annotations

from waveguard.analysis.recognisers.base import AgentContext, Recognised
from waveguard.analysis.recognisers.podspec import flag_on, image_version, runs
from waveguard.model.requests import informer

#: The informers kube-router.go requests unconditionally: (resource, api group).
INFORMERS = (
    ("services", ""), ("endpointslices", "discovery.k8s.io"), ("pods", ""), ("nodes", ""), ("namespaces", ""),
    ("networkpolicies", "networking.k8s.io"),
)
#: First major release that watches EndpointSlices (module path kube-router/v2); v1.x watched Endpoints.
ENDPOINTSLICES_SINCE = (2, 0)
_FLAGS = ("--run-router", "--run-firewall", "--run-service-proxy")


class KubeRouter:
    name = "kube-router"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        own_flags = any(a.startswith(_FLAGS) for a in ctx.workload.all_args())
        if not (ctx.image_matches("cloudnativelabs/kube-router", "kube-router") or runs(ctx, "kube-router") or own_flags):
            return None
        result = Recognised(agent=self.name)
        on = [flag for flag in _FLAGS if flag_on(ctx, flag, True)]
        if not on:
            return result  # exits at start: nothing to run
        version = image_version(ctx, "kube-router")
        slices = version is None or version >= ENDPOINTSLICES_SINCE
        off = [flag for flag in _FLAGS if flag not in on]
        why = f"started whatever the flags ({', '.join(f'{f}=false' for f in off)} stops no informer)" if off else \
            "shared informer factory, no selector"
        for resource, group in INFORMERS:
            if resource == "endpointslices" and not slices:
                resource, group = "endpoints", ""
            result.classes += informer(
                resource, "cluster", api_group=group, component=f"kube-router {resource} informer ({why})",
                config_key="args " + " ".join(f"{f}={'true' if f in on else 'false'}" for f in _FLAGS),
                fix="kube-router's informers have no node filter in any mode; on large clusters use a CNI whose "
                    "per-node agent watches only its node's pods, or keep the cluster small")
        return result
