"""Grafana Beyla (and its OpenTelemetry donation, OBI / ``otel/ebpf-instrument``).

Sources: grafana/beyla ``pkg/kubecache/meta/informers_init.go`` (``InitInformers``: a shared
informer factory with informers on Pods, Nodes (unless ``disable_informers`` has ``node``) and
Services (unless it has ``service``), no selector); Beyla docs
``docs/sources/configure/metrics-traces-attributes.md`` and the config struct
(package ``pkg/transform``, ``KubernetesDecorator``: yaml and env names of each setting):

* ``attributes.kubernetes.enable`` / ``BEYLA_KUBE_METADATA_ENABLE`` (``autodetect`` by default:
  on inside Kubernetes) turns metadata decoration on;
* ``attributes.kubernetes.meta_restrict_local_node`` / ``BEYLA_KUBE_META_RESTRICT_LOCAL_NODE``
  (default **false**): only pods of the local node and the local Node object; false → every
  replica keeps cluster-wide Pod/Node/Service metadata;
* ``attributes.kubernetes.meta_cache_address`` / ``BEYLA_KUBE_META_CACHE_ADDRESS``: the host:port
  of a ``beyla-k8s-cache`` Deployment; the agents then get metadata from it over gRPC and open
  no informers (Beyla 2.0+). The cache Deployment itself runs the cluster-wide informers once.

Beyla 1.x (``pkg/internal/kube``) also watched ReplicaSets for ``k8s.deployment.name``; the
kubecache rewrite (Beyla 1.9/2.0) takes owners from the Pod's ownerReferences instead. Newer
releases also read ``OTEL_EBPF_KUBE_*`` env names.
"""

from __future__ import annotations

from waveguard.analysis.recognisers.podspec import images_or_binary
from waveguard.analysis.recognisers.base import AgentContext, Recognised, truthy
from waveguard.model.requests import RequestClass, Scope, informer

#: Env prefixes of the same settings: Beyla, then OBI (OpenTelemetry eBPF Instrumentation).
ENV_PREFIXES = ("BEYLA_", "OTEL_EBPF_")


def _setting(ctx: AgentContext, yaml_key: str, env_suffix: str) -> str | None:
    """A ``attributes.kubernetes`` setting: env (which Beyla lets override the file) or config file."""
    for prefix in ENV_PREFIXES:
        value = ctx.env(prefix + env_suffix)
        if value is not None:
            return value
    for _, cfg in ctx.yaml_configs():
        kube = ((cfg.get("attributes") or {}).get("kubernetes") or {}) if isinstance(cfg.get("attributes"), dict) \
            else {}
        if isinstance(kube, dict) and kube.get(yaml_key) is not None:
            value = kube[yaml_key]
            return ",".join(map(str, value)) if isinstance(value, list) else str(value)
    return None


class Beyla:
    name = "beyla"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        if ctx.image_matches("beyla-k8s-cache", "k8s-cache") or _runs_cache(ctx):
            return Recognised(agent="beyla-k8s-cache", classes=_informers(ctx, "cluster", "beyla-k8s-cache"))
        if not images_or_binary(ctx, ("grafana/beyla", "beyla", "otel/ebpf-instrument", "ebpf-instrument"),
                                ("beyla", "ebpf-instrument", "obi")):
            return None
        result = Recognised(agent=self.name)
        enable = (_setting(ctx, "enable", "KUBE_METADATA_ENABLE") or "autodetect").strip().lower()
        if enable != "autodetect" and not truthy(enable):
            return result
        if _setting(ctx, "meta_cache_address", "KUBE_META_CACHE_ADDRESS"):
            return result  # metadata comes from the beyla-k8s-cache service, not the API server
        local = truthy(_setting(ctx, "meta_restrict_local_node", "KUBE_META_RESTRICT_LOCAL_NODE") or "false")
        result.classes = _informers(ctx, "node" if local else "cluster", "beyla kubernetes metadata")
        return result


def _runs_cache(ctx: AgentContext) -> bool:
    return images_or_binary(ctx, (), ("k8s-cache", "beyla-k8s-cache"))


def _informers(ctx: AgentContext, pod_scope: Scope, component: str) -> list[RequestClass]:
    """Pods at ``pod_scope``; Nodes (own node when node-restricted) and Services unless disabled."""
    disabled = {d.strip().lower() for d in (_setting(ctx, "disable_informers", "KUBE_DISABLE_INFORMERS") or "")
                .split(",")}
    per_node = ctx.workload.per_node and pod_scope == "cluster"
    fix = ("set attributes.kubernetes.meta_restrict_local_node: true (env BEYLA_KUBE_META_RESTRICT_LOCAL_NODE=true), "
           "or run the beyla-k8s-cache Deployment and set BEYLA_KUBE_META_CACHE_ADDRESS") if per_node else ""
    key = "attributes.kubernetes.meta_restrict_local_node"
    classes = informer("pods", pod_scope, component=f"{component} (pods)", config_key=key, fix=fix)
    if "node" not in disabled:
        classes += informer("nodes", "object" if pod_scope == "node" else "cluster",
                            component=f"{component} (nodes)", config_key=key, fix=fix)
    if "service" not in disabled:
        classes += informer("services", "cluster", component=f"{component} (services)",
                            config_key="attributes.kubernetes.disable_informers",
                            fix="add service to attributes.kubernetes.disable_informers, or run the beyla-k8s-cache "
                                "Deployment and set BEYLA_KUBE_META_CACHE_ADDRESS" if ctx.workload.per_node else "")
    return classes
