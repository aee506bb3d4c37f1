"""Read rendered manifests (files, folders, multi-document YAML, ``kind: List``) into a Change.

Custom resources that an operator renders into workloads (the OpenTelemetry Operator's
``OpenTelemetryCollector``) are expanded by the registry in :mod:`waveguard.analysis.expanders`;
object bodies become model objects in :mod:`waveguard.analysis.objects`.

Bad input raises :class:`~waveguard.model.errors.InputError` naming the file and line; nothing
is half-loaded. Unusual but valid input becomes parse notes (old API versions, schema
violations, custom resources that may run code), which the analysis turns into findings.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs installed (types-jsonschema)
import yaml
from kubernetes_validate import utils as kv
from referencing import Registry, Resource

from waveguard.analysis.expanders import expander_for
from waveguard.analysis.objects import binding, mapping, pod_spec, policy_rules, workload
from waveguard.model.errors import InputError, yaml_input_error
from waveguard.model.manifests import WORKLOAD_KINDS, Change, ConfigMap, Document, Location, Role
from waveguard.model.yamlio import FastSafeLoader

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
_WORKLOAD_HINTS = {"image", "containers", "template", "replicas", "controller", "podTemplate", "alloy", "daemonset",
                   "mode", "config"}


def manifest_files(paths: list[str]) -> list[Path]:
    """Expand ``paths`` (files or folders, recursively) to manifest files, sorted."""
    files: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in MANIFEST_SUFFIXES)
        elif p.is_file():
            found = [p]
        else:
            raise InputError(raw, "no such file or folder", hint="pass rendered manifests, e.g. the output of helm template")
        for f in found:  # a folder and a file inside it name the file once
            if f.resolve() not in seen:
                seen.add(f.resolve())
                files.append(f)
    if not files:
        raise InputError(", ".join(paths), "no .yaml/.yml/.json manifests found", hint="point at rendered manifests")
    return files


def read_documents(path: Path) -> list[Document]:
    """Parse one file into documents with their start lines; ``kind: List`` is expanded."""
    text = read_text(path)
    may_alias = "&" in text  # no anchor, no alias: no document can expand beyond its text
    docs: list[Document] = []
    loader = FastSafeLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            line = node.start_mark.line + 1
            if may_alias and expanded_size(node) > MAX_EXPANDED_NODES:
                raise InputError(str(path), f"document expands to more than {MAX_EXPANDED_NODES:,} YAML nodes "
                                 "through aliases (an alias bomb?)", line=line, hint="render it without anchors/aliases")
            data = loader.construct_document(node)
            if data is None:
                continue  # empty document (a lone '---' or only comments)
            if not isinstance(data, dict):
                raise InputError(str(path), f"document is a {type(data).__name__}, not a mapping", line=line,
                                 hint="each YAML document must be one Kubernetes object")
            if data.get("kind") == "List":
                if not isinstance(data.get("items"), list):
                    raise InputError(str(path), "kind: List without an items list", line=line,
                                     hint="give items: [...] with one object per item")
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


#: Most YAML nodes one document may expand to (aliases included): far above any real manifest
#: (the 10 MB benchmark bundle's largest document has a few thousand), far below a memory blow-up.
MAX_EXPANDED_NODES = 1_000_000


def expanded_size(node: yaml.Node) -> int:
    """Number of nodes ``node`` becomes once aliases are expanded, computed on the node graph
    (aliases share nodes) without expanding anything."""
    memo: dict[int, int] = {}

    def size(n: yaml.Node) -> int:
        key = id(n)
        if key in memo:
            return memo[key]
        memo[key] = 1  # cycles (recursive anchors) count once
        if isinstance(n, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in n.value)
        elif isinstance(n, yaml.SequenceNode):
            total = 1 + sum(size(v) for v in n.value)
        else:
            total = 1
        memo[key] = min(total, MAX_EXPANDED_NODES + 1)
        return memo[key]

    return size(node)


def read_text(path: Path) -> str:
    """A manifest's text. Raises InputError naming the line of a byte that is not UTF-8."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror}", hint="check the path and permissions") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(str(path), f"not UTF-8 text (byte 0x{raw[exc.start]:02x})", line=line,
                         hint="re-encode the file as UTF-8, or check that it is a manifest") from exc
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise InputError(str(path), "contains NUL bytes: not a text manifest", line=line, hint="check the file")
    return text


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
        hint = ("this is a chart's source: render it first (helm template RELEASE CHART > rendered.yaml)"
                if path.name in ("Chart.yaml", "values.yaml") else
                "each document must be a Kubernetes object with apiVersion and kind")
        raise InputError(str(path), "document has no apiVersion/kind", line=line, hint=hint)
    meta = mapping(data.get("metadata"))
    namespace = meta.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise InputError(str(path), f"metadata.namespace of {kind} is a {type(namespace).__name__}, not a name",
                         line=line, hint="set metadata.namespace to a string")
    return Document(
        api_version=api_version, kind=kind, name=str(meta.get("name", "")),
        namespace=namespace, body=data, location=Location(file=str(path), line=line),
    )


