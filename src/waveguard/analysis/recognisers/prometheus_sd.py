"""Kubernetes service discovery as Prometheus and Grafana Alloy implement it.

Prometheus ``kubernetes_sd_configs`` and Alloy ``discovery.kubernetes`` share one
implementation (prometheus/discovery/kubernetes): per role, informers on

* ``pod``: pods; ``node``: nodes; ``service``: services; ``ingress``: ingresses;
* ``endpoints``: endpoints, services and pods; ``endpointslice``: endpointslices, services, pods.

``namespaces.names`` limits them to namespaces; a ``selectors`` entry whose ``field`` is
``spec.nodeName=…`` for the pod role limits pods to one node (the fix for DaemonSets).
"""

from __future__ import annotations

from waveguard.model.requests import RequestClass, Scope, informer

ROLE_RESOURCES: dict[str, tuple[tuple[str, str], ...]] = {
    "pod": (("pods", ""),),
    "node": (("nodes", ""),),
    "service": (("services", ""),),
    "ingress": (("ingresses", "networking.k8s.io"),),
    "endpoints": (("endpoints", ""), ("services", ""), ("pods", "")),
    "endpointslice": (("endpointslices", "discovery.k8s.io"), ("services", ""), ("pods", "")),
}


def sd_classes(role: str, *, namespaced: bool, node_field_roles: set[str], component: str, config_key: str,
               fix: str) -> list[RequestClass]:
    """Informers for one service-discovery config. ``node_field_roles``: roles whose selectors
    carry a ``spec.nodeName`` field selector."""
    classes: list[RequestClass] = []
    for resource, group in ROLE_RESOURCES.get(role, ()):
        scope: Scope = "namespace" if namespaced else "cluster"
        if resource == "pods" and "pod" in node_field_roles:
            scope = "node"
        classes += informer(resource, scope, api_group=group, component=f"{component} role={role} ({resource})",
                            config_key=config_key, fix=fix if resource == "pods" and scope == "cluster" else "")
    return classes


def prometheus_sd_classes(scrape_configs: list, *, component: str, key_prefix: str,
                          node_value: str = "$NODE_NAME") -> list[RequestClass]:
    """Request classes of Prometheus-format ``scrape_configs`` (Prometheus, OTel's prometheus
    receiver)."""
    classes: list[RequestClass] = []
    for i, job in enumerate(scrape_configs):
        if not isinstance(job, dict):
            continue
        for j, sd in enumerate(job.get("kubernetes_sd_configs") or []):
            if not isinstance(sd, dict):
                continue
            role = str(sd.get("role", "pod"))
            names = (sd.get("namespaces") or {}).get("names") if isinstance(sd.get("namespaces"), dict) else None
            node_roles = {
                str(s.get("role")) for s in sd.get("selectors") or []
                if isinstance(s, dict) and "spec.nodeName" in str(s.get("field", ""))
            }
            key = f"{key_prefix}[{i}].kubernetes_sd_configs[{j}]"
            classes += sd_classes(
                role, namespaced=bool(names), node_field_roles=node_roles,
                component=f"{component} job {job.get('job_name', i)}", config_key=key,
                fix=f"add to {key}.selectors: {{role: pod, field: spec.nodeName={node_value}}} with the node name "
                    "from fieldRef spec.nodeName (expanded before the config is loaded)",
            )
    return classes
