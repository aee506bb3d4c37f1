"""Kubernetes object bodies (parsed YAML mappings) → the model's objects: workloads with their
pod spec parts, RBAC rules and bindings. Lenient by design: a field of the wrong type reads as
absent (the schema check, WG109, reports it), so one odd field does not stop the analysis.
"""

from __future__ import annotations

import re
from typing import Any

from waveguard.model.manifests import Binding, Container, Document, PolicyRule, Workload


def mapping(value: object) -> dict[str, Any]:
    """``value`` when it is a mapping, else an empty one (a missing or mistyped field)."""
    return value if isinstance(value, dict) else {}


def dig(data: object, *keys: str) -> dict[str, Any]:
    """The mapping at ``data[k1][k2]...``, or an empty one when a step is missing or not a mapping."""
    for k in keys:
        data = data.get(k) if isinstance(data, dict) else None
    return mapping(data)


def pod_spec(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The pod spec of a workload ``kind`` with top-level ``spec`` (a Pod is its own pod spec;
    a CronJob's is under jobTemplate)."""
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        spec = dig(spec, "jobTemplate", "spec")
    return dig(spec, "template", "spec")


#: Largest replica count kube-apiserver stores: ``replicas`` and a Job's ``parallelism`` are
#: ``*int32`` (k8s.io/api apps/v1 and batch/v1 types.go).
MAX_REPLICAS = 2**31 - 1


def _replicas(kind: str, spec: dict[str, Any]) -> int | None:
    """Replicas as the controller runs them: None for a DaemonSet (one per node). A count
    kube-apiserver refuses — negative (pkg/apis/apps/validation ``ValidateNonnegativeField``) or
    past int32 — raises ValueError: the schema check (its types only) lets both through."""
    if kind == "DaemonSet":
        return None
    if kind in ("Pod", "CronJob"):
        return 1
    field = "parallelism" if kind == "Job" else "replicas"
    value = spec.get(field)
    count = 1 if value is None or (kind == "Job" and not value) else int(value)
    if not 0 <= count <= MAX_REPLICAS:
        raise ValueError(f"spec.{field}: {value} is not a replica count kube-apiserver accepts (0 to {MAX_REPLICAS:,})")
    return count


def _max_unavailable(value: Any) -> Any:
    """A rolling update's ``maxUnavailable`` unchanged. Raises ValueError for one kube-apiserver
    refuses (pkg/apis/apps/validation ``ValidatePositiveIntOrPercent`` and
    ``IsNotMoreThan100Percent``): an int < 0, a string that is no integer percentage, over 100%."""
    if value is None or isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    percent = re.fullmatch(r"([0-9]+)%", value) if isinstance(value, str) else None
    if percent is None or int(percent[1]) > 100:
        raise ValueError(f"rollingUpdate.maxUnavailable: {value!r} is not a count ≥ 0 or a percentage up to 100%")
    return value


def _configmap_sources(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``configMap`` sources of the pod's volumes, direct or projected."""
    volumes = [v for v in (pod.get("volumes") or []) if isinstance(v, dict)]
    sources = [v["configMap"] for v in volumes if isinstance(v.get("configMap"), dict)]
    for v in volumes:  # projected volumes can carry ConfigMaps too
        sources += [src["configMap"] for src in dig(v, "projected").get("sources", []) or []
                    if isinstance(src, dict) and isinstance(src.get("configMap"), dict)]
    return sources


def _configmap_volumes(pod: dict[str, Any], *, optional: bool) -> list[str]:
    """Names of the ConfigMaps the pod mounts, those marked ``optional: true`` (the pod starts
    without them, as node-local-dns's ``kube-dns``) or the others."""
    return [str(src["name"]) for src in _configmap_sources(pod)
            if src.get("name") and (src.get("optional") is True) == optional]


def workload(doc: Document, kind: str, spec: dict[str, Any]) -> Workload:
    """The :class:`Workload` of ``doc`` (a workload ``kind`` whose top-level ``spec`` is given)."""
    pod = pod_spec(kind, spec)
    containers = [container(c) for c in (pod.get("containers") or []) if isinstance(c, dict)]
    strategy = spec.get("updateStrategy") or spec.get("strategy") or {}
    rolling = strategy.get("rollingUpdate") or {} if isinstance(strategy, dict) else {}
    return Workload(
        doc=doc, kind=kind, replicas=_replicas(kind, spec),
        service_account=str(pod.get("serviceAccountName") or pod.get("serviceAccount") or "default"),
        automount_token=pod.get("automountServiceAccountToken", True) is not False,
        containers=containers, configmap_volumes=_configmap_volumes(pod, optional=False),
        optional_configmap_volumes=_configmap_volumes(pod, optional=True),
        node_selector={str(k): str(v) for k, v in (pod.get("nodeSelector") or {}).items()},
        max_unavailable=_max_unavailable(rolling.get("maxUnavailable")) if isinstance(rolling, dict) else None,
        max_surge=rolling.get("maxSurge") if isinstance(rolling, dict) else None,
        update_strategy=str(strategy.get("type", "RollingUpdate")) if isinstance(strategy, dict) else "RollingUpdate",
    )


def container(c: dict[str, Any]) -> Container:
    """One container: name, image, command/args, literal env values and downward-API field refs."""
    env: dict[str, str] = {}
    refs: dict[str, str] = {}
    for e in c.get("env") or []:
        if not isinstance(e, dict) or "name" not in e:
            continue
        if "value" in e:
            env[str(e["name"])] = str(e["value"])
        path = dig(e, "valueFrom", "fieldRef").get("fieldPath")
        if path:
            refs[str(e["name"])] = str(path)
    return Container(
        name=str(c.get("name", "")), image=str(c.get("image", "")),
        command=[str(a) for a in c.get("command") or []], args=[str(a) for a in c.get("args") or []],
        env=env, env_field_refs=refs,
    )


def policy_rules(raw: Any) -> list[PolicyRule]:
    """A Role's ``rules``; items that are not mappings are skipped."""
    rules = []
    for r in raw or []:
        if not isinstance(r, dict):
            continue
        rules.append(PolicyRule(
            api_groups=[str(g) for g in r.get("apiGroups") or []],
            resources=[str(x) for x in r.get("resources") or []],
            verbs=[str(v) for v in r.get("verbs") or []],
            resource_names=[str(n) for n in r.get("resourceNames") or []],
        ))
    return rules


def binding(doc: Document, kind: str, body: dict[str, Any]) -> Binding:
    """A RoleBinding or ClusterRoleBinding: its role and the ServiceAccounts it binds."""
    ref = mapping(body.get("roleRef"))
    sas = [
        (str(s.get("namespace") or ""), str(s.get("name", "")))
        for s in body.get("subjects") or []
        if isinstance(s, dict) and s.get("kind") == "ServiceAccount"
    ]
    return Binding(doc=doc, cluster_scoped=kind == "ClusterRoleBinding", role_kind=str(ref.get("kind", "")),
                   role_name=str(ref.get("name", "")), service_accounts=sas)
