"""kube-state-metrics: informers on every resource in ``--resources`` (its default set),
cluster-wide, in each replica (docs/cli-arguments.md). ``--node`` (DaemonSet sharding) limits
pods to one node; ``--namespaces`` limits the scope."""

from __future__ import annotations

from waveguard.analysis.recognisers.base import AgentContext, Recognised
from waveguard.model.requests import Scope, informer

#: kube-state-metrics' default resources (v2, docs/cli-arguments.md), with API groups.
DEFAULT_RESOURCES = {
    "certificatesigningrequests": "certificates.k8s.io", "configmaps": "", "cronjobs": "batch",
    "daemonsets": "apps", "deployments": "apps", "endpoints": "", "horizontalpodautoscalers": "autoscaling",
    "ingresses": "networking.k8s.io", "jobs": "batch", "leases": "coordination.k8s.io", "limitranges": "",
    "mutatingwebhookconfigurations": "admissionregistration.k8s.io", "namespaces": "", "networkpolicies":
    "networking.k8s.io", "nodes": "", "persistentvolumeclaims": "", "persistentvolumes": "",
    "poddisruptionbudgets": "policy", "pods": "", "replicasets": "apps", "replicationcontrollers": "",
    "resourcequotas": "", "secrets": "", "services": "", "statefulsets": "apps", "storageclasses":
    "storage.k8s.io", "validatingwebhookconfigurations": "admissionregistration.k8s.io",
    "volumeattachments": "storage.k8s.io",
}


class KubeStateMetrics:
    name = "kube-state-metrics"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        if not ctx.image_matches("kube-state-metrics"):
            return None
        wanted = ctx.arg_value("--resources")
        resources = [r.strip() for r in wanted.split(",")] if wanted else list(DEFAULT_RESOURCES)
        namespaced = bool(ctx.arg_value("--namespaces"))
        node_filtered = bool(ctx.arg_value("--node"))
        classes = []
        for r in resources:
            scope: Scope = "node" if (r == "pods" and node_filtered) else ("namespace" if namespaced else "cluster")
            classes += informer(r, scope, api_group=DEFAULT_RESOURCES.get(r, ""), component=f"kube-state-metrics ({r})",
                                config_key="--resources")
        return Recognised(agent=self.name, classes=classes)
