"""OpenTelemetry Collector (contrib/k8s distributions and vendor distributions).

Which workloads are collectors (:func:`is_collector`): the upstream images, the vendor
distributions (Splunk ``signalfx/splunk-otel-collector``, AWS ``aws-otel-collector`` (ADOT),
Elastic's EDOT ``elastic-otel-collector``, SigNoz ``signoz-otel-collector``, Sumo Logic
``sumologic-otel-collector``, Honeycomb/Grafana ``otelcol-*`` builds), and any container whose
command/args pass ``--config`` (the collector's flag, opentelemetry-collector
``otelcol/command.go``) while a mounted config has the collector's shape: ``receivers:`` and
``exporters:`` and ``service.pipelines`` (opentelemetry-collector ``otelcol/config.go``,
``Config.Validate``: a config needs receivers, exporters and at least one pipeline). They all
embed the same contrib components, so the component behaviour below applies to each.

Documented behaviour (opentelemetry-collector-contrib READMEs), per collector replica:

* ``k8sattributes`` / ``k8s_attributes`` processor: a pod informer, cluster-wide unless
  ``filter.node_from_env_var`` / ``filter.node`` limit it to the collector's node (or
  ``filter.namespace`` to a namespace). Extracting ``k8s.deployment.name`` (a default) or
  ReplicaSet metadata adds a ReplicaSet informer that stays cluster-wide even with the node
  filter; namespace / node labels or annotations add Namespace / Node informers.
* ``k8s_cluster`` receiver: informers on pods, nodes, namespaces, workloads, HPAs, quotas,
  services cluster-wide. With ``k8s_leader_elector`` only the leader runs them.
* ``k8sobjects`` receiver: per object entry, ``mode: pull`` LISTs every ``interval`` (1 h
  default) and ``mode: watch`` watches; ``namespaces`` restricts the scope.
* ``k8s_events`` receiver: an Event informer (cluster-wide unless ``namespaces``).
* ``k8s_observer`` extension: a pod informer filtered by ``node``; ``observe_nodes`` adds a
  Node informer, ``observe_services`` a Service informer.
* ``k8s_leader_elector`` extension: every replica polls the lease every retry period (2 s).
* ``prometheus`` receiver with ``kubernetes_sd_configs``: Prometheus service discovery.
"""

from __future__ import annotations

import re

from waveguard.analysis.recognisers.base import AgentContext, Recognised, duration_s
from waveguard.analysis.recognisers.prometheus_sd import prometheus_sd_classes
from waveguard.model import constants as C
from waveguard.model.requests import RequestClass, Scope, informer

#: k8s_cluster receiver's informers (receiver/k8sclusterreceiver/watcher.go).
K8S_CLUSTER_RESOURCES = (
    ("pods", ""), ("nodes", ""), ("namespaces", ""), ("replicationcontrollers", ""), ("resourcequotas", ""),
    ("services", ""), ("deployments", "apps"), ("replicasets", "apps"), ("daemonsets", "apps"),
    ("statefulsets", "apps"), ("jobs", "batch"), ("cronjobs", "batch"), ("horizontalpodautoscalers", "autoscaling"),
)
#: Metadata the k8sattributes processor extracts by default (its README).
DEFAULT_K8SATTRIBUTES_METADATA = (
    "k8s.namespace.name", "k8s.pod.name", "k8s.pod.uid", "k8s.pod.start_time", "k8s.deployment.name",
    "k8s.node.name",
)
_NEEDS_REPLICASETS = {"k8s.deployment.name", "k8s.deployment.uid", "k8s.replicaset.name", "k8s.replicaset.uid"}


def _base(name: str) -> str:
    """Component type without its ``/name`` suffix, with the old underscore-less spelling."""
    return name.split("/")[0].replace("k8sattributes", "k8s_attributes").replace(
        "k8scluster", "k8s_cluster").replace("k8sobjects", "k8s_objects").replace("k8sevents", "k8s_events")


#: Image names of collector distributions (each project's published image; see the module docstring).
COLLECTOR_IMAGES = (
    "opentelemetry-collector", "otelcol", "splunk-otel-collector", "aws-otel-collector", "adot-collector",
    "elastic-otel-collector", "signoz-otel-collector", "sumologic-otel-collector", "otel-collector",
)


def collector_config_shape(cfg: dict) -> bool:
    """True when ``cfg`` is a collector config: receivers, exporters and service.pipelines
    (opentelemetry-collector otelcol/config.go ``Config.Validate``)."""
    service = cfg.get("service")
    return (isinstance(cfg.get("receivers"), dict) and isinstance(cfg.get("exporters"), dict)
            and isinstance(service, dict) and isinstance(service.get("pipelines"), dict))


