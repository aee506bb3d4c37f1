"""Kubernetes schema checks of manifests (kubernetes-validate's bundled schemas), for WG109."""

from __future__ import annotations

import functools
import re
from typing import Any, Hashable

import jsonschema  # type: ignore[import-untyped]  # no stubs installed (types-jsonschema)
from kubernetes_validate import utils as kv
from referencing import Registry, Resource

#: Kubernetes version whose schemas validate manifests (kubernetes-validate ships them).
SCHEMA_VERSION = "1.30"


def schema_problem(body: dict) -> str | None:
    """The first field where ``body`` fails the Kubernetes schema, e.g. ``spec.selector: 'selector'
    is a required property``; None when it validates or no schema is known.

    Documents of one shape (:func:`shape`) get one answer, computed once: a bundle of many
    copies of a chart validates each shape once. The best error (jsonschema's ``best_match``,
    which sorts every error) is only looked for when the document is invalid. The first document
    of a kind (kind, apiVersion) is validated without its shape: shapes (and the schema scan
    behind :func:`_value_keys`) are only computed once a kind repeats, so a small change, whose
    kinds are all different, pays for none of it (start-up, issue 17); a bundle validates at most
    one more document per kind."""
    kind = (str(body.get("kind")), str(body.get("apiVersion")))
    if kind not in _KINDS_SEEN:
        _KINDS_SEEN.add(kind)
        return _problem(body)
    key = shape(body)
    if key not in _PROBLEMS:
        _remember(key, _problem(body))
    return _PROBLEMS[key]


def _remember(key: Hashable, problem: str | None) -> None:
    if len(_PROBLEMS) >= _MAX_SHAPES:
        _PROBLEMS.clear()
    _PROBLEMS[key] = problem


def _problem(body: dict) -> str | None:
    validator = _validator(body.get("kind", ""), body.get("apiVersion", ""))
    if validator is None or validator.is_valid(body):
        return None
    error = jsonschema.exceptions.best_match(validator.iter_errors(body))
    field = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    return f"{field}: {error.message[:160]}"


#: Answers of :func:`schema_problem` by document shape; cleared when it holds this many (a
#: bound on memory for a bundle of all-different documents; real bundles repeat few shapes).
_MAX_SHAPES = 4096
_PROBLEMS: dict[Hashable, str | None] = {}
#: (kind, apiVersion) of the documents validated so far.
_KINDS_SEEN: set[tuple[str, str]] = set()


def shape(value: Any, key: str = "") -> Hashable:
    """What the Kubernetes schemas can tell apart in ``value``: mapping keys, list lengths, the
    JSON type of every scalar, and the scalar itself under a property whose schema constrains
    values (:func:`_value_keys`: ``kind`` and ``apiVersion`` in the 1.30 schemas). Two documents
    of one shape validate alike: beyond those, the schemas check types and required properties,
    and the validator checks no ``format`` (no format checker is given to it)."""
    if isinstance(value, dict):
        return tuple((k, shape(v, k)) for k, v in value.items())
    if isinstance(value, list):
        return ("[", *(shape(v, key) for v in value))
    if isinstance(value, bool) or value is None:
        return value
    if key in _value_keys():
        return (type(value).__name__, value)
    if isinstance(value, str):
        return "s"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "i"  # JSON Schema's integer takes 1.0 as well
    if isinstance(value, float):
        return "f"
    return ("?", repr(value))  # not a JSON value (a YAML timestamp): compared as it is


#: JSON Schema keywords that constrain a value beyond its type (``format`` is not checked).
_VALUE_KEYWORDS = frozenset({"enum", "const", "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                             "minLength", "maxLength", "multipleOf", "uniqueItems"})


@functools.lru_cache(maxsize=1)
def _value_keys() -> frozenset[str]:
    """Names of the properties whose schema (or whose items' schema) constrains values
    (:data:`_VALUE_KEYWORDS`) in the bundled definitions, with ``kind`` and ``apiVersion`` (each
    kind's own schema fixes them). The definitions are flat — an object-valued property is a
    ``$ref`` to another definition — so one pass over each definition's properties finds them
    (tests/test_perf_issue17.py checks it against a walk of the whole document)."""
    version = _schema_version()
    found: set[str] = {"kind", "apiVersion"}
    definitions = _definitions(f"kubernetes-json-schema/v{version}-local", version)
    for definition in (definitions.get("$defs") or {}).values():
        for name, prop in (definition.get("properties") or {}).items():
            items = prop.get("items")
            if _VALUE_KEYWORDS & prop.keys() or isinstance(items, dict) and _VALUE_KEYWORDS & items.keys():
                found.add(name)
    return frozenset(found)


@functools.lru_cache(maxsize=1)
def _schema_version() -> str:
    return [v for v in kv.all_versions() if kv.major_minor(v) <= SCHEMA_VERSION][-1]


@functools.lru_cache(maxsize=None)
def _validator(kind: str, api_version: str) -> jsonschema.protocols.Validator | None:
    """A cached validator built from kubernetes-validate's bundled schemas (its own
    ``validate()`` reloads the definitions on every call, too slow for large bundles)."""
    version = _schema_version()
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
