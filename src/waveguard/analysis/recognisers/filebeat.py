"""Filebeat (and the other Beats' Kubernetes metadata).

Documented behaviour (Beats reference, ``add_kubernetes_metadata`` and the kubernetes
autodiscover provider):

* ``scope: node`` (the default) watches the pods of the Beat's own node (``node``/``host`` or
  NODE_NAME); ``scope: cluster`` watches all pods.
* ``add_resource_metadata``: Namespace metadata (on by default) adds a cluster-wide Namespace
  informer; Node metadata (on by default) watches the Beat's own Node; ``deployment: true`` and
  ``cronjob: true`` (off by default since 8.x) add ReplicaSet and Job informers, cluster-wide.
* autodiscover with ``unique: true`` uses leader election: every replica polls the lease.
"""

from __future__ import annotations

from typing import Any, Iterator

from waveguard.analysis.recognisers.base import AgentContext, Recognised
from waveguard.model import constants as C
from waveguard.model.requests import RequestClass, Scope, informer


def _find(node: Any, key: str, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every value under ``key`` anywhere in a parsed YAML tree, with its dotted path."""
    if isinstance(node, dict):
        for k, v in node.items():
            here = f"{path}.{k}" if path else str(k)
            if k == key:
                yield here, v
            yield from _find(v, key, here)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _find(v, key, f"{path}[{i}]")


def _metadata_classes(conf: dict, key: str, component: str, leader_only: bool = False) -> list[RequestClass]:
    scope: Scope = "cluster" if str(conf.get("scope", "node")) == "cluster" else "node"
    classes = informer("pods", scope, component=f"{component} (pods)", config_key=f"{key}.scope",
                       leader_only=leader_only,
                       fix=f"set {key}.scope: node (and node: ${{NODE_NAME}})" if scope == "cluster" else "")
    meta = conf.get("add_resource_metadata") or {}
    if (meta.get("namespace") or {}).get("enabled", True):
        classes += informer("namespaces", "cluster", component=f"{component} (namespaces)",
                            config_key=f"{key}.add_resource_metadata.namespace", leader_only=leader_only)
    if (meta.get("node") or {}).get("enabled", True):
        classes += informer("nodes", "object", component=f"{component} (own node)",
                            config_key=f"{key}.add_resource_metadata.node", leader_only=leader_only)
    if meta.get("deployment") is True:
        classes += informer("replicasets", "cluster", api_group="apps", component=f"{component} (replicasets)",
                            config_key=f"{key}.add_resource_metadata.deployment", leader_only=leader_only,
                            fix=f"set {key}.add_resource_metadata.deployment: false")
    if meta.get("cronjob") is True:
        classes += informer("jobs", "cluster", api_group="batch", component=f"{component} (jobs)",
                            config_key=f"{key}.add_resource_metadata.cronjob", leader_only=leader_only,
                            fix=f"set {key}.add_resource_metadata.cronjob: false")
    return classes


class Filebeat:
    name = "filebeat"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        if not ctx.image_matches("filebeat", "metricbeat", "auditbeat", "heartbeat", "packetbeat"):
            return None
        result = Recognised(agent=self.name)
        for file_name, cfg in ctx.yaml_configs():
            for path, conf in _find(cfg, "add_kubernetes_metadata"):
                result.classes += _metadata_classes(conf if isinstance(conf, dict) else {}, f"{file_name}: {path}",
                                                    "add_kubernetes_metadata")
            for path, providers in _find(cfg, "providers"):
                for i, prov in enumerate(providers if isinstance(providers, list) else []):
                    if not isinstance(prov, dict) or prov.get("type") != "kubernetes":
                        continue
                    key = f"{file_name}: {path}[{i}]"
                    unique = bool(prov.get("unique"))
                    result.classes += _metadata_classes(prov, key, "autodiscover kubernetes", leader_only=unique)
                    if unique:
                        result.classes.append(RequestClass(
                            verb="get", resource="leases", api_group="coordination.k8s.io", scope="object",
                            trigger="periodic", rate_per_s=1 / C.LEADER_ELECTION_RETRY_PERIOD_S,
                            component="autodiscover unique (lease poll)", config_key=f"{key}.unique",
                            fix=f"run the unique autodiscover provider ({key}) in a single-replica Deployment"))
        return result
