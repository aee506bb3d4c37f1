"""Calico: calico-node (Felix, BIRD/confd) on every node, Typha, calico-kube-controllers.

What Felix watches (projectcalico/calico ``libcalico-go/lib/backend/syncersv1/felixsyncer/
felixsyncerv1.go``): ClusterInformation and FelixConfiguration always; the active Felix also
GlobalNetworkPolicies, GlobalNetworkSets, IPPools, Nodes, Profiles, WorkloadEndpoints,
NetworkPolicies, NetworkSets, Tiers, HostEndpoints, BGPConfigurations, BGPPeers and, with the
Kubernetes datastore (KDD, ``DATASTORE_TYPE=kubernetes``), Kubernetes NetworkPolicies,
EndpointSlices and Services; IPAM blocks unless ``K8sUsePodCIDR``. In KDD a WorkloadEndpoint
is a Pod and a Profile a Namespace or ServiceAccount, so each of those is a cluster-wide
LIST+WATCH of pods, namespaces and serviceaccounts (libcalico-go ``lib/backend/k8s``; the
calico-node ClusterRole grants exactly these list/watch verbs "used by Calico for policy
information"). Nothing is filtered to the node.

Typha (projectcalico/calico ``typha/README.md``: "one Typha instance can support hundreds of
Felix instances ... strictly necessary ... with a cluster greater than 50 nodes") runs those
syncers once per Typha replica and fans the updates out; Felix then only GETs the Typha
Service's Endpoints to find it (``typha/pkg/discovery/discovery.go``: ``TyphaEnabled()`` is
``addrOverride != "" || k8sServiceName != ""``, i.e. env ``FELIX_TYPHAADDR`` or
``FELIX_TYPHAK8SSERVICENAME``; Calico's own manifests write ``typha_service_name: "none"``
under "Typha is disabled"). A Typha Deployment in the change with no explicit env is taken as
Typha in use (the Tigera operator sets the env itself).

With ``DATASTORE_TYPE=etcdv3`` Felix reads etcd, not kube-apiserver.

Evidence of every verdict: recognised from configuration (env, ConfigMap, the change's
workloads); no RBAC is read.
"""

from __future__ import annotations

from waveguard.analysis.recognisers.base import AgentContext, Recognised
from waveguard.analysis.recognisers.podspec import change_runs_image, env_names, env_set, env_value, runs
from waveguard.model.requests import RequestClass, informer

#: Kubernetes resources behind Felix's syncer in KDD (felixsyncerv1.go + lib/backend/k8s):
#: (resource, api group, what Calico reads it as).
FELIX_K8S_RESOURCES = (
    ("pods", "", "WorkloadEndpoints"),
    ("namespaces", "", "Profiles"),
    ("serviceaccounts", "", "Profiles"),
    ("nodes", "", "Nodes"),
    ("networkpolicies", "networking.k8s.io", "Kubernetes NetworkPolicies"),
    ("endpointslices", "discovery.k8s.io", "EndpointSlices (service-based policy)"),
    ("services", "", "Services"),
)
#: Calico CRDs behind Felix's syncer (felixsyncerv1.go; group crd.projectcalico.org).
FELIX_CRDS = (
    "clusterinformations", "felixconfigurations", "globalnetworkpolicies", "globalnetworksets", "ippools",
    "networkpolicies", "networksets", "tiers", "hostendpoints", "bgpconfigurations", "bgppeers", "ipamblocks",
)
#: confd's BGP syncer with BIRD (libcalico-go syncersv1/bgpsyncer/bgpsyncer.go): nodes, BGP
#: peers and configurations, IPAM block affinities (route aggregation).
BGP_CRDS = ("bgppeers", "bgpconfigurations", "blockaffinities")
CRD_GROUP = "crd.projectcalico.org"

#: Calico's install docs ("Install Calico ... more than 50 nodes", calico-typha.yaml): "at least
#: one replica for every 200 nodes and no more than 20 replicas ... a minimum of three replicas".
_TYPHA_FIX = ("deploy Typha (the calico-typha Deployment: one replica per 200 nodes, at least 3, at most 20) and set "
              "env FELIX_TYPHAK8SSERVICENAME: calico-typha on calico-node (calico-config typha_service_name), so "
              "only the Typha replicas watch the API: Calico requires it above 50 nodes (projectcalico/calico "
              "typha/README.md)")


def _typha_in_use(ctx: AgentContext) -> tuple[bool, str]:
    """(Felix talks to Typha, how that was decided)."""
    if env_set(ctx, "FELIX_TYPHAADDR"):
        return True, "env FELIX_TYPHAADDR"
    name = env_value(ctx, "FELIX_TYPHAK8SSERVICENAME")
    if name is not None:
        shown = name or '""'
        return env_set(ctx, "FELIX_TYPHAK8SSERVICENAME"), f"env FELIX_TYPHAK8SSERVICENAME={shown}"
    typhas = change_runs_image(ctx, "calico/typha", "tigera/typha")
    if typhas:
        return True, f"Typha Deployment {typhas[0].ref} in the change"
    return False, "no FELIX_TYPHAK8SSERVICENAME / FELIX_TYPHAADDR and no Typha Deployment in the change"


