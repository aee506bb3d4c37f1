"""Read rendered manifests (files, folders, multi-document YAML, ``kind: List``) into a Change.

Custom resources that an operator renders into workloads (the OpenTelemetry Operator's
``OpenTelemetryCollector``) are expanded by the registry in :mod:`waveguard.analysis.expanders`;
object bodies become model objects in :mod:`waveguard.analysis.objects`.

Bad input raises :class:`~waveguard.model.errors.InputError` naming the file and line; nothing
is half-loaded. Unusual but valid input becomes parse notes (old API versions, schema
violations, custom resources that may run code), which the analysis turns into findings.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ConfigDict

from waveguard.analysis.bootstrap_roles import BOOTSTRAP_CLUSTER_ROLES
from waveguard.analysis.expanders import expander_for
from waveguard.analysis.schema import SCHEMA_VERSION, is_kubernetes_kind, schema_problem
from waveguard.analysis.stdin import STDIN, STDIN_NAMES, stdin_bytes
from waveguard.analysis.objects import binding, mapping, pod_spec, policy_rules, workload
from waveguard.model.errors import InputError, yaml_input_error
from waveguard.model.findings import Severity
from waveguard.model.gcpause import cyclic_gc_paused
from waveguard.model.manifests import WORKLOAD_KINDS, Change, ConfigMap, Document, Location, Role, Workload
from waveguard.model.yamlio import FastSafeLoader, first_duplicate_key

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

#: Old API versions still found in the wild, and the apps/v1 kind they are analysed as.
#: k8s: "Deprecated API Migration Guide" (removed in v1.16).
OLD_WORKLOAD_API_VERSIONS = {"extensions/v1beta1", "apps/v1beta1", "apps/v1beta2"}
_OLD_WORKLOAD_KINDS = {"DaemonSet", "Deployment", "StatefulSet", "ReplicaSet"}
#: Kinds waveguard reads; everything else is skipped (custom resources may get a note).
_KNOWN_KINDS = set(WORKLOAD_KINDS) | {
    "ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap",
}
#: The kinds waveguard reads, by their lower-case spelling (a misspelt case: ``Daemonset``).
_CASE_FOLDED_KINDS = {k.lower(): k for k in _KNOWN_KINDS}
#: API groups of built-in Kubernetes kinds (a custom resource's group is anything else).
_BUILTIN_GROUP = re.compile(r"^(v1|[a-z0-9]+/v\w+|[a-z0-9.]*\.k8s\.io/v\w+)$")
#: Keys that make a custom resource look like something an operator turns into pods.
_WORKLOAD_HINTS = {"image", "containers", "template", "replicas", "controller", "podTemplate", "alloy", "daemonset",
                   "mode", "config"}


def manifest_files(paths: list[str]) -> list[Path]:
    """Expand ``paths`` (files or folders, recursively; ``-`` or ``/dev/stdin``: standard input,
    as :data:`STDIN`) to manifest files, sorted. Raises InputError for a missing path, a pipe or
    device, and a folder that cannot be read (never skipped: its manifests would be missing)."""
    files: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        p = Path(raw)
        if raw in STDIN_NAMES:
            files += [] if STDIN in seen else [STDIN]
            seen.add(STDIN)
            continue
        if p.is_dir():
            found = sorted(f for f in _walk(p) if f.suffix.lower() in MANIFEST_SUFFIXES)
        elif p.is_file():
            found = [p]
        elif p.exists():  # /dev/null, a named pipe (which nobody may write to), a socket
            raise InputError(raw, "is not a regular file or folder (a pipe, device or socket)",
                             hint="save the manifests to a file, or pipe them to waveguard analyse -")
        else:
            raise InputError(raw, "no such file or folder", hint="pass rendered manifests, e.g. the output of helm template")
        for f in found:  # a folder and a file inside it name the file once
            if f.resolve() not in seen:
                seen.add(f.resolve())
                files.append(f)
    if not files:
        raise InputError(", ".join(paths), "no .yaml/.yml/.json manifests found", hint="point at rendered manifests")
    return files


def _walk(folder: Path) -> list[Path]:
    """Every file under ``folder``. Raises InputError naming a folder that cannot be listed."""
    def fail(exc: OSError) -> None:
        raise InputError(str(exc.filename or folder), f"cannot read folder: {exc.strerror or exc}",
                         hint="check the permissions")

    return [Path(root) / name for root, _, names in os.walk(folder, onerror=fail) for name in names]


class NotManifestError(InputError):
    """A file none of whose documents has an apiVersion or a kind: not a Kubernetes object (a
    bare agent configuration beside the manifests). :func:`load_change` skips it with a WG121
    note, and raises it when nothing else is left."""


def read_documents(path: Path) -> list[Document]:
    """Parse one file into documents with their start lines; ``kind: List`` is expanded.

    Raises InputError naming the line (malformed YAML, a duplicate key, a document that is not
    a mapping or lacks apiVersion/kind among objects), or :class:`NotManifestError` when no
    document of the file is a Kubernetes object."""
    text = read_text(path)
    may_alias = "&" in text  # no anchor, no alias: no document can expand beyond its text
    docs: list[Document] = []
    bare_lines: list[int] = []
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
            check_duplicate_keys(node, path)
            data = loader.construct_document(node)
            if data is None:
                continue  # empty document (a lone '---' or only comments)
            if not isinstance(data, dict):
                raise InputError(str(path), f"document is a {type(data).__name__}, not a mapping", line=line,
                                 hint="each YAML document must be one Kubernetes object")
            if "apiVersion" not in data and "kind" not in data:
                bare_lines.append(line)
            elif data.get("kind") == "List":
                docs += _list_items(data, node, path, line)
            else:
                docs.append(_document(data, path, line))
    except yaml.YAMLError as exc:
        raise yaml_input_error(str(path), exc, text) from exc
    finally:
        loader.dispose()
    if bare_lines:
        error = NotManifestError if not docs else InputError
        raise error(str(path), "document has no apiVersion/kind", line=bare_lines[0], hint=_no_kind_hint(path))
    return docs


def _list_items(data: dict, node: yaml.Node, path: Path, line: int) -> list[Document]:
    if not isinstance(data.get("items"), list):
        raise InputError(str(path), "kind: List without an items list", line=line,
                         hint="give items: [...] with one object per item")
    item_nodes = _items_nodes(node)
    return [_document(item, path, item_nodes[i].start_mark.line + 1 if i < len(item_nodes) else line)
            for i, item in enumerate(data["items"])]


def check_duplicate_keys(node: yaml.Node, path: Path) -> None:
    """Raise InputError at the second occurrence of a key in one mapping of ``node``: YAML
    forbids it, PyYAML silently keeps the last value, and kubectl rejects the manifest
    (sigs.k8s.io/yaml strict decoding: 'key ... already set in map')."""
    duplicate = first_duplicate_key(node)
    if duplicate is not None:
        key, first_line, line = duplicate
        raise InputError(str(path), f"duplicate key {key!r} (first at line {first_line})", line=line,
                         hint="remove one of them: kubectl rejects a manifest with duplicate keys")


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
    """A manifest's text (:data:`STDIN`: standard input's). Raises InputError naming the line of
    a byte that is not UTF-8."""
    try:
        raw = stdin_bytes() if path == STDIN else path.read_bytes()
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


def _no_kind_hint(path: Path) -> str:
    if path.name in ("Chart.yaml", "values.yaml"):
        return "this is a chart's source: render it first (helm template RELEASE CHART > rendered.yaml)"
    return "each document must be a Kubernetes object with apiVersion and kind"


def _document(data: Any, path: Path, line: int) -> Document:
    if not isinstance(data, dict):
        raise InputError(str(path), "a List item is not a mapping", line=line, hint="each item must be an object")
    kind = data.get("kind")
    api_version = data.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api_version, str):
        raise InputError(str(path), "document has no apiVersion/kind", line=line, hint=_no_kind_hint(path))
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
    """Parse all manifests under ``paths`` into a :class:`Change`. A file that holds no
    Kubernetes object is skipped with a WG121 note (an InputError when nothing else is left).
    Raises InputError."""
    change = Change()
    by_ref: dict[str, Workload] = {}  # the change's workloads by ref: a redefinition is found in O(1)
    skipped: list[NotManifestError] = []
    with cyclic_gc_paused():
        for f in manifest_files(paths):
            try:
                documents = read_documents(f)
            except NotManifestError as exc:
                skipped.append(exc)
                continue
            for doc in documents:
                _add_checked(change, doc, validate, by_ref)
    if not change.documents:
        if skipped:
            raise skipped[0]
        raise InputError(", ".join(paths), "no Kubernetes objects found (only empty documents or comments)",
                         hint="point at rendered manifests")
    change.parse_notes += [_skip_note(not_manifest) for not_manifest in skipped]
    add_bootstrap_roles(change)
    return change


class FileDocument(Document):
    """A file of the input that is not a Kubernetes object, as the subject of a finding."""

    model_config = ConfigDict(defer_build=True)  # built when first made: most runs make none

    @property
    def ref(self) -> str:
        return f"file {self.name}"


def _skip_note(exc: NotManifestError) -> tuple[str, Severity, Document, str, str]:
    doc = FileDocument(api_version="", kind="File", name=exc.source, body={},
                       location=Location(file=exc.source, line=exc.line or 1))
    return ("WG121", "info", doc,
            f"{exc.source} holds no Kubernetes object (no apiVersion/kind: an agent's own configuration?): "
            "skipped, so whatever it configures is not analysed",
            "pass it wrapped in the ConfigMap the agent mounts (as its install script creates it), or leave it out")


def _add_checked(change: Change, doc: Document, validate: bool, by_ref: dict[str, Workload]) -> None:
    try:
        _add(change, doc, validate, by_ref)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:  # includes pydantic's ValidationError
        problem = schema_problem(doc.body) if validate else None
        raise InputError(doc.location.file, f"cannot analyse {doc.ref}: "
                         f"{problem or _first_line(exc)}", line=doc.location.line,
                         hint="fix the field so that the API server would accept the object") from exc


def add_bootstrap_roles(change: Change) -> None:
    """Add the built-in ClusterRoles (:data:`BOOTSTRAP_CLUSTER_ROLES`) that a binding of the
    change names and the change does not define, located at that binding (they are not
    documents of the change)."""
    defined = {r.doc.name for r in change.roles if r.cluster_scoped}
    for b in change.bindings:
        name = b.role_name
        if b.role_kind != "ClusterRole" or name in defined or name not in BOOTSTRAP_CLUSTER_ROLES:
            continue
        defined.add(name)
        doc = Document(api_version="rbac.authorization.k8s.io/v1", kind="ClusterRole", name=name, body={},
                       location=b.doc.location)
        change.roles.append(Role(doc=doc, cluster_scoped=True, rules=BOOTSTRAP_CLUSTER_ROLES[name]))


def _first_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]


def _add(change: Change, doc: Document, validate: bool, by_ref: dict[str, Workload]) -> None:
    change.documents.append(doc)
    kind = doc.kind
    expand = expander_for(doc)
    if expand is not None:  # a custom resource analysed as what its operator renders
        before = len(change.workloads)
        expand(change, doc)
        by_ref.update((w.ref, w) for w in change.workloads[before:])
        return
    if kind not in _KNOWN_KINDS:
        if _BUILTIN_GROUP.match(doc.api_version) and is_kubernetes_kind(str(kind), doc.api_version) is False:
            # "Daemonset", "Banana" in v1: the API server rejects it; skipped silently it read as "no findings"
            meant = _CASE_FOLDED_KINDS.get(str(kind).lower())
            change.parse_notes.append((
                "WG109", "warning", doc, f"kind {kind} ({doc.api_version}) is no Kubernetes kind, so it was not "
                "analysed (the API server rejects it)",
                f"spell the kind {meant}" if meant else "check the kind against kubectl api-resources"))
        elif not _BUILTIN_GROUP.match(doc.api_version) and _looks_like_workload(doc.body):
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
    _add_object(change, doc, body, by_ref)


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


def _add_object(change: Change, doc: Document, body: dict[str, Any], by_ref: dict[str, Workload]) -> None:
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
        _add_workload(change, workload(doc, kind, spec), by_ref)
    elif kind == "ServiceAccount":
        change.service_accounts.append(doc)
    elif kind in ("Role", "ClusterRole"):
        change.roles.append(Role(doc=doc, cluster_scoped=kind == "ClusterRole", rules=policy_rules(body.get("rules"))))
    elif kind in ("RoleBinding", "ClusterRoleBinding"):
        change.bindings.append(binding(doc, kind, body))
    elif kind == "ConfigMap":
        data = mapping(body.get("data"))
        change.configmaps.append(ConfigMap(doc=doc, data={str(k): str(v) for k, v in data.items()}))


def _add_workload(change: Change, new: Workload, by_ref: dict[str, Workload]) -> None:
    """Add ``new`` (and to ``by_ref``); a workload of the same kind/namespace/name defined earlier
    is replaced (as kubectl apply of the input leaves the later one) with a WG120 note."""
    earlier, by_ref[new.ref] = by_ref.get(new.ref), new
    if earlier is not None:
        change.workloads.remove(earlier)
        where = f"{earlier.doc.location.file}:{earlier.doc.location.line}"
        change.parse_notes.append((
            "WG120", "warning", new.doc,
            f"{new.ref} is defined twice (first at {where}): applied in order, the later definition replaces the "
            "earlier, so only the later one is analysed",
            "keep one definition (two charts or two files render the same workload)"))
    change.workloads.append(new)


def _looks_like_workload(body: dict) -> bool:
    spec = body.get("spec")
    return isinstance(spec, dict) and bool(_WORKLOAD_HINTS & set(spec))
