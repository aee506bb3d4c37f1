"""Fluentd with fluent-plugin-kubernetes_metadata_filter (the ``kubernetes_metadata`` filter).

Source: fabric8io/fluent-plugin-kubernetes_metadata_filter
``lib/fluent/plugin/kubernetes_metadata_watch_pods.rb`` (``get_pods_and_start_watcher``): with
``watch true`` (the default, ``filter_kubernetes_metadata.rb``) the filter LISTs pods with
``resource_version: '0'`` and then WATCHes them; when the env var ``K8S_NODE_NAME`` is set it
adds ``field_selector: spec.nodeName=$K8S_NODE_NAME`` to both, else it watches every pod of the
cluster (the README's "Environment variables for Kubernetes" section, already in the plugin's
2.x documentation, asks for K8S_NODE_NAME from fieldRef ``spec.nodeName`` for this reason).
``kubernetes_metadata_watch_namespaces.rb`` watches Namespaces cluster-wide unless
``skip_namespace_metadata true``. With ``watch false`` it GETs a pod (and its namespace) on
each cache miss, i.e. once per new pod seen on the node.

The fluent/fluentd-kubernetes-daemonset images ship this filter in their built-in
``kubernetes.conf`` (``templates/conf/kubernetes.conf.erb``: ``watch
"#{ENV['FLUENT_KUBERNETES_WATCH'] || 'true'}"``, ``skip_namespace_metadata
"#{ENV['FLUENT_KUBERNETES_METADATA_SKIP_NAMESPACE_METADATA'] || 'false'}"``), so a manifest of
that image without a ConfigMap still runs it, configured by those env vars — unless a mounted
``fluent.conf`` or ``kubernetes.conf`` replaces the built-in file.
"""

from __future__ import annotations

import re

from waveguard.analysis.recognisers.podspec import images_or_binary
from waveguard.analysis.recognisers.base import AgentContext, Recognised, truthy
from waveguard.model import constants as C
from waveguard.model.requests import RequestClass, Scope, informer

#: The env var the filter reads for its node field selector (kubernetes_metadata_watch_pods.rb).
NODE_ENV = "K8S_NODE_NAME"
#: The fluentd-kubernetes-daemonset images, whose built-in fluent.conf holds the filter.
DAEMONSET_IMAGES = ("fluentd-kubernetes-daemonset",)
#: Mounted files that replace the image's built-in configuration (the image's /fluentd/etc).
BUILTIN_FILES = ("fluent.conf", "kubernetes.conf")
_FILTER = re.compile(r"<filter[^>]*>(.*?)</filter>", re.S)
#: A value written as the daemonset image's ERB: "#{ENV['NAME'] || 'default'}".
_ERB_ENV = re.compile(r"""#\{ENV\['(\w+)'\]\s*\|\|\s*'([^']*)'\}""")


def _filter_blocks(text: str) -> list[dict[str, str]]:
    """The ``kubernetes_metadata`` ``<filter>`` blocks of a fluentd config: {key: raw value}."""
    blocks = []
    for body in _FILTER.findall(text):
        keys: dict[str, str] = {}
        for line in body.splitlines():
            parts = line.strip().split(None, 1)
            if len(parts) == 2 and not parts[0].startswith("#"):
                keys[parts[0]] = parts[1].strip().strip('"')
        if keys.get("@type") == "kubernetes_metadata":
            blocks.append(keys)
    return blocks


def _value(ctx: AgentContext, raw: str | None, default: str) -> str:
    """A filter setting, with the daemonset image's ``#{ENV[...] || '…'}`` resolved from env."""
    if raw is None:
        return default
    erb = _ERB_ENV.fullmatch(raw)
    if erb:
        return ctx.env(erb.group(1)) or erb.group(2)
    return raw


def _builtin_block(ctx: AgentContext) -> dict[str, str]:
    """The daemonset image's built-in filter, as its kubernetes.conf.erb writes it."""
    return {"@type": "kubernetes_metadata",
            "watch": "#{ENV['FLUENT_KUBERNETES_WATCH'] || 'true'}",
            "skip_namespace_metadata": "#{ENV['FLUENT_KUBERNETES_METADATA_SKIP_NAMESPACE_METADATA'] || 'false'}"}


class Fluentd:
    name = "fluentd"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        configs = {name: _filter_blocks(text) for name, text in ctx.config.items()}
        configured = {name: blocks for name, blocks in configs.items() if blocks}
        builtin = ctx.image_matches(*DAEMONSET_IMAGES) and not any(f in ctx.config for f in BUILTIN_FILES)
        if not (configured or images_or_binary(ctx, ("fluent/fluentd", "fluentd"), ("fluentd",))):
            return None
        result = Recognised(agent=self.name)
        if not configured and builtin:
            configured = {"built-in kubernetes.conf": [_builtin_block(ctx)]}
        for file_name, blocks in configured.items():
            for block in blocks:
                result.classes += self._filter_classes(ctx, file_name, block)
        return result

    @staticmethod
    def _filter_classes(ctx: AgentContext, file_name: str, block: dict[str, str]) -> list[RequestClass]:
        key = f"{file_name}: <filter> @type kubernetes_metadata"
        node_set = NODE_ENV in ctx.workload.env() or NODE_ENV in ctx.workload.env_field_refs()
        if not truthy(_value(ctx, block.get("watch"), "true")):
            return [RequestClass(
                verb="get", resource="pods", scope="object", trigger="per_event",
                rate_per_s=1 / C.POD_WRITES_PER_POD_LIFETIME, resource_version="",
                component=f"{file_name}: kubernetes_metadata (watch false: GET per new pod)",
                config_key=f"{key} / watch")]
        scope: Scope = "node" if node_set else "cluster"
        classes = informer(
            "pods", scope, component=f"{file_name}: kubernetes_metadata (pods"
            + (f", field selector spec.nodeName=${NODE_ENV})" if node_set else f", {NODE_ENV} unset)"),
            config_key=f"env {NODE_ENV}",
            fix="" if node_set else f"give the container env {NODE_ENV} from fieldRef spec.nodeName: the "
            "kubernetes_metadata filter then watches only its node's pods (field selector spec.nodeName)")
        if not truthy(_value(ctx, block.get("skip_namespace_metadata"), "false")):
            classes += informer("namespaces", "cluster", component=f"{file_name}: kubernetes_metadata (namespaces)",
                                config_key=f"{key} / skip_namespace_metadata")
        return classes
