"""Fluent Bit.

The ``kubernetes`` filter (Fluent Bit docs, "Kubernetes" filter) enriches each record with its
pod's metadata. Unless ``Use_Kubelet On``, it GETs the pod from kube-apiserver
(``/api/v1/namespaces/{ns}/pods/{name}``) the first time it sees a pod's log file, i.e. once
per new pod on the node (cached afterwards, ``Kube_Meta_Cache_TTL``). With ``Use_Kubelet On``
it asks the node's kubelet instead and sends nothing to kube-apiserver. The
``kubernetes_events`` input watches Events cluster-wide.
"""

from __future__ import annotations

import re

import yaml

from waveguard.model.yamlio import safe_load

from waveguard.analysis.recognisers.base import AgentContext, Recognised, truthy
from waveguard.model import constants as C
from waveguard.model.requests import RequestClass, informer

_SECTION = re.compile(r"(?im)^\s*\[(\w+)\]\s*$")


def classic_sections(text: str) -> list[tuple[str, dict[str, str]]]:
    """(SECTION, {key_lower: value}) of a classic-format Fluent Bit config."""
    sections: list[tuple[str, dict[str, str]]] = []
    for line in text.splitlines():
        m = _SECTION.match(line)
        if m:
            sections.append((m.group(1).upper(), {}))
            continue
        parts = line.strip().split(None, 1)
        if sections and len(parts) == 2 and not parts[0].startswith(("#", "@")):
            sections[-1][1][parts[0].lower()] = parts[1].strip()
    return sections


def _yaml_plugins(text: str) -> list[tuple[str, dict[str, str]]]:
    try:
        data = safe_load(text)
    except yaml.YAMLError:
        return []
    pipeline = data.get("pipeline") if isinstance(data, dict) else None
    if not isinstance(pipeline, dict):
        return []
    out = []
    for section in ("inputs", "filters"):
        for plugin in pipeline.get(section) or []:
            if isinstance(plugin, dict):
                out.append((section[:-1].upper(), {str(k).lower(): str(v) for k, v in plugin.items()}))
    return out



class FluentBit:
    name = "fluent-bit"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        if not ctx.image_matches("fluent-bit", "fluentbit"):
            return None
        result = Recognised(agent=self.name)
        for file_name, text in ctx.config.items():
            for section, keys in classic_sections(text) + _yaml_plugins(text):
                name = keys.get("name", "").lower()
                if section == "FILTER" and name == "kubernetes" and not truthy(keys.get("use_kubelet")):
                    result.classes.append(RequestClass(
                        verb="get", resource="pods", scope="object", trigger="per_event",
                        rate_per_s=1 / C.POD_WRITES_PER_POD_LIFETIME, resource_version="",
                        component=f"{file_name}: [FILTER] kubernetes (pod metadata per new pod)",
                        config_key=f"{file_name}: [FILTER] Name kubernetes / Use_Kubelet",
                        fix=f"set 'Use_Kubelet On' and 'Kubelet_Port 10250' in the kubernetes [FILTER] of {file_name} "
                            "so metadata comes from the node's kubelet (Fluent Bit ≥ 1.7.2; the DaemonSet needs "
                            "hostNetwork: true, dnsPolicy: ClusterFirstWithHostNet and RBAC get on nodes/proxy)",
                    ))
                elif section == "INPUT" and name == "kubernetes_events":
                    result.classes += informer("events", "cluster", component=f"{file_name}: [INPUT] kubernetes_events",
                                               config_key=f"{file_name}: [INPUT] Name kubernetes_events",
                                               fix="run kubernetes_events in one Deployment replica, not per node")
        return result
