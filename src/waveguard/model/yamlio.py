"""YAML parsing with libyaml when available (PyYAML's pure-Python parser is ~20× slower)."""

from __future__ import annotations

from typing import Any

import yaml

#: libyaml-backed SafeLoader, falling back to the pure-Python one.
FastSafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def line_of(node: yaml.Node | None, loc: tuple) -> int | None:
    """Line (1-based) of the YAML node at ``loc`` (mapping keys and list indices, as pydantic
    reports an error's location) in the composed ``node``; the deepest line found."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if k.value == str(part)]
            if not match:
                return line
            key, node = match[0]
            line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` through libyaml. Raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=FastSafeLoader)  # noqa: S506 - a SafeLoader