def load_change(paths: list[str], validate: bool = True) -> Change:
    """Parse all manifests under ``paths`` into a :class:`Change`. Raises InputError."""
    change = Change()
    for f in manifest_files(paths):
        for doc in read_documents(f):
            try:
                _add(change, doc, validate)
            except (TypeError, ValueError, AttributeError, KeyError) as exc:  # includes pydantic's ValidationError
                problem = schema_problem(doc.body) if validate else None
                raise InputError(doc.location.file, f"cannot analyse {doc.ref}: "
                                 f"{problem or _first_line(exc)}", line=doc.location.line,
                                 hint="fix the field so that the API server would accept the object") from exc
    if not change.documents:
        raise InputError(", ".join(paths), "no Kubernetes objects found (only empty documents or comments)",
                         hint="point at rendered manifests")
    return change


def _first_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]


def _add(change: Change, doc: Document, validate: bool) -> None:
    change.documents.append(doc)
    kind = doc.kind
    expand = expander_for(doc)
    if expand is not None:  # a custom resource analysed as what its operator renders
        expand(change, doc)
        return
    if kind not in _KNOWN_KINDS:
        if not _BUILTIN_GROUP.match(doc.api_version) and _looks_like_workload(doc.body):
            change.parse_notes.append((
                "WG110", "info", doc,
                f"custom resource {kind} ({doc.api_version}) may make its operator run pods; waveguard does not "
                "model it, so its API load is not projected",
                f"analyse what the operator renders (e.g. the {kind} operator's DaemonSet/Deployment) instead",
            ))
        return
    body = _current_api_body(change, doc)
    if validate:
        problem = schema_problem(body)
        if problem:
            change.parse_notes.append((
                "WG109", "warning", doc, f"fails the Kubernetes {SCHEMA_VERSION} schema at {problem}; analysed anyway",
                "fix the field so that the API server accepts the object",
            ))
    _add_object(change, doc, body)


def _current_api_body(change: Change, doc: Document) -> dict[str, Any]:
    """``doc``'s body, with an old workload API version (WG108 note) read as apps/v1."""
    if doc.api_version in OLD_WORKLOAD_API_VERSIONS and doc.kind in _OLD_WORKLOAD_KINDS:
        change.parse_notes.append((
            "WG108", "warning", doc,
            f"{doc.api_version} {doc.kind} was removed in Kubernetes 1.16; analysed as its apps/v1 equivalent, "
            "but a current cluster rejects it",
            "set apiVersion: apps/v1 (and spec.selector, which apps/v1 requires)",
        ))
        return dict(doc.body, apiVersion="apps/v1")
    return doc.body


def _add_object(change: Change, doc: Document, body: dict[str, Any]) -> None:
    """Add one object of a kind waveguard reads to ``change`` (a workload without containers
    gets a WG109 note instead)."""
    kind = doc.kind
    spec = mapping(body.get("spec"))
    if kind in WORKLOAD_KINDS:
        if not pod_spec(kind, spec).get("containers"):
            change.parse_notes.append((
                "WG109", "warning", doc, f"{kind} has no pod template with containers: nothing to analyse",
                "give spec.template.spec.containers (spec.containers for a Pod)"))
            return
        change.workloads.append(workload(doc, kind, spec))
    elif kind == "ServiceAccount":
        change.service_accounts.append(doc)
    elif kind in ("Role", "ClusterRole"):
        change.roles.append(Role(doc=doc, cluster_scoped=kind == "ClusterRole", rules=policy_rules(body.get("rules"))))
    elif kind in ("RoleBinding", "ClusterRoleBinding"):
        change.bindings.append(binding(doc, kind, body))
    elif kind == "ConfigMap":
        data = mapping(body.get("data"))
        change.configmaps.append(ConfigMap(doc=doc, data={str(k): str(v) for k, v in data.items()}))


def _looks_like_workload(body: dict) -> bool:
    spec = body.get("spec")
    return isinstance(spec, dict) and bool(_WORKLOAD_HINTS & set(spec))


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
