"""Unknown agents: an upper bound from RBAC.

When no recogniser knows the workload but its ServiceAccount may LIST and WATCH resources,
assume the worst the RBAC allows: an informer (LIST at start, WATCH held) on every resource it
may both list and watch, at the scope of the grant (ClusterRoleBinding: cluster-wide;
RoleBinding: one namespace). The result is labelled as an upper bound: a question for the
user (measure it), not a verdict.

Grants that make no informer are not read as one (client-go's reflector needs list AND watch:
``tools/cache/reflector.go`` ListAndWatch):

* ``list`` without ``watch`` is a one-off LIST at start (an upper bound: the agent may never
  send it, or poll);
* ``list`` on pods beside ``create pods/eviction`` is kubectl drain's (kured, node drainers):
  it lists the pods of one node (kubectl ``pkg/drain/drain.go`` GetPodsForDeletion: field
  selector ``spec.nodeName``), once per drain;
* ``get`` alone, writes, and subresources (``nodes/proxy``, ``pods/eviction``) are not LISTs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from waveguard.analysis.recognisers.base import AgentContext, Recognised
from waveguard.model.manifests import Grant
from waveguard.model.requests import RequestClass, Scope, informer

#: What ``resources: ["*"]`` is taken to mean: the resources that dominate API load.
WILDCARD_RESOURCES = ("pods", "nodes", "services", "endpoints", "replicasets", "deployments", "events",
                      "configmaps", "secrets", "namespaces")


@dataclass
class _Access:
    """What the grants allow on one resource: the widest scope, its verbs, which bindings."""

    scope: Scope = "namespace"
    verbs: set[str] = field(default_factory=set)
    sources: list[str] = field(default_factory=list)

    def add(self, grant: Grant) -> None:
        if grant.cluster_wide:
            self.scope = "cluster"
        self.verbs |= {"list", "watch"} if "*" in grant.rule.verbs else set(grant.rule.verbs) & {"list", "watch"}
        if grant.source not in self.sources:
            self.sources.append(grant.source)


def _accesses(grants: list[Grant]) -> dict[str, _Access]:
    """Resource → what the grants allow on it (list/watch only; resourceNames-limited rules and
    subresources left out)."""
    out: dict[str, _Access] = {}
    for grant in grants:
        rule = grant.rule
        if rule.resource_names or not ({"list", "watch", "*"} & set(rule.verbs)):
            continue
        for resource in WILDCARD_RESOURCES if "*" in rule.resources else rule.resources:
            if "/" not in resource:
                out.setdefault(resource, _Access()).add(grant)
    return out


def _drains(grants: list[Grant]) -> bool:
    """True when the grants include kubectl drain's eviction (create pods/eviction)."""
    return any("pods/eviction" in g.rule.resources and ({"create", "*"} & set(g.rule.verbs)) for g in grants)


def _classes(resource: str, access: _Access, drains: bool) -> list[RequestClass]:
    by = ", ".join(access.sources)
    if {"list", "watch"} <= access.verbs:
        return informer(resource, access.scope, component=f"RBAC {by} allows list+watch {resource}",
                        config_key=f"RBAC {by}", upper_bound=True)
    if "list" not in access.verbs:
        return []  # a watch without a list starts from "now": no informer, nothing to list
    if resource == "pods" and drains:
        return [RequestClass(verb="list", resource="pods", scope="node", trigger="start", selector=True,
                             component=f"RBAC {by}: kubectl drain lists its node's pods", config_key=f"RBAC {by}",
                             upper_bound=True)]
    return [RequestClass(verb="list", resource=resource, scope=access.scope, trigger="start",
                         component=f"RBAC {by} allows list {resource} (no watch: a one-off LIST)",
                         config_key=f"RBAC {by}", upper_bound=True)]


class RBACUpperBound:
    name = "unknown (RBAC upper bound)"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        if not ctx.workload.automount_token:
            return None
        drains = _drains(ctx.grants)
        classes: list[RequestClass] = []
        for resource, access in sorted(_accesses(ctx.grants).items()):
            classes += _classes(resource, access, drains)
        if not classes:
            return None
        return Recognised(agent=self.name, classes=classes, upper_bound=True)
