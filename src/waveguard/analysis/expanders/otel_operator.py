"""The OpenTelemetry Operator's ``OpenTelemetryCollector``: analysed as the workload and
ConfigMap the operator renders from it (``spec.mode``, ``spec.config``; operator docs)."""

from __future__ import annotations

import yaml

from waveguard.analysis.expanders.base import expander
from waveguard.analysis.objects import mapping, workload
from waveguard.model.manifests import Change, ConfigMap, Document

#: OpenTelemetry Operator modes → the workload kind the operator renders (``sidecar`` is injected
#: into other pods and not modelled).
OTEL_OPERATOR_MODES = {"daemonset": "DaemonSet", "deployment": "Deployment", "statefulset": "StatefulSet"}


@expander("opentelemetry.io", "OpenTelemetryCollector")
def expand_collector(change: Change, doc: Document) -> None:
    """Add the collector's ConfigMap (``<name>-collector-config``) and workload to ``change``;
    a mode that is not a workload of its own gets a WG110 note instead."""
    spec = mapping(doc.body.get("spec"))
    mode = str(spec.get("mode", "deployment")).lower()
    if mode not in OTEL_OPERATOR_MODES:
        change.parse_notes.append((
            "WG110", "info", doc, f"OpenTelemetryCollector in mode {mode!r} runs inside other pods; not modelled",
            "analyse the pods it is injected into"))
        return
    config = spec.get("config")
    text = config if isinstance(config, str) else yaml.safe_dump(config or {})
    cm_name = f"{doc.name}-collector-config"
    change.configmaps.append(ConfigMap(doc=doc.model_copy(update={"name": cm_name}), data={"collector.yaml": text}))
    env = [e for e in spec.get("env") or [] if isinstance(e, dict)]
    pod_spec = {
        "serviceAccountName": spec.get("serviceAccount") or f"{doc.name}-collector",
        "containers": [{"name": "otc-container", "image": spec.get("image") or "otel/opentelemetry-collector",
                        "args": spec.get("args") and [f"--{k}={v}" for k, v in spec["args"].items()] or [],
                        "env": env}],
        "volumes": [{"name": "config", "configMap": {"name": cm_name}}],
        "nodeSelector": spec.get("nodeSelector") or {},
    }
    workload_spec = {"template": {"spec": pod_spec}, "replicas": spec.get("replicas", 1),
                     "updateStrategy": spec.get("daemonSetUpdateStrategy") or {},
                     "strategy": spec.get("deploymentUpdateStrategy") or {}}
    change.workloads.append(workload(doc, OTEL_OPERATOR_MODES[mode], workload_spec))
