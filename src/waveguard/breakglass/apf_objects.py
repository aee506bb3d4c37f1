"""flowcontrol.apiserver.k8s.io objects (as YAML/JSON dicts) ↔ :mod:`waveguard.model.apf`.

* :func:`read_flowcontrol_documents` — files or folders (multi-document YAML, ``kind: List``,
  ``kubectl get flowschemas,prioritylevelconfigurations -o yaml``) → FlowSchema and
  PriorityLevelConfiguration documents.
* :func:`apf_config_from_manifests` — those objects → an :class:`APFConfig` the simulator and
  the checks classify with, merged with the Kubernetes defaults.
* :func:`translate` — the same plus notes on what was ignored and why.
* :func:`manifest_problems` — the API schema (kubernetes-validate, strict) and the checks the
  apiserver makes beyond it.

The model is simpler than the API, and the translation says where: one model FlowSchema per
(rule × resource rule) of a FlowSchema, all with its name and precedence (so
:meth:`APFConfig.classify` answers with the real name); API groups and namespaces are not
modelled (a rule matches in every namespace: an over-approximation); non-resource rules
(``/healthz``…) are left out, as the model classifies resource requests only; a ``Group``
subject ``*`` becomes user ``*``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from waveguard.analysis.loader import SCHEMA_VERSION, manifest_files, read_documents, schema_problem
from waveguard.analysis.objects import mapping as or_empty
from waveguard.breakglass import policy as P
from waveguard.model.apf import DEFAULT_APF, APFConfig, FlowSchema, PriorityLevel
from waveguard.model.errors import InputError
from waveguard.model.manifests import Document

FLOWCONTROL_KINDS = ("FlowSchema", "PriorityLevelConfiguration")

#: v1 defaulting of omitted fields. k8s: pkg/apis/flowcontrol/v1/defaults.go
#: (nominalConcurrencyShares 30, lendablePercent 0, queues 64, handSize 8, queueLengthLimit 50;
#: matchingPrecedence 1000).
DEFAULT_SHARES = 30
DEFAULT_QUEUING = {"queues": 64, "handSize": 8, "queueLengthLimit": 50}
DEFAULT_MATCHING_PRECEDENCE = 1000
#: The one priority level that may be of type Exempt. k8s: pkg/apis/flowcontrol/types.go
#: (PriorityLevelConfigurationNameExempt).
EXEMPT_LEVEL = "exempt"
#: Shuffle-sharding limit: ceil(log2(queues) × handSize) ≤ 60 bits. k8s:
#: pkg/apis/flowcontrol/validation (shufflesharding.MaxHashBits).
MAX_HASH_BITS = 60

Manifest = dict[str, Any]


@dataclass
class Translation:
    """The :class:`APFConfig` built from manifests, and what was ignored (one sentence each)."""

    apf: APFConfig
    notes: list[str] = field(default_factory=list)
    #: Names of the FlowSchemas / levels that came from the manifests (not the defaults).
    flow_schemas: list[str] = field(default_factory=list)
    levels: list[str] = field(default_factory=list)


def read_flowcontrol_documents(paths: list[str]) -> list[Document]:
    """The FlowSchema / PriorityLevelConfiguration documents under ``paths`` (files or folders),
    with file and line. Other kinds are skipped. Raises :class:`InputError` on unreadable or
    malformed YAML, on a flowcontrol object whose apiVersion waveguard does not read, and when
    ``paths`` hold no object at all (an empty file: ``check`` said "NOT protected", exit 1, of
    the defaults alone, as if the file had been read)."""
    docs: list[Document] = []
    objects = 0
    for f in manifest_files(paths):
        for doc in read_documents(f):
            objects += 1
            if doc.kind not in FLOWCONTROL_KINDS:
                continue
            if doc.api_version not in P.READ_API_VERSIONS:
                raise InputError(doc.location.file, f"{doc.kind} {doc.name!r} has apiVersion {doc.api_version}",
                                 line=doc.location.line, hint=f"use {P.API_VERSION}")
            _check_admissible(doc)
            docs.append(doc)
    if not objects:
        raise InputError(", ".join(paths), "no objects to check: empty, or only comments",
                         hint="give FlowSchemas and levels, or --live")
    return docs


def read_existing_objects(paths: list[str]) -> list[Document]:
    """:func:`read_flowcontrol_documents` of what a cluster already has (``generate
    --existing``). Raises InputError when there is none: a cluster always has the mandatory
    ``exempt`` and ``catch-all`` objects (k8s bootstrap/default.go), so such a file is not the
    cluster's objects."""
    docs = read_flowcontrol_documents(paths)
    if not docs:
        raise InputError(", ".join(paths), "no FlowSchema or PriorityLevelConfiguration: not a cluster's",
                         hint="kubectl get flowschemas,prioritylevelconfigurations -o yaml")
    return docs