def felix_syncer_classes(component: str, *, fix: str = "", bgp: bool = True) -> list[RequestClass]:
    """The informers of one copy of Felix's (and confd's) syncers: what a calico-node without
    Typha, or one Typha replica, LISTs and WATCHes cluster-wide."""
    classes: list[RequestClass] = []
    for resource, group, as_what in FELIX_K8S_RESOURCES:
        classes += informer(resource, "cluster", api_group=group, component=f"{component} ({as_what})",
                            config_key="env FELIX_TYPHAK8SSERVICENAME", fix=fix)
    crds = FELIX_CRDS + tuple(c for c in BGP_CRDS if bgp and c not in FELIX_CRDS)
    for crd in crds:
        classes += informer(crd, "cluster", api_group=CRD_GROUP, component=f"{component} (Calico {crd})",
                            config_key="env FELIX_TYPHAK8SSERVICENAME")
    return classes


class CalicoNode:
    name = "calico-node"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        felix_env = any(k.startswith("FELIX_") or k == "CALICO_NETWORKING_BACKEND" for k in env_names(ctx))
        if not (ctx.image_matches("calico/node", "tigera/node", "calico-node") or runs(ctx, "calico-node")
                or (felix_env and ctx.workload.per_node)):
            return None
        if ctx.workload.kind != "DaemonSet" and not runs(ctx, "calico-node", "start_runit"):
            return None
        datastore = (env_value(ctx, "DATASTORE_TYPE") or "kubernetes").strip().lower()
        result = Recognised(agent=self.name)
        if datastore != "kubernetes":
            return result  # etcdv3: Felix and confd read etcd, not kube-apiserver
        bgp = (env_value(ctx, "CALICO_NETWORKING_BACKEND") or "bird").strip().lower() == "bird"
        typha, why = _typha_in_use(ctx)
        if typha:
            result.agent = f"{self.name} (via Typha: {why})"
            result.classes.append(RequestClass(
                verb="get", resource="endpoints", scope="object", trigger="start",
                component="Typha discovery (GET the Typha Service's Endpoints)",
                config_key="env FELIX_TYPHAK8SSERVICENAME"))
        else:
            result.agent = f"{self.name} (no Typha: {why})"
            result.classes += felix_syncer_classes("Felix syncer, every node", fix=_TYPHA_FIX, bgp=bgp)
        result.classes.append(RequestClass(
            verb="get", resource="nodes", scope="object", trigger="start",
            component="calico-node startup (its own Node)", config_key="env NODENAME"))
        return result


class CalicoTypha:
    """calico-typha: a fixed number of replicas, each running the syncers once (O(nodes))."""

    name = "calico-typha"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        if not (ctx.image_matches("calico/typha", "tigera/typha") or runs(ctx, "calico-typha")):
            return None
        return Recognised(agent=self.name, classes=felix_syncer_classes("Typha syncers (one copy per replica)"))


#: calico-kube-controllers' controllers → the Kubernetes resources they watch cluster-wide
#: (projectcalico/calico ``kube-controllers/pkg/controllers/<name>``): node (Nodes, and Pods for
#: IPAM garbage collection); in etcd mode policy / namespace / serviceaccount / workloadendpoint
#: copy those Kubernetes objects into etcd.
KUBE_CONTROLLERS = {
    "node": (("nodes", ""), ("pods", "")),
    "policy": (("networkpolicies", "networking.k8s.io"),),
    "namespace": (("namespaces", ""),),
    "serviceaccount": (("serviceaccounts", ""),),
    "workloadendpoint": (("pods", ""),),
}


class CalicoKubeControllers:
    """calico-kube-controllers (one replica): the controllers named in ``ENABLED_CONTROLLERS``
    (the manifests set it: ``node`` with the Kubernetes datastore; etcd manifests add
    ``policy,namespace,serviceaccount,workloadendpoint``), each watching cluster-wide what
    :data:`KUBE_CONTROLLERS` lists (the manifest's own ClusterRole: "Pods are watched to check
    for existence as part of IPAM controller"). O(nodes): one replica."""

    name = "calico-kube-controllers"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        if not (ctx.image_matches("calico/kube-controllers", "tigera/kube-controllers")
                or runs(ctx, "kube-controllers")):
            return None
        result = Recognised(agent=self.name)
        enabled = [c.strip() for c in (env_value(ctx, "ENABLED_CONTROLLERS") or "node").split(",")]
        watched = dict.fromkeys(rg for c in enabled for rg in KUBE_CONTROLLERS.get(c, ()))
        for resource, group in watched:
            result.classes += informer(resource, "cluster", api_group=group, component=f"kube-controllers ({resource})",
                                       config_key="env ENABLED_CONTROLLERS")
        return result
