"""The format version every document waveguard writes carries (issue 15), and reading it back.

``apiVersion: waveguard.io/v1alpha1`` and a ``kind`` lead every JSON/YAML document waveguard
prints (Kubernetes' convention: a group/version and a type). Files waveguard reads (a plan
written by ``waveguard plan``) may carry them; files written by hand may leave them out.
"""

from __future__ import annotations

from typing import Any

from waveguard.model.errors import InputError

#: Group and version of waveguard's documents. v1alpha1: the formats may still change.
API_VERSION = "waveguard.io/v1alpha1"


def strip_api_header(data: Any, kind: str, source: str) -> Any:
    """``data`` without its ``apiVersion``/``kind`` keys (a copy; anything not a mapping as it
    is). Raises InputError naming ``source`` when they name another version or kind."""
    if not isinstance(data, dict) or not ({"apiVersion", "kind"} & data.keys()):
        return data
    version, found = data.get("apiVersion", API_VERSION), data.get("kind", kind)
    if version != API_VERSION:
        raise InputError(source, f"unknown apiVersion {version!r}",
                         hint=f"give {API_VERSION} or none")
    if found != kind:
        raise InputError(source, f"kind {found!r}: expected {kind}", hint="is this the right file?")
    return {k: v for k, v in data.items() if k not in ("apiVersion", "kind")}


def versioned(kind: str, doc: Any) -> dict[str, Any]:
    """``doc`` (a dict; anything else goes under ``items``) led by ``apiVersion`` and ``kind``."""
    body = doc if isinstance(doc, dict) else {"items": doc}
    return {"apiVersion": API_VERSION, "kind": kind, **body}
