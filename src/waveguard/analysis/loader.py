"""Read rendered manifests (files, folders, multi-document YAML, ``kind: List``) into a Change.

Bad input raises :class:`~waveguard.model.errors.InputError` naming the file and line; nothing
is half-loaded. Unusual but valid input becomes parse notes (old API versions, schema
violations, custom resources that may run code), which the analysis turns into findings.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from kubernetes_validate import utils as kv
from referencing import Registry, Resource

from waveguard.model.errors import InputError, yaml_input_error
from waveguard.model.yamlio import FastSafeLoader
from waveguard.model.manifests import (
    WORKLOAD_KINDS, Binding, Change, ConfigMap, Container, Document, Location, PolicyRule, Role, Workload,
)

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
#: Kubernetes version whose schemas validate manifests (kubernetes-validate ships them).
SCHEMA_VERSION = "1.30"

#: Old API versions still found in the wild, and the apps/v1 kind they are analysed as.
#: k8s: "Deprecated API Migration Guide" (removed in v1.16).
OLD_WORKLOAD_API_VERSIONS = {"extensions/v1beta1", "apps/v1beta1", "apps/v1beta2"}
_OLD_WORKLOAD_KINDS = {"DaemonSet", "Deployment", "StatefulSet", "ReplicaSet"}
#: Kinds waveguard reads; everything else is skipped (custom resources may get a note).
_KNOWN_KINDS = set(WORKLOAD_KINDS) | {
    "ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap",
}
#: API groups of built-in Kubernetes kinds (a custom resource's group is anything else).
_BUILTIN_GROUP = re.compile(r"^(v1|[a-z0-9]+/v\w+|[a-z0-9.]*\.k8s\.io/v\w+)$")
#: Keys that make a custom resource look like something an operator turns into pods.
_WORKLOAD_HINTS = {"image", "containers", "template", "replicas", "controller", "podTemplate", "alloy", "daemonset"}


def manifest_files(paths: list[str]) -> list[Path]:
    """Expand ``paths`` (files or folders, recursively) to manifest files, sorted."""
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in MANIFEST_SUFFIXES))
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(raw, "no such file or folder", hint="pass rendered manifests, e.g. the output of helm template")
    if not files:
        raise InputError(", ".join(paths), "no .yaml/.yml/.json manifests found", hint="point at rendered manifests")
    return files


def read_documents(path: Path) -> list[Document]:
    """Parse one file into documents with their start lines; ``kind: List`` is expanded."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), f"cannot read: {exc}", hint="check the file") from exc
    docs: list[Document] = []
    loader = FastSafeLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            data = loader.construct_document(node)
            if data is None:
                continue  # empty document (a lone '---' or only comments)
            line = node.start_mark.line + 1
            if not isinstance(data, dict):
                raise InputError(str(path), f"document is a {type(data).__name__}, not a mapping", line=line,
                                 hint="each YAML document must be one Kubernetes object")
            if data.get("kind") == "List" and isinstance(data.get("items"), list):
                item_nodes = _items_nodes(node)
                for i, item in enumerate(data["items"]):
                    item_line = item_nodes[i].start_mark.line + 1 if i < len(item_nodes) else line
                    docs.append(_document(item, path, item_line))
            else:
                docs.append(_document(data, path, line))
    except yaml.YAMLError as exc:
        raise yaml_input_error(str(path), exc, text) from exc
    finally:
        loader.dispose()
    return docs


def _items_nodes(node: yaml.Node) -> list[yaml.Node]:
    for key, value in node.value:
        if key.value == "items" and isinstance(value, yaml.SequenceNode):
            return list(value.value)
    return []


def _document(data: Any, path: Path, line: int) -> Document:
    if not isinstance(data, dict):
        raise InputError(str(path), "a List item is not a mapping", line=line, hint="each item must be an object")
    kind = data.get("kind")
    api_version = data.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api_version, str):
        raise InputError(str(path), "document has no apiVersion/kind", line=line,
                         hint="each document must be a Kubernetes object with apiVersion and kind")
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    return Document(
        api_version=api_version, kind=kind, name=str(meta.get("name", "")),
        namespace=meta.get("namespace"), body=data, location=Location(file=str(path), line=line),
    )


def load_change(paths: list[str], validate: bool = True) -> Change:
    """Parse all manifests under ``paths`` into a :class:`Change`. Raises InputError."""
    change = Change()
    for f in manifest_files(paths):
        for doc in read_documents(f):
            _add(change, doc, validate)
    return change


def _add(change: Change, doc: Document, validate: bool) -> None:
    change.documents.append(doc)
    kind = doc.kind
    if kind not in _KNOWN_KINDS:
        if not _BUILTIN_GROUP.match(doc.api_version) and _looks_like_workload(doc.body):
            change.parse_notes.append((
                "WG110", "info", doc,
                f"custom resource {kind} ({doc.api_version}) may make its operator run pods; waveguard does not "
                "model it, so its API load is not projected",
                f"analyse what the operator renders (e.g. the {kind} operator's DaemonSet/Deployment) instead",
            ))
        return
    if doc.api_version in OLD_WORKLOAD_API_VERSIONS and kind in _OLD_WORKLOAD_KINDS:
        change.parse_notes.append((
            "WG108", "warning", doc,
            f"{doc.api_version} {kind} was removed in Kubernetes 1.16; analysed as its apps/v1 equivalent, "
            "but a current cluster rejects it",
            "set apiVersion: apps/v1 (and spec.selector, which apps/v1 requires)",
        ))
        body = dict(doc.body, apiVersion="apps/v1")
    else:
        body = doc.body
    if validate:
        problem = schema_problem(body)
        if problem:
            change.parse_notes.append((
                "WG109", "warning", doc, f"fails the Kubernetes {SCHEMA_VERSION} schema at {problem}; analysed anyway",
                "fix the field so that the API server accepts the object",
            ))
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    if kind in WORKLOAD_KINDS:
        change.workloads.append(_workload(doc, kind, spec))
    elif kind == "ServiceAccount":
        change.service_accounts.append(doc)
    elif kind in ("Role", "ClusterRole"):
        change.roles.append(Role(doc=doc, cluster_scoped=kind == "ClusterRole", rules=_rules(body.get("rules"))))
    elif kind in ("RoleBinding", "ClusterRoleBinding"):
        change.bindings.append(_binding(doc, kind, body))
    elif kind == "ConfigMap":
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        change.configmaps.append(ConfigMap(doc=doc, data={str(k): str(v) for k, v in data.items()}))


