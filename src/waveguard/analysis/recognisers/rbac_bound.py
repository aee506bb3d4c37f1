"""Unknown agents: an upper bound from RBAC.

When no recogniser knows the workload but its ServiceAccount may LIST/WATCH resources, assume
the worst the RBAC allows: an informer (LIST at start, WATCH held) on every such resource, at
the scope of the grant (ClusterRoleBinding: cluster-wide; RoleBinding: one namespace). The
result is labelled as an upper bound.
"""

from __future__ import annotations

from waveguard.analysis.recognisers.base import AgentContext, Recognised
from waveguard.model.requests import RequestClass, Scope, informer

#: What ``resources: ["*"]`` is taken to mean: the resources that dominate API load.
WILDCARD_RESOURCES = ("pods", "nodes", "services", "endpoints", "replicasets", "deployments", "events",
                      "configmaps", "secrets", "namespaces")


class RBACUpperBound:
    name = "unknown (RBAC upper bound)"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        if not ctx.workload.automount_token:
            return None
        scopes: dict[str, Scope] = {}
        for grant in ctx.grants:
            rule = grant.rule
            if rule.resource_names or not ({"list", "watch", "*"} & set(rule.verbs)):
                continue
            resources = WILDCARD_RESOURCES if "*" in rule.resources else rule.resources
            for r in resources:
                if "/" in r:
                    continue  # subresources (nodes/proxy...) are proxied GETs, not LIST/WATCH
                if grant.cluster_wide or scopes.get(r) != "cluster":
                    scopes[r] = "cluster" if grant.cluster_wide else "namespace"
        if not scopes:
            return None
        classes: list[RequestClass] = []
        for r, scope in sorted(scopes.items()):
            classes += informer(r, scope, component=f"RBAC allows list/watch {r}", config_key="RBAC",
                                upper_bound=True)
        return Recognised(agent=self.name, classes=classes, upper_bound=True)