def _check_admissible(doc: Document) -> None:
    """Raises InputError (file, line) when kube-apiserver would refuse ``doc``: an object that
    cannot be applied protects nothing, so reading it as applied (a FlowSchema at precedence -5
    winning over every default, a second Exempt level) would call an unprotected path protected.
    Malformed structure first, with its own hint; then the apiserver's own rules."""
    body, source, line = _unpack(doc)
    if doc.kind == "PriorityLevelConfiguration":
        priority_level_from_manifest(body, source=source, line=line)
    else:
        flow_schemas_from_manifest(body, source=source, line=line)
    problems = apiserver_problems(body)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InputError(source, f"{doc.kind} {doc.name}: kube-apiserver refuses it: {problems[0]}{more}", line=line,
                         hint="fix it; kubectl apply --dry-run=server -f FILE lists every problem")


def apf_config_from_manifests(docs: Iterable[Manifest | Document], *, merge_defaults: bool = True) -> APFConfig:
    """An :class:`APFConfig` from FlowSchema / PriorityLevelConfiguration objects.

    ``docs`` are dicts as in YAML/JSON (or loader Documents); other kinds are skipped. With
    ``merge_defaults`` the result starts from :data:`waveguard.model.apf.DEFAULT_APF` and an
    object replaces the default of the same name (a live cluster's list already holds the
    defaults: pass ``merge_defaults=False`` there). The mandatory ``exempt`` and ``catch-all``
    objects keep their default spec, as kube-apiserver restores it. A FlowSchema whose level
    does not exist is dropped (kube-apiserver ignores it as dangling). Raises
    :class:`InputError` on a malformed object (source and line when known)."""
    return translate(docs, merge_defaults=merge_defaults).apf


def translate(docs: Iterable[Manifest | Document], *, merge_defaults: bool = True) -> Translation:
    """As :func:`apf_config_from_manifests`, with notes on what was ignored."""
    notes: list[str] = []
    levels: dict[str, PriorityLevel] = {}
    schemas: dict[str, list[FlowSchema]] = {}
    for item in docs:
        body, source, line = _unpack(item)
        kind = body.get("kind")
        if kind not in FLOWCONTROL_KINDS:
            continue
        name = _name(body, source, line)
        if name in P.MANDATORY_NAMES and merge_defaults:
            notes.append(f"{kind} {name} is mandatory: kube-apiserver keeps its built-in spec, so the manifest's "
                         "is ignored")
            continue
        if kind == "PriorityLevelConfiguration":
            levels[name] = priority_level_from_manifest(body, source=source, line=line)
        else:
            schemas[name] = flow_schemas_from_manifest(body, source=source, line=line)
    base_levels = list(DEFAULT_APF.levels) if merge_defaults else []
    base_schemas = list(DEFAULT_APF.flow_schemas) if merge_defaults else []
    all_levels = [lvl for lvl in base_levels if lvl.name not in levels] + list(levels.values())
    level_names = {lvl.name for lvl in all_levels}
    kept: list[FlowSchema] = [fs for fs in base_schemas if fs.name not in schemas]
    for name, parts in schemas.items():
        if parts and parts[0].priority_level not in level_names:
            notes.append(f"FlowSchema {name} refers to PriorityLevelConfiguration {parts[0].priority_level!r}, "
                         "which does not exist: kube-apiserver ignores it (dangling)")
            continue
        kept.extend(parts)
    return Translation(apf=APFConfig(levels=all_levels, flow_schemas=kept), notes=notes,
                       flow_schemas=[n for n in schemas if any(fs.name == n for fs in kept)], levels=list(levels))


