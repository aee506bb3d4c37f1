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

LIST semantics: ``use_apiserver_cache`` (default false; the source's ``Config``) — false, the
reflectors' LISTs carry no resourceVersion, a consistent read served from etcd; true,
``resourceVersion=0`` from the watch cache. Before Vector 0.47.0 (release notes, "Fix a
``kubernetes source`` bug where ``use_apiserver_cache=true`` but there is no
``resourceVersion=0``", kube-rs#1743) the paginated LIST dropped it even when true. The
reflectors use kube-rs ``watcher::Config::default()``, page size 500.

Configuration is YAML or TOML (``vector.yaml`` / ``vector.toml``, any file of a mounted
ConfigMap): ``sources.<id>.type: kubernetes_logs``.
"""

from __future__ import annotations

import re

from waveguard.analysis.recognisers.podspec import images_or_binary
from waveguard.analysis.recognisers.base import AgentContext, Recognised, truthy
from waveguard.model.requests import RequestClass, informer

#: kube-rs runtime ``watcher::Config::default()`` page_size (objects per LIST page).
WATCHER_PAGE_SIZE = 500
#: First Vector release whose ``use_apiserver_cache: true`` LISTs carry resourceVersion=0.
CACHE_FIX_VERSION = (0, 47, 0)

def _configs(ctx: AgentContext) -> list[tuple[str, dict]]:
    """Mounted config files as mappings: the YAML ones, and the ``.toml`` ones parsed as TOML."""
    import tomllib  # here: only Vector's configs need it (start-up of analyse, issue 17)

    configs = list(ctx.yaml_configs())
    for name, text in ctx.config.items():
        if name.endswith(".toml"):
            try:
                configs.append((name, tomllib.loads(text)))
            except tomllib.TOMLDecodeError:
                continue
    return configs


def _image_version(ctx: AgentContext) -> tuple[int, ...] | None:
    """The Vector image's release from its tag (``0.57.0-distroless-libc`` → (0, 57, 0)), else None."""
    for image in ctx.images:
        tag = image.split("@")[0].rpartition(":")[2]
        match = re.match(r"v?(\d+)\.(\d+)\.(\d+)", tag)
        if match and "/" not in tag:
            return tuple(int(part) for part in match.groups())
    return None


def _served_from_cache(ctx: AgentContext, source: dict) -> bool:
    """True when the source's LISTs carry resourceVersion=0 (see the module docstring)."""
    if not truthy(source.get("use_apiserver_cache", False)):
        return False
    version = _image_version(ctx)
    return version is None or version >= CACHE_FIX_VERSION


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
            for source_id, source in _kubernetes_logs_sources(cfg):
                classes = self._source_classes(f"{file_name}: sources.{source_id}")
                if not _served_from_cache(ctx, source):
                    classes = [_consistent_list(rc, f"{file_name}: sources.{source_id}") for rc in classes]
                result.classes += classes
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


def _consistent_list(rc: RequestClass, key: str) -> RequestClass:
    """A reflector LIST without resourceVersion (use_apiserver_cache false): paginated, from etcd."""
    if rc.verb != "list":
        return rc
    return rc.model_copy(update={
        "resource_version": "", "limit": WATCHER_PAGE_SIZE,
        "fix": f"set {key}.use_apiserver_cache: true (Vector >= 0.47.0) so LISTs are served from the watch cache"})
