"""The built-in ClusterRoles kube-apiserver creates at start, as far as they decide API load.

Manifests bind them without defining them (kube-proxy's DaemonSet binds ``system:node-proxier``,
CoreDNS once bound ``system:kube-dns``), so the loader adds the ones a binding names and the
change does not define, and the RBAC upper bound costs what they grant.

Source: kubernetes ``plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go`` (commit
53f1b9d6f8de259644c05a25aa7ac8c6a67258e2: ``clusterRoles()``, ``NodeRules()`` and the
``nodeProxierRules`` with the EndpointSlice rule). Only the rules that grant get/list/watch on
resources are kept (writes, subresources, non-resource URLs and approvals do not make an
informer); ``Read`` there is get, list, watch. ``admin``/``edit``/``view`` are aggregated
roles: ``view``'s reads come from ``system:aggregate-to-view``.
"""

from __future__ import annotations

from waveguard.model.manifests import PolicyRule

_READ = ["get", "list", "watch"]


def _rule(verbs: list[str], group: str, *resources: str) -> PolicyRule:
    return PolicyRule(api_groups=[group], resources=list(resources), verbs=list(verbs))


_VIEW = [
    _rule(_READ, "", "pods", "replicationcontrollers", "serviceaccounts", "services", "endpoints",
          "persistentvolumeclaims", "configmaps", "limitranges", "resourcequotas", "events", "namespaces"),
    _rule(_READ, "apps", "controllerrevisions", "statefulsets", "daemonsets", "deployments", "replicasets"),
    _rule(_READ, "autoscaling", "horizontalpodautoscalers"),
    _rule(_READ, "batch", "jobs", "cronjobs"),
    _rule(_READ, "policy", "poddisruptionbudgets"),
    _rule(_READ, "networking.k8s.io", "networkpolicies", "ingresses"),
]

#: ClusterRole name → its read rules (policy.go, see the module docstring).
BOOTSTRAP_CLUSTER_ROLES: dict[str, list[PolicyRule]] = {
    "cluster-admin": [PolicyRule(api_groups=["*"], resources=["*"], verbs=["*"])],
    "view": _VIEW,
    "edit": [*_VIEW, _rule(_READ, "", "secrets")],
    "admin": [*_VIEW, _rule(_READ, "", "secrets")],
    "system:aggregate-to-view": _VIEW,
    "system:heapster": [_rule(_READ, "", "events", "pods", "nodes", "namespaces"),
                        _rule(_READ, "extensions", "deployments")],
    "system:node": [
        _rule(_READ, "", "services"),
        _rule(["create", "get", "list", "watch"], "", "nodes"),
        _rule(_READ, "", "pods"),
        _rule(_READ, "", "secrets", "configmaps"),
        _rule(["create", "get", "list", "watch"], "certificates.k8s.io", "certificatesigningrequests"),
        _rule(_READ, "storage.k8s.io", "csidrivers"),
        _rule(_READ, "node.k8s.io", "runtimeclasses"),
    ],
    "system:node-problem-detector": [_rule(["get"], "", "nodes")],
    "system:kubelet-api-admin": [_rule(_READ, "", "nodes")],
    "system:node-bootstrapper": [
        _rule(["create", "get", "list", "watch"], "certificates.k8s.io", "certificatesigningrequests")],
    "system:kube-aggregator": [_rule(_READ, "", "services", "endpoints")],
    "system:kube-dns": [_rule(["list", "watch"], "", "endpoints", "services")],
    "system:persistent-volume-provisioner": [
        _rule(["get", "list", "watch", "create", "delete"], "", "persistentvolumes"),
        _rule(["get", "list", "watch", "update"], "", "persistentvolumeclaims"),
        _rule(_READ, "storage.k8s.io", "storageclasses"),
        _rule(["watch"], "", "events"),
    ],
    "system:volume-scheduler": [
        _rule(_READ, "", "persistentvolumes", "persistentvolumeclaims"),
        _rule(_READ, "storage.k8s.io", "storageclasses"),
    ],
    "system:node-proxier": [
        _rule(["list", "watch"], "", "services", "endpoints"),
        _rule(_READ, "", "nodes"),
        _rule(["list", "watch"], "discovery.k8s.io", "endpointslices"),
    ],
}