def priority_level_from_manifest(body: Manifest, *, source: str = "<manifest>", line: int | None = None
                                 ) -> PriorityLevel:
    """A PriorityLevelConfiguration → :class:`PriorityLevel` (v1 defaults for omitted fields;
    ``limitResponse: Reject`` → ``queues = 0``). Raises :class:`InputError` when malformed."""
    name = _name(body, source, line)
    spec = _mapping(body.get("spec"), f"PriorityLevelConfiguration {name}: spec", source, line)
    kind = spec.get("type")
    if kind == "Exempt":
        exempt = or_empty(spec.get("exempt"))
        return PriorityLevel(name=name, exempt=True, shares=_int(exempt.get("nominalConcurrencyShares", 0), name, source, line),
                             lendable_percent=_int(exempt.get("lendablePercent", 0), name, source, line))
    if kind != "Limited":
        raise InputError(source, f"PriorityLevelConfiguration {name}: spec.type must be Limited or Exempt, "
                         f"got {kind!r}", line=line, hint="fix spec.type")
    limited = _mapping(spec.get("limited"), f"PriorityLevelConfiguration {name}: spec.limited", source, line)
    shares = limited.get("nominalConcurrencyShares", limited.get("assuredConcurrencyShares", DEFAULT_SHARES))
    borrowing = limited.get("borrowingLimitPercent")
    response = or_empty(limited.get("limitResponse"))
    if response.get("type", "Queue") == "Reject":
        queues = hand = length = 0
    else:
        queuing = {**DEFAULT_QUEUING, **or_empty(response.get("queuing"))}
        queues, hand, length = (_int(queuing[k], name, source, line) for k in ("queues", "handSize", "queueLengthLimit"))
    return PriorityLevel(
        name=name, exempt=False, shares=_int(shares, name, source, line),
        lendable_percent=_int(limited.get("lendablePercent", 0), name, source, line),
        borrowing_limit_percent=None if borrowing is None else _int(borrowing, name, source, line),
        queues=queues, hand_size=hand, queue_length_limit=length,
    )


def flow_schemas_from_manifest(body: Manifest, *, source: str = "<manifest>", line: int | None = None
                               ) -> list[FlowSchema]:
    """A FlowSchema → model FlowSchemas, one per (rule × resource rule), all with its name,
    precedence and level (non-resource rules are not modelled). A FlowSchema that yields none
    is kept as one that matches nothing. Raises :class:`InputError` when malformed."""
    name = _name(body, source, line)
    spec = _mapping(body.get("spec"), f"FlowSchema {name}: spec", source, line)
    level_ref = spec.get("priorityLevelConfiguration")
    level = level_ref.get("name") if isinstance(level_ref, dict) else None
    if not isinstance(level, str) or not level:
        raise InputError(source, f"FlowSchema {name}: spec.priorityLevelConfiguration.name is missing", line=line,
                         hint="name the PriorityLevelConfiguration the FlowSchema routes to")
    precedence = _int(_precedence(spec), name, source, line)
    dm = spec.get("distinguisherMethod")
    distinguisher = dm.get("type", "None") if isinstance(dm, dict) else "None"
    if distinguisher not in ("ByUser", "ByNamespace"):
        distinguisher = "None"
    out: list[FlowSchema] = []
    for rule in spec.get("rules") or []:
        if not isinstance(rule, dict):
            raise InputError(source, f"FlowSchema {name}: a rule is not a mapping", line=line, hint="fix spec.rules")
        users, groups, sas = _subjects(rule.get("subjects") or [], name, source, line)
        if not (users or groups or sas):
            continue
        matchers: list[tuple[list[str], list[str]]] = []
        for rr in rule.get("resourceRules") or []:
            if isinstance(rr, dict):
                matchers.append(([str(v) for v in rr.get("verbs") or []], [str(r) for r in rr.get("resources") or []]))
        for verbs, resources in matchers:
            if verbs and resources:
                out.append(FlowSchema(name=name, precedence=precedence, priority_level=level, users=users,
                                      groups=groups, service_accounts=sas, resources=resources, verbs=verbs,
                                      distinguisher=distinguisher))
    if not out:  # keep the name visible (it exists, but matches nothing)
        out.append(FlowSchema(name=name, precedence=precedence, priority_level=level, resources=[], verbs=[]))
    return out


