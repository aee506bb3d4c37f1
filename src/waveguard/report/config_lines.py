"""Where in the input a finding is decided: the line of the configuration key behind it.

A finding is located on its workload's first line; what decides it is often elsewhere — the
``processors.k8sattributes`` key inside the ConfigMap the DaemonSet mounts, an env var, a flag,
the RBAC binding of an upper bound. :class:`ConfigLocator` re-reads the input's YAML as nodes
(which keep line numbers) and maps each ``RequestClass.config_key`` the recognisers write
(formats: ``a.b[0].c`` inside a mounted config file, ``FILE: text`` in a mounted file,
``env NAME``, ``--flag`` / ``args --flag=...``, ``RBAC Kind/ns/name``, a container name) to a
file and 1-based line. A key it cannot place gives no location (never a wrong one on purpose).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import yaml

from waveguard.analysis.loader import read_text
from waveguard.model.findings import Finding
from waveguard.model.manifests import CLUSTER_SCOPED_KINDS
from waveguard.model.requests import RequestProfile
from waveguard.model.yamlio import FastSafeLoader

#: Rule → text searched in the workload's mounted config files when no request class names the
#: key (the recognisers' remarks: Fluent Bit's Buffer_Size, CoreDNS's Corefile plugins).
_TEXT_HINTS: dict[str, tuple[str, ...]] = {
    "WG130": ("Buffer_Size",), "WG131": ("kubernetes",), "WG132": ("cache",), "WG133": ("serve_stale", "cache"),
}
#: Rule → path in the workload document that decides it.
_WORKLOAD_PATHS: dict[str, tuple[str, ...]] = {
    "WG105": ("metadata", "namespace"), "WG106": ("spec", "updateStrategy", "rollingUpdate", "maxUnavailable"),
    "WG108": ("apiVersion",),
}


@dataclass(frozen=True)
class KeyLine:
    """A configuration key's place: ``file``, 1-based ``line`` and what is there (``key``)."""

    file: str
    line: int
    key: str


@dataclass
class _Doc:
    file: str
    node: yaml.MappingNode
    mounted: list[str] = field(default_factory=list)


def _get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def _scalar(node: yaml.Node | None, key: str) -> str:
    value = _get(node, key)
    return str(value.value) if isinstance(value, yaml.ScalarNode) else ""


def _walk(node: yaml.Node) -> Iterator[yaml.Node]:
    """Every node under ``node`` (aliases are shared nodes: visited once)."""
    stack, seen = [node], set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, yaml.MappingNode):
            for k, v in current.value:
                stack += [v, k]
        elif isinstance(current, yaml.SequenceNode):
            stack += reversed(current.value)


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _path_line(root: yaml.Node, path: str) -> int | None:
    """0-based line of the deepest node of dotted ``path`` (``a.b[0].c``) that exists under
    ``root``, or None when not even its first segment does."""
    node: yaml.Node | None = root
    found = None
    for name, index in _SEGMENT.findall(path):
        if name:
            key_node = next((k for k, _ in node.value if isinstance(k, yaml.ScalarNode) and k.value == name), None) \
                if isinstance(node, yaml.MappingNode) else None
            if key_node is None:
                break
            found, node = key_node.start_mark.line, _get(node, name)
        else:
            if not isinstance(node, yaml.SequenceNode) or int(index) >= len(node.value):
                break
            node = node.value[int(index)]
            found = node.start_mark.line
        if node is None:
            break
    return found


