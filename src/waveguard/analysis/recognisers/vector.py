"""Vector (vectordotdev/vector), the ``kubernetes_logs`` source.

Source: vectordotdev/vector ``src/sources/kubernetes_logs/mod.rs``:

* pods: a reflector (LIST + WATCH) whose field selector is ``prepare_field_selector``:
  ``spec.nodeName=<self_node_name>`` (plus ``extra_field_selector``); ``self_node_name``
  defaults to ``${VECTOR_SELF_NODE_NAME}`` (``default_self_node_name_env_template``), which the
  published DaemonSet sets from fieldRef ``spec.nodeName``;
* namespaces: a reflector over all Namespaces (label selector ``vector.dev/exclude!=true``
  plus ``extra_namespace_label_selector``), for namespace labels;
* nodes: a reflector with field selector ``metadata.name=<self_node_name>``
  (``prepare_node_selector``): its own Node only.

Configuration is YAML or TOML (``vector.yaml`` / ``vector.toml``, any file of a mounted
ConfigMap): ``sources.<id>.type: kubernetes_logs``.
"""

from __future__ import annotations

import tomllib

from waveguard.analysis.recognisers.agent_match import images_or_binary
from waveguard.analysis.recognisers.base import AgentContext, Recognised
from waveguard.model.requests import RequestClass, informer

def _configs(ctx: AgentContext) -> list[tuple[str, dict]]:
    """Mounted config files as mappings: the YAML ones, and the ``.toml`` ones parsed as TOML."""
    configs = list(ctx.yaml_configs())
    for name, text in ctx.config.items():
        if name.endswith(".toml"):
            try:
                configs.append((name, tomllib.loads(text)))
            except tomllib.TOMLDecodeError:
                continue
    return configs


def _kubernetes_logs_sources(cfg: dict) -> list[tuple[str, dict]]:
    sources = cfg.get("sources")
    if not isinstance(sources, dict):
        return []
    return [(str(sid), src) for sid, src in sources.items()
            if isinstance(src, dict) and src.get("type") == "kubernetes_logs"]


class Vector:
    name = "vector"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        if not images_or_binary(ctx, ("timberio/vector", "vectordotdev/vector", "vector"), ("vector",)):
            return None
        result = Recognised(agent=self.name)
        for file_name, cfg in _configs(ctx):
            for source_id, _source in _kubernetes_logs_sources(cfg):
                result.classes += self._source_classes(f"{file_name}: sources.{source_id}")
        return result

    @staticmethod
    def _source_classes(key: str) -> list[RequestClass]:
        # The pod reflector always carries spec.nodeName=<self_node_name>: an unset env var does
        # not widen it to the cluster (Vector refuses a config with a missing variable).
        classes = informer("pods", "node", component=f"{key} (pods, field selector spec.nodeName=self_node_name)",
                           config_key=f"{key}.self_node_name")
        classes += informer("namespaces", "cluster", component=f"{key} (namespaces)",
                            config_key=f"{key}.extra_namespace_label_selector")
        classes += informer("nodes", "object", component=f"{key} (own node, metadata.name=self_node_name)",
                            config_key=f"{key}.self_node_name")
        return classes