def _subjects(raw: Any, name: str, source: str, line: int | None
              ) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    users: list[str] = []
    groups: list[str] = []
    sas: list[tuple[str, str]] = []
    if not isinstance(raw, list):
        raise InputError(source, f"FlowSchema {name}: subjects is not a list", line=line, hint="fix spec.rules[].subjects")
    for s in raw:
        kind = s.get("kind") if isinstance(s, dict) else None
        if kind == "User" and isinstance(s.get("user"), dict):
            users.append(str(s["user"].get("name", "")))
        elif kind == "Group" and isinstance(s.get("group"), dict):
            g = str(s["group"].get("name", ""))
            (users if g == "*" else groups).append(g)
        elif kind == "ServiceAccount" and isinstance(s.get("serviceAccount"), dict):
            sa = s["serviceAccount"]
            sas.append((str(sa.get("namespace", "")), str(sa.get("name", ""))))
        else:
            raise InputError(source, f"FlowSchema {name}: subject {s!r} is not a User, Group or ServiceAccount "
                             "with its matching field", line=line, hint="e.g. {kind: Group, group: {name: NAME}}")
    return users, groups, sas


def manifest_problems(body: Manifest) -> list[str]:
    """Why kube-apiserver would refuse ``body`` (a FlowSchema or PriorityLevelConfiguration):
    the JSON schema of Kubernetes :data:`SCHEMA_VERSION` (kubernetes-validate, via the
    loader's :func:`schema_problem` and again in strict mode for unknown fields), then the
    apiserver's own validation rules the schema cannot express (k8s:
    pkg/apis/flowcontrol/validation/validation.go). Empty when it is valid."""
    import kubernetes_validate  # here: it imports jsonschema, ~35 ms that analyse's start-up need not pay

    problems: list[str] = []
    problem = schema_problem(body)
    if problem:
        problems.append(problem)
    try:
        kubernetes_validate.validate(body, SCHEMA_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(p) for p in exc.path) or "(top level)"
        problems.append(f"{where}: {exc.message[:160]}")
    except kubernetes_validate.SchemaNotFoundError as exc:
        problems.append(exc.message)
    return problems + apiserver_problems(body)


def apiserver_problems(body: Manifest) -> list[str]:
    """Why kube-apiserver's own validation (k8s: pkg/apis/flowcontrol/validation/validation.go)
    would refuse a FlowSchema or PriorityLevelConfiguration whose fields have the schema's types;
    empty when it would not."""
    name = or_empty(body.get("metadata")).get("name", "")
    problems = [] if isinstance(name, str) and P.is_dns_subdomain(name) else [
        f"metadata.name: {name!r} is not a DNS subdomain"]
    spec = or_empty(body.get("spec"))
    if body.get("kind") == "FlowSchema":
        problems += _flow_schema_problems(spec)
    elif body.get("kind") == "PriorityLevelConfiguration":
        problems += _level_problems(spec, name)
    return problems


def _flow_schema_problems(spec: dict) -> list[str]:
    problems = []
    lo, hi = P.PRECEDENCE_RANGE
    prec = _precedence(spec)
    if not isinstance(prec, int) or not lo <= prec <= hi:
        problems.append(f"spec.matchingPrecedence: {prec!r} is not in [{lo}, {hi}]")
    for i, rule in enumerate(r for r in spec.get("rules") or [] if isinstance(r, dict)):
        if not rule.get("subjects"):
            problems.append(f"spec.rules.{i}.subjects: must not be empty")
        if not rule.get("resourceRules") and not rule.get("nonResourceRules"):
            problems.append(f"spec.rules.{i}: needs resourceRules or nonResourceRules")
        for j, s in enumerate(x for x in rule.get("subjects") or [] if isinstance(x, dict)):
            field_name = {"User": "user", "Group": "group", "ServiceAccount": "serviceAccount"}.get(str(s.get("kind")))
            value = s.get(field_name) if field_name else None
            if not isinstance(value, dict) or not value.get("name"):
                problems.append(f"spec.rules.{i}.subjects.{j}: kind {s.get('kind')!r} needs {field_name or 'a valid kind'}"
                                ".name")
            elif field_name == "serviceAccount" and not value.get("namespace"):
                problems.append(f"spec.rules.{i}.subjects.{j}.serviceAccount.namespace: required")
        for j, rr in enumerate(x for x in rule.get("resourceRules") or [] if isinstance(x, dict)):
            for key in ("verbs", "apiGroups", "resources"):
                if not rr.get(key):
                    problems.append(f"spec.rules.{i}.resourceRules.{j}.{key}: must not be empty")
            if not rr.get("namespaces") and not rr.get("clusterScope"):
                problems.append(f"spec.rules.{i}.resourceRules.{j}: needs namespaces or clusterScope")
        for j, nr in enumerate(x for x in rule.get("nonResourceRules") or [] if isinstance(x, dict)):
            for key in ("verbs", "nonResourceURLs"):
                if not nr.get(key):
                    problems.append(f"spec.rules.{i}.nonResourceRules.{j}.{key}: must not be empty")
    return problems


