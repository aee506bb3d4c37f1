"""Kindling's agent (KindlingProject/kindling, the eBPF collector ``kindling-agent``).

Source: ``collector/pkg/metadata/kubernetes/initk8s.go`` (``initWatcherFromAPIServer``: a Node
informer, a Service informer, a Pod informer, and a ReplicaSet informer only when
``enable_fetch_replicaset`` is true (default false)); ``pod_watch.go`` (``PodWatch``:
``informers.NewSharedInformerFactory(clientSet, 0)`` with no field selector, so every agent holds
every pod of the cluster). With ``metadata_provider_config.enable`` the agents list and watch a
separate metadata-provider Deployment instead (``initWatcherFromMetadataProvider``): nothing
per node reaches kube-apiserver. The configuration is the ``processors.k8smetadataprocessor``
section of ``kindling-collector-config.yml`` (mounted from a ConfigMap). Evidence of what a
restart of 30 agents does: harmonycloud/kindling#459 (a 16 GB apiserver OOM-killed).
"""

from __future__ import annotations

from waveguard.analysis.recognisers.podspec import images_or_binary
from waveguard.analysis.recognisers.base import AgentContext, Recognised, truthy
from waveguard.model.requests import informer

_FIX = ("set processors.k8smetadataprocessor.metadata_provider_config.enable: true and deploy Kindling's "
        "metadata-provider, so one Deployment watches the API for all agents")


def _metadata_processor(ctx: AgentContext) -> dict:
    """``processors.k8smetadataprocessor`` of the mounted collector config ({} when absent)."""
    for _, data in ctx.yaml_configs():
        section = (data.get("processors") or {}).get("k8smetadataprocessor") if isinstance(
            data.get("processors"), dict) else None
        if isinstance(section, dict):
            return section
    return {}


class KindlingAgent:
    name = "kindling"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        if not images_or_binary(ctx, ("kindlingproject/kindling-agent", "kindling-agent"), ("kindling-collector",)):
            return None
        section = _metadata_processor(ctx)
        result = Recognised(agent=self.name)
        if not truthy(section.get("enable", True)):
            return result  # the metadata processor is off: no informers
        provider = section.get("metadata_provider_config")
        if isinstance(provider, dict) and truthy(provider.get("enable", False)):
            return result  # agents watch the metadata-provider, not kube-apiserver
        key = "processors.k8smetadataprocessor"
        resources = [("nodes", ""), ("services", ""), ("pods", "")]
        if truthy(section.get("enable_fetch_replicaset", False)):
            resources.append(("replicasets", "apps"))
        for resource, group in resources:
            result.classes += informer(resource, "cluster", api_group=group, config_key=key, fix=_FIX,
                                       component=f"k8smetadataprocessor ({resource} informer, every node)")
        return result