def is_collector(ctx: AgentContext) -> bool:
    """A collector by image name, or by its ``--config`` flag plus a collector-shaped config."""
    if ctx.image_matches(*COLLECTOR_IMAGES):
        return True
    passes_config = any(a == "--config" or a.startswith("--config=") for a in ctx.workload.all_args())
    return passes_config and any(collector_config_shape(cfg) for _, cfg in ctx.yaml_configs())


class OpenTelemetryCollector:
    name = "opentelemetry-collector"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        if not is_collector(ctx):
            return None
        result = Recognised(agent=self.name)
        for file_name, cfg in ctx.yaml_configs():
            if "service" in cfg or "receivers" in cfg:
                self._collector_config(ctx, file_name, cfg, result)
        return result

    def _collector_config(self, ctx: AgentContext, file_name: str, cfg: dict, result: Recognised) -> None:
        service = cfg.get("service") or {}
        pipelines = service.get("pipelines") or {}
        used: dict[str, set[str]] = {"processors": set(), "receivers": set()}
        for pipe in pipelines.values():
            for kind in used:
                used[kind].update((pipe or {}).get(kind) or [])
        extensions = set(service.get("extensions") or [])
        per_node = ctx.workload.per_node

        for name in sorted(used["processors"]):
            if _base(name) == "k8s_attributes":
                conf = (cfg.get("processors") or {}).get(name) or {}
                result.classes += self._k8sattributes(ctx, name, conf, per_node)
        for name in sorted(used["receivers"]):
            conf = (cfg.get("receivers") or {}).get(name) or {}
            kind = _base(name)
            if kind == "k8s_cluster":
                result.classes += self._k8s_cluster(name, conf, per_node)
            elif kind == "k8s_objects":
                result.classes += self._k8sobjects(name, conf)
            elif kind == "k8s_events":
                result.classes += informer("events", "namespace" if conf.get("namespaces") else "cluster",
                                           component=f"receiver {name}", config_key=f"receivers.{name}",
                                           fix="run k8s_events in one Deployment replica, not in the DaemonSet")
            elif kind == "prometheus":
                scrape = ((conf.get("config") or {}).get("scrape_configs")) or []
                result.classes += prometheus_sd_classes(scrape, component=f"receiver {name}",
                                                        key_prefix=f"receivers.{name}.config.scrape_configs",
                                                        node_value="${env:K8S_NODE_NAME}")
        for name in sorted(extensions):
            conf = (cfg.get("extensions") or {}).get(name) or {}
            kind = name.split("/")[0]
            if kind == "k8s_observer":
                result.classes += self._k8s_observer(ctx, name, conf)
            elif kind == "k8s_leader_elector":
                result.classes += self._leader_elector(name, per_node)

    @staticmethod
    def _k8sattributes(ctx: AgentContext, name: str, conf: dict, per_node: bool) -> list[RequestClass]:
        key = f"processors.{name}"
        filt = conf.get("filter") or {}
        node_env = filt.get("node_from_env_var")
        broken_filter = ""
        scope: Scope
        if node_env and not ctx.env_from_node_name(str(node_env)):
            # The collector reads an empty node name and the filter matches every pod.
            broken_filter = f"; filter.node_from_env_var names {node_env}, which the container does not set from " \
                            "spec.nodeName, so the filter is empty"
            scope = "cluster"
        elif node_env or filt.get("node"):
            scope = "node"
        elif filt.get("namespace"):
            scope = "namespace"
        else:
            scope = "cluster"
        env_name = node_env or "K8S_NODE_NAME"
        fix = (f"set {key}.filter.node_from_env_var: {env_name} and give the container env {env_name} from fieldRef "
               "spec.nodeName, so each collector watches only its node's pods") if scope == "cluster" and per_node else ""
        classes = informer("pods", scope, component=f"processor {name} (pods{broken_filter})",
                           config_key=f"{key}.filter", fix=fix)
        extract = conf.get("extract") or {}
        explicit = "metadata" in extract
        metadata = set(extract.get("metadata") or DEFAULT_K8SATTRIBUTES_METADATA)
        if metadata & _NEEDS_REPLICASETS:
            drop = (f"drop k8s.deployment.* / k8s.replicaset.* from {key}.extract.metadata" if explicit else
                    f"set {key}.extract.metadata explicitly, without k8s.deployment.name (a default)")
            classes += informer(
                "replicasets", "cluster", api_group="apps", component=f"processor {name} (ReplicaSets for "
                "k8s.deployment.name)", config_key=f"{key}.extract.metadata",
                fix=f"{drop}, or add deployment names in a gateway Deployment: the ReplicaSet informer stays "
                    "cluster-wide even with the node filter")
        if extract.get("labels") or extract.get("annotations"):
            froms = {e.get("from", "pod") for e in (extract.get("labels") or []) + (extract.get("annotations") or [])
                     if isinstance(e, dict)}
            if "namespace" in froms:
                classes += informer("namespaces", "cluster", component=f"processor {name} (namespaces)",
                                    config_key=f"{key}.extract")
            if "node" in froms:
                classes += informer("nodes", "cluster", component=f"processor {name} (nodes)",
                                    config_key=f"{key}.extract")
        return classes

    @staticmethod
    def _k8s_cluster(name: str, conf: dict, per_node: bool) -> list[RequestClass]:
        leader_only = bool(conf.get("k8s_leader_elector"))
        fix = "" if leader_only or not per_node else (
            f"run receivers.{name} in a single-replica Deployment, or set receivers.{name}.k8s_leader_elector so only "
            "one collector runs it")
        classes: list[RequestClass] = []
        for resource, group in K8S_CLUSTER_RESOURCES:
            classes += informer(resource, "cluster", api_group=group, component=f"receiver {name}",
                                config_key=f"receivers.{name}", leader_only=leader_only, fix=fix)
        return classes

    @staticmethod
    def _k8sobjects(name: str, conf: dict) -> list[RequestClass]:
        classes: list[RequestClass] = []
        leader_only = bool(conf.get("k8s_leader_elector"))
        for i, obj in enumerate(conf.get("objects") or []):
            if not isinstance(obj, dict) or not obj.get("name"):
                continue
            resource = str(obj["name"])
            scope: Scope = "namespace" if obj.get("namespaces") else "cluster"
            key = f"receivers.{name}.objects[{i}]"
            if obj.get("mode", "pull") == "watch":
                classes += informer(resource, scope, component=f"receiver {name}", config_key=key,
                                    leader_only=leader_only)
            else:
                interval = duration_seconds(obj.get("interval", "1h"))
                classes.append(RequestClass(
                    verb="list", resource=resource, scope=scope, trigger="periodic", rate_per_s=1 / interval,
                    resource_version="", component=f"receiver {name} (pull every {interval:.0f} s)",
                    config_key=key, leader_only=leader_only, selector=bool(obj.get("label_selector") or
                                                                           obj.get("field_selector")),
                ))
        return classes

    @staticmethod
    def _k8s_observer(ctx: AgentContext, name: str, conf: dict) -> list[RequestClass]:
        key = f"extensions.{name}"
        classes: list[RequestClass] = []
        node = str(conf.get("node") or "")
        env = re.fullmatch(r"\$\{(?:env:)?(\w+)\}", node)
        node_filtered = bool(node) and (env is None or ctx.env_from_node_name(env.group(1)))
        if conf.get("observe_pods", True):
            classes += informer("pods", "node" if node_filtered else "cluster", component=f"extension {name}",
                                config_key=f"{key}.node", fix="" if node_filtered else
                                f"set {key}.node to ${{env:K8S_NODE_NAME}} (env K8S_NODE_NAME from fieldRef spec.nodeName)")
        if conf.get("observe_nodes"):
            classes += informer("nodes", "cluster", component=f"extension {name} (nodes)",
                                config_key=f"{key}.observe_nodes")
        if conf.get("observe_services"):
            classes += informer("services", "cluster", component=f"extension {name} (services)",
                                config_key=f"{key}.observe_services")
        return classes

    @staticmethod
    def _leader_elector(name: str, per_node: bool) -> list[RequestClass]:
        fix = ("move the leader-elected receivers to a single-replica Deployment so the DaemonSet's collectors stop "
               "polling the lease") if per_node else ""
        return [
            RequestClass(verb="get", resource="leases", api_group="coordination.k8s.io", scope="object",
                         trigger="periodic", rate_per_s=1 / C.LEADER_ELECTION_RETRY_PERIOD_S,
                         component=f"extension {name} (lease poll)", config_key=f"extensions.{name}", fix=fix),
            RequestClass(verb="update", resource="leases", api_group="coordination.k8s.io", scope="object",
                         trigger="periodic", rate_per_s=1 / C.LEADER_ELECTION_RETRY_PERIOD_S, leader_only=True,
                         component=f"extension {name} (lease renew)", config_key=f"extensions.{name}"),
        ]


def duration_seconds(value: object) -> float:
    """A Go duration ("30s", "1h30m") or number of seconds, at least 1 s (3600 s when unreadable)."""
    if isinstance(value, (int, float)):
        return max(1.0, float(value))
    return max(1.0, duration_s(str(value).strip(), 3600.0))