def _level_problems(spec: dict, name: Any = "") -> list[str]:
    if (name == EXEMPT_LEVEL) != (spec.get("type") == "Exempt"):  # validation.go: the one exempt level
        return [f"spec.type: {spec.get('type')!r}: type must be 'Exempt' if and only if name is 'exempt'"]
    problems = []
    if spec.get("type") == "Exempt":
        return ["spec.limited: must be absent for type Exempt"] if spec.get("limited") else []
    limited = spec.get("limited") if isinstance(spec.get("limited"), dict) else None
    if spec.get("type") != "Limited" or limited is None:
        return ["spec: type Limited needs spec.limited"]
    shares = limited.get("nominalConcurrencyShares", DEFAULT_SHARES)
    if not isinstance(shares, int) or shares < 0:
        problems.append("spec.limited.nominalConcurrencyShares: must be ≥ 0")
    lendable = limited.get("lendablePercent", 0)
    if not isinstance(lendable, int) or not 0 <= lendable <= 100:
        problems.append("spec.limited.lendablePercent: must be in [0, 100]")
    borrowing = limited.get("borrowingLimitPercent")
    if borrowing is not None and (not isinstance(borrowing, int) or borrowing < 0):
        problems.append("spec.limited.borrowingLimitPercent: must be ≥ 0")
    response = limited.get("limitResponse") or {}
    if response.get("type") == "Queue":
        q = response.get("queuing") or {}
        queues = q.get("queues", DEFAULT_QUEUING["queues"])
        hand = q.get("handSize", DEFAULT_QUEUING["handSize"])
        length = q.get("queueLengthLimit", DEFAULT_QUEUING["queueLengthLimit"])
        if not all(isinstance(v, int) and v > 0 for v in (queues, hand, length)):
            problems.append("spec.limited.limitResponse.queuing: queues, handSize, queueLengthLimit must be > 0")
        elif hand > queues:
            problems.append("spec.limited.limitResponse.queuing.handSize: must be ≤ queues")
        elif queues > 1 and math.ceil(math.log2(queues) * hand) > MAX_HASH_BITS:
            problems.append(f"spec.limited.limitResponse.queuing: queues^handSize needs more than {MAX_HASH_BITS} "
                            "bits of entropy")
    elif response.get("type") == "Reject":
        if response.get("queuing"):
            problems.append("spec.limited.limitResponse.queuing: must be absent for type Reject")
    else:
        problems.append("spec.limited.limitResponse.type: must be Queue or Reject")
    return problems


def _precedence(spec: dict) -> Any:
    """The matchingPrecedence kube-apiserver stores: an omitted or 0 one is defaulted to
    :data:`DEFAULT_MATCHING_PRECEDENCE` (k8s: pkg/apis/flowcontrol/v1/defaults.go,
    SetDefaults_FlowSchemaSpec), so a FlowSchema written with 0 does not win over every default."""
    prec = spec.get("matchingPrecedence", DEFAULT_MATCHING_PRECEDENCE)
    return DEFAULT_MATCHING_PRECEDENCE if prec == 0 and not isinstance(prec, bool) else prec


def _unpack(item: Manifest | Document) -> tuple[dict, str, int | None]:
    if isinstance(item, Document):
        return item.body, item.location.file, item.location.line
    if not isinstance(item, dict):
        raise InputError("<manifest>", f"expected a Kubernetes object, got {type(item).__name__}")
    return item, "<manifest>", None


def _name(body: dict, source: str, line: int | None) -> str:
    meta = or_empty(body.get("metadata"))
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise InputError(source, f"{body.get('kind')} has no metadata.name", line=line, hint="name the object")
    return name


def _mapping(value: Any, what: str, source: str, line: int | None) -> dict:
    if not isinstance(value, dict):
        raise InputError(source, f"{what} is missing or not a mapping", line=line, hint="fix the object's spec")
    return value


def _int(value: Any, name: str, source: str, line: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(source, f"{name}: {value!r} is not an integer", line=line, hint="fix the number")
    return value
