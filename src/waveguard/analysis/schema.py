"""Kubernetes schema checks of manifests (kubernetes-validate's bundled schemas), for WG109.

Two validators read the same schemas. jsonschema-rs answers whether a document is valid: it
imports in ~2 ms, where jsonschema (with referencing and attrs) takes ~35 ms, the largest part of
``analyse``'s start-up on one file (issue 17). jsonschema, imported only when a document is not
valid, finds the error WG109 quotes (its ``best_match`` and messages), and has the last word: a
document jsonschema-rs cannot read (a YAML timestamp, a key that is not a string) or refuses is
asked of jsonschema. The schema files are read from kubernetes-validate's package data, found
without importing the package (its ``__init__`` imports jsonschema); they are the files its own
``validate()`` reads, ``kubernetes-json-schema/v<version>-local/<kind>-<group>-<version>.json``.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Hashable

if TYPE_CHECKING:
    import jsonschema  # type: ignore[import-untyped]  # no stubs installed (types-jsonschema)
    import jsonschema_rs

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
    kind, api_version = body.get("kind", ""), body.get("apiVersion", "")
    if _kind_schema(kind, api_version) is None or _valid_by_rust(kind, api_version, body):
        return None
    import jsonschema

    error = jsonschema.exceptions.best_match(_validator(kind, api_version).iter_errors(body))
    if error is None:  # valid after all: jsonschema has the last word
        return None
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
    found: set[str] = {"kind", "apiVersion"}
    definitions = _definitions()
    for definition in (definitions.get("$defs") or {}).values():
        for name, prop in (definition.get("properties") or {}).items():
            items = prop.get("items")
            if _VALUE_KEYWORDS & prop.keys() or isinstance(items, dict) and _VALUE_KEYWORDS & items.keys():
                found.add(name)
    return frozenset(found)


def _valid_by_rust(kind: str, api_version: str, body: dict) -> bool:
    """True when jsonschema-rs finds ``body`` valid against its kind's schema; False when it does
    not, or cannot read it (jsonschema decides then)."""
    validator = _rust_validator(kind, api_version)
    if validator is None:
        return False
    try:
        return validator.is_valid(body)
    except (ValueError, TypeError, OverflowError):  # not a JSON value: a date, a key that is no string
        return False


@functools.lru_cache(maxsize=None)
def _rust_validator(kind: str, api_version: str) -> jsonschema_rs.Draft202012Validator | None:
    """jsonschema-rs's validator of a kind's schema, or None when it cannot compile it. Formats
    are not checked, as by :func:`_validator` (which is given no format checker)."""
    import jsonschema_rs

    try:
        return jsonschema_rs.Draft202012Validator(_kind_schema(kind, api_version), registry=_rust_registry(),
                                                  validate_formats=False)
    except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError):
        return None


@functools.lru_cache(maxsize=1)
def _rust_registry() -> jsonschema_rs.Registry:
    """The shared definitions, under their ``$id``: the kinds' schemas ``$ref`` them there."""
    import jsonschema_rs

    definitions = _definitions()
    return jsonschema_rs.Registry([(definitions["$id"], definitions)])


@functools.lru_cache(maxsize=None)
def _validator(kind: str, api_version: str) -> jsonschema.protocols.Validator:
    """jsonschema's validator of a kind's schema (there is one: :func:`_problem` asks first),
    with the shared definitions in its registry."""
    import jsonschema
    from referencing import Registry, Resource

    schema = _kind_schema(kind, api_version)
    registry = Resource.from_contents(_definitions()) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def is_kubernetes_kind(kind: str, api_version: str) -> bool | None:
    """Whether Kubernetes (:data:`SCHEMA_VERSION`'s schemas) has ``kind`` in ``api_version``:
    True when a bundled schema names it, spelt exactly so, as a kind of that group version
    (``x-kubernetes-group-version-kind``); False when the group version is Kubernetes' own but
    has no such kind (``kind: Banana`` or ``Daemonset``, or a type that is no kind, ``Affinity``:
    the API server rejects it); None when the group version has no bundled schema at all (a
    custom resource, or an API Kubernetes retired)."""
    schema = _kind_schema(kind, api_version)
    if schema is not None and any(gvk.get("kind") == kind for gvk in schema.get("x-kubernetes-group-version-kind", [])):
        return True
    return False if _schema_file_suffix(api_version) in _bundled_group_versions() else None


def _schema_file_suffix(api_version: str) -> str:
    """``apps/v1`` → ``apps-v1``, ``rbac.authorization.k8s.io/v1`` → ``rbac-v1``, ``v1`` → ``v1``:
    the group's domain dropped, as kubernetes-validate names its files."""
    return re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)


@functools.lru_cache(maxsize=1)
def _bundled_group_versions() -> frozenset[str]:
    """The group versions of the bundled schema files (``daemonset-apps-v1.json`` → ``apps-v1``;
    a kind's name has no ``-``)."""
    return frozenset(f.name.split("-", 1)[1].removesuffix(".json")
                     for f in _schema_folder().glob("*-*.json"))


@functools.lru_cache(maxsize=None)
def _kind_schema(kind: str, api_version: str) -> Any:
    """The schema of documents of ``kind`` and ``api_version`` (``apps/v1`` is in
    ``daemonset-apps-v1.json``, ``rbac.authorization.k8s.io/v1`` in ``…-rbac-v1.json``), or None
    when none is bundled."""
    file = _schema_folder() / f"{kind.lower()}-{_schema_file_suffix(api_version)}.json"
    return json.loads(file.read_bytes()) if file.is_file() else None


@functools.lru_cache(maxsize=1)
def _definitions() -> Any:
    """The definitions every kind's schema refers to (``_definitions.json``, 1.2 MB)."""
    return json.loads((_schema_folder() / "_definitions.json").read_bytes())


@functools.lru_cache(maxsize=1)
def _schema_folder() -> Path:
    """kubernetes-validate's folder of the schemas of :data:`SCHEMA_VERSION`: of the bundled
    versions (``v1.30.0-local``), the newest not newer than it, as its ``validate()`` picks."""
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("No module named 'kubernetes_validate'", name="kubernetes_validate")
    root = Path(next(iter(spec.submodule_search_locations))) / "kubernetes-json-schema"
    wanted = _version_key(SCHEMA_VERSION)
    bundled = {_version_key(m[1]): folder for folder in root.iterdir()
               if (m := re.fullmatch(r"v(\d+\.\d+\.\d+)-local", folder.name))}
    return bundled[max(v for v in bundled if v[:2] <= wanted)]


def _version_key(version: str) -> tuple[int, ...]:
    """``1.30.0`` → (1, 30, 0), to compare versions as numbers."""
    return tuple(int(part) for part in version.split("."))