class ConfigLocator:
    """Index of the input's documents (by ``Kind/namespace/name``) for locating config keys.
    ``files``: every manifest file of the input (read with the loader's ``read_text``, so
    ``<stdin>`` is the text analysed). Unparseable files are left out (the analysis already
    accepted them, so this does not happen in practice)."""

    def __init__(self, files: list[str]) -> None:
        self.docs: dict[str, _Doc] = {}
        for file in dict.fromkeys(files):
            try:
                roots = list(yaml.compose_all(read_text(Path(file)), Loader=FastSafeLoader))
            except (yaml.YAMLError, ValueError, OSError):
                continue
            for root in roots:
                items = _get(root, "items") if _scalar(root, "kind") == "List" else None
                for node in items.value if isinstance(items, yaml.SequenceNode) else [root]:
                    if isinstance(node, yaml.MappingNode):
                        self._add(file, node)

    def _add(self, file: str, node: yaml.MappingNode) -> None:
        kind, meta = _scalar(node, "kind"), _get(node, "metadata")
        name, namespace = _scalar(meta, "name"), _scalar(meta, "namespace") or "default"
        ref = f"{kind}/-/{name}" if kind in CLUSTER_SCOPED_KINDS else f"{kind}/{namespace}/{name}"
        # every `configMap: {name: ...}` of the pod spec (volumes and projected volume sources)
        mounted = [_scalar(_get(n, "configMap"), "name") for n in _walk(node) if _get(n, "configMap") is not None]
        self.docs[ref] = _Doc(file=file, node=node, mounted=[m for m in mounted if m])

    def related(self, finding: Finding, profile: RequestProfile | None) -> list[KeyLine]:
        """The configuration lines that decide ``finding`` (its workload's request classes the
        message names, then the rule's own key), without duplicates and without the finding's
        own line."""
        workload = self.docs.get(finding.workload)
        if workload is None:
            return []
        keys = [rc.config_key for rc in (profile.classes if profile else [])
                if rc.config_key and (f"({rc.component})" in finding.message
                                      or finding.message.startswith(rc.component)
                                      or rc.config_key.removeprefix("RBAC ") in finding.message)]
        found = [self.locate(key, workload) for key in dict.fromkeys(keys)]
        found += [self._text_hint(workload, hint) for hint in _TEXT_HINTS.get(finding.rule, ())][:1]
        if finding.rule == "WG115":  # the volume that mounts the missing ConfigMap
            found.append(self._volume(workload, finding.message))
        if finding.rule in _WORKLOAD_PATHS:
            line = _path_line(workload.node, ".".join(_WORKLOAD_PATHS[finding.rule]))
            found.append(KeyLine(workload.file, line + 1, ".".join(_WORKLOAD_PATHS[finding.rule]))
                         if line is not None else None)
        unique: dict[tuple[str, int], KeyLine] = {}
        for place in found:
            if place is not None and (place.file, place.line) != (finding.file, finding.line):
                unique.setdefault((place.file, place.line), place)
        return list(unique.values())

    def locate(self, key: str, workload: _Doc) -> KeyLine | None:
        """The line of one ``config_key`` for ``workload`` (formats: the module docstring)."""
        if key.startswith("RBAC "):
            doc = self.docs.get(key.removeprefix("RBAC "))
            return KeyLine(doc.file, _line(doc.node), key) if doc else None
        if key.startswith("env "):
            return self._env(workload, key)
        flag = next((word for word in key.split() if word.startswith("--")), None)
        if flag is not None:
            flag = flag.split("=")[0]
            scalars = [n for n in _walk(workload.node) if isinstance(n, yaml.ScalarNode)
                       and str(n.value).startswith(flag)]
            return KeyLine(workload.file, _line(scalars[0]), key) if scalars else None
        file_name, sep, rest = key.partition(": ")
        if sep:
            return self._in_config(workload, key, rest, only=file_name)
        return self._in_config(workload, key, key) or self._container(workload, key)

    def _volume(self, workload: _Doc, message: str) -> KeyLine | None:
        """The ``configMap:`` volume source whose ConfigMap ``message`` names."""
        for node in _walk(workload.node):
            source = _get(node, "configMap")
            name = _scalar(source, "name")
            if source is not None and name and f"ConfigMap {name}" in message:
                return KeyLine(workload.file, _line(source), f"configMap {name}")
        return None

    def _env(self, workload: _Doc, key: str) -> KeyLine | None:
        name = key.split()[1]
        for node in _walk(workload.node):
            env = _get(node, "env")
            if isinstance(env, yaml.SequenceNode):
                entry = next((e for e in env.value if _scalar(e, "name") == name), None)
                if entry is not None:
                    return KeyLine(workload.file, _line(entry), key)
        return None

    def _container(self, workload: _Doc, key: str) -> KeyLine | None:
        name = key.split()[-1].split("/")[-1]
        for node in _walk(workload.node):
            if isinstance(node, yaml.MappingNode) and _scalar(node, "name") == name and _get(node, "image"):
                return KeyLine(workload.file, _line(node), key)
        return None

    def _config_files(self, workload: _Doc,
                      only: str = "") -> Iterator[tuple[_Doc, yaml.ScalarNode, yaml.ScalarNode]]:
        """(ConfigMap document, data key node, data value node) of each file the workload mounts."""
        namespace = _scalar(_get(workload.node, "metadata"), "namespace") or "default"
        for name in workload.mounted:
            doc = self.docs.get(f"ConfigMap/{namespace}/{name}")
            data = _get(doc.node, "data") if doc else None
            if doc is None or not isinstance(data, yaml.MappingNode):
                continue
            for k, v in data.value:
                if isinstance(k, yaml.ScalarNode) and isinstance(v, yaml.ScalarNode) and (not only or k.value == only):
                    yield doc, k, v

    def _in_config(self, workload: _Doc, key: str, rest: str, only: str = "") -> KeyLine | None:
        """``rest`` as a YAML path, else as text, in the workload's mounted config files; a named
        file without a match gives that file's data key."""
        fallback = None
        for doc, key_node, value in self._config_files(workload, only):
            first = value.start_mark.line + 1 if value.style in ("|", ">") else None  # 0-based content line
            inner = _inner_line(str(value.value), rest)
            if inner is not None and first is not None:
                return KeyLine(doc.file, first + inner + 1, key)
            fallback = fallback or (KeyLine(doc.file, _line(key_node), key) if only or inner is not None else None)
        return fallback

    def _text_hint(self, workload: _Doc, hint: str) -> KeyLine | None:
        for doc, _, value in self._config_files(workload):
            lines = str(value.value).splitlines()
            hit = next((i for i, text in enumerate(lines) if hint in text and not text.lstrip().startswith("#")), None)
            if hit is not None and value.style in ("|", ">"):
                return KeyLine(doc.file, value.start_mark.line + hit + 2, hint)
        return None


def _inner_line(text: str, wanted: str) -> int | None:
    """0-based line of ``wanted`` in a config file's ``text``: as a YAML path when the text is
    YAML and the path's first segment exists, else the first line holding the words of
    ``wanted`` before its first `` / `` (dropping leading words until some match)."""
    if re.fullmatch(r"[\w\-/]+(\[\d+\])?(\.[\w\-/]+(\[\d+\])?)*", wanted):
        try:
            root = yaml.compose(text, Loader=FastSafeLoader)
        except yaml.YAMLError:
            root = None
        if root is not None:
            return _path_line(root, wanted)
    words = wanted.split(" / ")[0].split()
    lines = [" ".join(line.split()) for line in text.splitlines()]
    for start in range(len(words)):
        phrase = " ".join(words[start:])
        hit = next((i for i, line in enumerate(lines) if phrase in line and not line.startswith("#")), None)
        if hit is not None:
            return hit
    return None