def _looks_like_workload(body: dict) -> bool:
    spec = body.get("spec")
    return isinstance(spec, dict) and bool(_WORKLOAD_HINTS & set(spec))


def _pod_spec(kind: str, spec: dict) -> dict:
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        spec = _dig(spec, "jobTemplate", "spec")
    return _dig(spec, "template", "spec")


def _dig(d: Any, *keys: str) -> dict:
    for k in keys:
        d = d.get(k) if isinstance(d, dict) else None
    return d if isinstance(d, dict) else {}


def _workload(doc: Document, kind: str, spec: dict) -> Workload:
    pod = _pod_spec(kind, spec)
    containers = [_container(c) for c in (pod.get("containers") or []) if isinstance(c, dict)]
    volumes = [v for v in (pod.get("volumes") or []) if isinstance(v, dict)]
    cm_volumes = [v["configMap"].get("name", "") for v in volumes if isinstance(v.get("configMap"), dict)]
    for v in volumes:  # projected volumes can carry ConfigMaps too
        for src in _dig(v, "projected").get("sources", []) or []:
            if isinstance(src, dict) and isinstance(src.get("configMap"), dict):
                cm_volumes.append(src["configMap"].get("name", ""))
    if kind == "DaemonSet":
        replicas = None
    elif kind == "Job":
        replicas = int(spec.get("parallelism") or 1)
    elif kind in ("Pod", "CronJob"):
        replicas = 1
    else:
        replicas = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    strategy = spec.get("updateStrategy") or spec.get("strategy") or {}
    rolling = strategy.get("rollingUpdate") or {} if isinstance(strategy, dict) else {}
    return Workload(
        doc=doc, kind=kind, replicas=replicas,
        service_account=str(pod.get("serviceAccountName") or pod.get("serviceAccount") or "default"),
        automount_token=pod.get("automountServiceAccountToken", True) is not False,
        containers=containers, configmap_volumes=[n for n in cm_volumes if n],
        node_selector={str(k): str(v) for k, v in (pod.get("nodeSelector") or {}).items()},
        max_unavailable=rolling.get("maxUnavailable") if isinstance(rolling, dict) else None,
        max_surge=rolling.get("maxSurge") if isinstance(rolling, dict) else None,
        update_strategy=str(strategy.get("type", "RollingUpdate")) if isinstance(strategy, dict) else "RollingUpdate",
    )


def _container(c: dict) -> Container:
    env: dict[str, str] = {}
    refs: dict[str, str] = {}
    for e in c.get("env") or []:
        if not isinstance(e, dict) or "name" not in e:
            continue
        if "value" in e:
            env[str(e["name"])] = str(e["value"])
        path = _dig(e, "valueFrom", "fieldRef").get("fieldPath")
        if path:
            refs[str(e["name"])] = str(path)
    return Container(
        name=str(c.get("name", "")), image=str(c.get("image", "")),
        command=[str(a) for a in c.get("command") or []], args=[str(a) for a in c.get("args") or []],
        env=env, env_field_refs=refs,
    )


def _rules(raw: Any) -> list[PolicyRule]:
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


def _binding(doc: Document, kind: str, body: dict) -> Binding:
    ref = body.get("roleRef") if isinstance(body.get("roleRef"), dict) else {}
    sas = [
        (str(s.get("namespace") or ""), str(s.get("name", "")))
        for s in body.get("subjects") or []
        if isinstance(s, dict) and s.get("kind") == "ServiceAccount"
    ]
    return Binding(doc=doc, cluster_scoped=kind == "ClusterRoleBinding", role_kind=str(ref.get("kind", "")),
                   role_name=str(ref.get("name", "")), service_accounts=sas)


def schema_problem(body: dict) -> str | None:
    """The first field where ``body`` fails the Kubernetes schema, e.g. ``spec.selector: 'selector'
    is a required property``; None when it validates or no schema is known."""
    validator = _validator(body.get("kind", ""), body.get("apiVersion", ""))
    if validator is None:
        return None
    error = jsonschema.exceptions.best_match(validator.iter_errors(body))
    if error is None:
        return None
    field = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    return f"{field}: {error.message[:160]}"


@functools.lru_cache(maxsize=None)
def _validator(kind: str, api_version: str) -> jsonschema.protocols.Validator | None:
    """A cached validator built from kubernetes-validate's bundled schemas (its own
    ``validate()`` reloads the definitions on every call, too slow for large bundles)."""
    version = [v for v in kv.all_versions() if kv.major_minor(v) <= SCHEMA_VERSION][-1]
    folder = f"kubernetes-json-schema/v{version}-local"
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = kv.schema_contents(f"{folder}/{kind.lower()}-{group_version}.json", version)
    except (FileNotFoundError, kv.VersionNotSupportedError, kv.InvalidSchemaError):
        return None
    definitions = _definitions(folder, version)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


@functools.lru_cache(maxsize=None)
def _definitions(folder: str, version: str) -> Any:
    return kv.schema_contents(f"{folder}/_definitions.json", version)
