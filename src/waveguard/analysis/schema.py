"""Kubernetes schema checks of manifests (kubernetes-validate's bundled schemas), for WG109."""

from __future__ import annotations

import functools
import re
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs installed (types-jsonschema)
from kubernetes_validate import utils as kv
from referencing import Registry, Resource

#: Kubernetes version whose schemas validate manifests (kubernetes-validate ships them).
SCHEMA_VERSION = "1.30"


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
