"""JSON Schemas of waveguard's files and documents, generated from the pydantic models
(``waveguard schema NAME``; docs/schemas.md links them).

Inputs (what waveguard reads): ``fleet`` (:class:`~waveguard.model.fleet.Fleet`), ``plan``
(:class:`~waveguard.rollout.plan.Plan`), ``backend`` (the ``--backend-config`` file:
:class:`BackendFile`), ``scenario`` (:class:`~waveguard.sim.scenario.Scenario`). Outputs (what
it prints with ``-o json``): ``analysis`` (:class:`AnalysisDocument`, ``waveguard analyse``),
``events`` (:class:`RolloutEventDocument`, one line of ``waveguard rollout start|resume -o
json``), ``status`` (:class:`RolloutStatusDocument`, ``rollout status -o json``) and ``view``
(the ``RolloutView`` of ``rollout status --watch -o json`` and the dashboard). Every output carries ``apiVersion``/``kind``; a plan may.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from waveguard.model.apiversion import API_VERSION
from waveguard.model.findings import Finding
from waveguard.rollout.events import ClusterStatus, EventKind, RolloutStatus
from waveguard.rollout.k8s_client import KubernetesConfig
from waveguard.signals.prometheus_config import DNSConfig, PrometheusConfig

#: Where the schemas say they live ($id); docs/schemas.md holds the same text.
SCHEMA_BASE = "https://waveguard.io/schemas/v1alpha1"


class BackendFile(BaseModel):
    """The ``--backend-config`` file of ``waveguard rollout start`` (README: Real clusters)."""

    model_config = ConfigDict(extra="forbid")

    prometheus: PrometheusConfig | None = None
    dns: DNSConfig | None = None
    kubernetes: KubernetesConfig | None = None


class _Versioned(BaseModel):
    apiVersion: Literal["waveguard.io/v1alpha1"] = "waveguard.io/v1alpha1"  # noqa: N815 (the key); = API_VERSION


class RequestDoc(BaseModel):
    """One request class of an agent: what it sends, how often (requests/s)."""

    verb: str
    resource: str
    api_group: str
    scope: str
    trigger: str
    rate_per_s: float
    resource_version: str | None = None
    limit: int | None = None
    leader_only: bool = False
    component: str | None = None
    config_key: str | None = None


class AgentDoc(BaseModel):
    """An agent found in the change and its requests."""

    workload: str
    agent: str
    per_node: bool
    replicas: int | None
    scaling: str
    upper_bound: bool
    evidence: Any
    requests: list[RequestDoc]


class WorkloadLoadDoc(BaseModel):
    """One workload's load on one cluster's control plane (utilisations are shares of 1;
    seat-seconds per second; bytes; seconds)."""

    model_config = ConfigDict(extra="allow")

    workload: str
    verdict: str
    priority_level: str
    replicas: int
    level_utilisation: float
    server_utilisation: float
    steady_seat_seconds_per_s: float
    storm_seat_seconds: float
    storm_drain_s: float
    storm_bytes: float
    storm_peak_memory_bytes: float
    reasons: list[str]


class ProjectionDoc(BaseModel):
    """The change on one cluster: verdict, utilisation (share of 1), memory share, etcd member
    memory (share of one member's), scaling."""

    model_config = ConfigDict(extra="allow")

    cluster: str
    nodes: int
    verdict: str
    utilisation: float
    memory_share: float
    etcd_memory_fraction: float = Field(description="one etcd member's memory while the change's LISTs from etcd "
                                                    "peak, over its own (1: OOM-kill)")
    etcd_utilisation: float = Field(description="the share of the cluster's etcd read throughput the change's "
                                                "LISTs from etcd need over a client timeout (1: they time out)")
    memory_share_added: float = Field(description="the change's part of memory_share: the apiserver's memory "
                                                  "without the change (process, watch cache) left out")
    etcd_memory_fraction_added: float = Field(description="the change's part of etcd_memory_fraction: an idle "
                                                          "member's memory left out")
    scaling: Any
    reasons: list[str]
    workloads: list[WorkloadLoadDoc]


class AnalysisDocument(_Versioned):
    """``waveguard analyse -o json``."""

    kind: Literal["Analysis"] = "Analysis"
    version: str = Field(description="waveguard's version")
    documents: int
    findings: list[Finding]
    projections: list[ProjectionDoc]
    agents: list[AgentDoc]


class RolloutEventDocument(_Versioned):
    """One line of ``waveguard rollout start|resume -o json``: the event's kind, its rollout
    time ``t`` (seconds since start), wall-clock ``time`` (RFC 3339 UTC; null where the state
    file does not know it), wave and cluster (null: the rollout as a whole), and the payload's
    keys beside them (docs/rollout.md lists them per event)."""

    model_config = ConfigDict(extra="allow")

    kind: Literal["RolloutEvent"] = "RolloutEvent"
    event: EventKind
    seq: int = Field(ge=1, description="The event's number in the state file, from 1, without gaps. "
                     "`rollout start` streams from 2: event 1 is `started`, written before the stream "
                     "opens (it holds the plan, fleet and manifests the rollout runs: tens of kB, kept in the "
                     "state file, not streamed); "
                     "`resume` streams from the first event after those already in the file.")
    t: float
    time: str | None = Field(description="RFC 3339, UTC", json_schema_extra={"format": "date-time"})
    wave: int | None
    cluster: str | None


class _Document(_Versioned):
    """A document waveguard prints whose keys are all known (an unknown one is drift: refused)."""

    model_config = ConfigDict(extra="forbid")


class RolloutStatusDocument(_Document):
    """``waveguard rollout status -o json|yaml``: where the rollout stands (rollout time ``t`` in
    seconds since start; ``shares``: cluster → node share running the change, 0..1)."""

    kind: Literal["RolloutStatus"] = "RolloutStatus"
    status: RolloutStatus
    t: float
    wave: int = Field(ge=0, description="the wave in progress (or next)")
    halt: dict[str, Any] | None = Field(description="the halted event's payload, with t and wave")
    pause_reason: str | None
    shares: dict[str, float]
    clusters: dict[str, ClusterStatus]
    rollback_pending: dict[str, str] = Field(description="cluster → why its rollback has not got through yet")
    engine: str | None = Field(description="who drives the rollout (PID N on HOST since …); null: no engine")


def _view_document() -> type[BaseModel]:
    """``waveguard rollout status --watch -o json`` (one line per refresh) and the dashboard's
    JSON: :class:`~waveguard.rollout.view.RolloutView`'s fields, with ``apiVersion``/``kind``;
    built from the dataclass, so the schema follows it."""
    import dataclasses
    from typing import get_type_hints

    from pydantic import create_model

    from waveguard.rollout.view import RolloutView

    hints = get_type_hints(RolloutView)
    fields: dict[str, Any] = {f.name: (hints[f.name], ...) for f in dataclasses.fields(RolloutView)}
    return create_model("RolloutViewDocument", __base__=_ViewDocument, __doc__=_view_document.__doc__, **fields)


class _ViewDocument(_Document):
    kind: Literal["RolloutView"] = "RolloutView"


def _model(name: str) -> type[BaseModel]:
    """The model of ``name``, imported only then (the scenario's needs the simulator's extra)."""
    if name == "fleet":
        from waveguard.model.fleet import Fleet

        return Fleet
    if name == "plan":
        from waveguard.rollout.plan import Plan

        return Plan
    if name == "scenario":
        from waveguard.sim.scenario import Scenario

        return Scenario
    if name == "view":
        return _view_document()
    models: dict[str, type[BaseModel]] = {"backend": BackendFile, "events": RolloutEventDocument,
                                          "analysis": AnalysisDocument, "status": RolloutStatusDocument}
    return models[name]


#: The names ``waveguard schema`` takes.
SCHEMA_NAMES = ("fleet", "plan", "backend", "scenario", "events", "analysis", "status", "view")


_PATHS = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}


def _shorthands(name: str, schema: dict[str, Any]) -> None:
    """What the models' before-validators also accept, which pydantic's schema cannot see:
    ``change: PATH`` and ``manifests: PATH`` in scenarios, one context for ``rollback_contexts``,
    the registered gate kinds, and a plan's ``apiVersion``/``kind``."""
    defs = schema.get("$defs", {})
    if name == "scenario":
        schema["properties"]["change"]["anyOf"] += _PATHS["anyOf"]
        defs["ChangeSpec"]["properties"]["manifests"]["anyOf"].insert(0, {"type": "string"})
    if name == "backend":
        defs["KubernetesConfig"]["properties"]["rollback_contexts"]["additionalProperties"] = _PATHS
    if name == "plan":
        from waveguard.rollout.gates.registry import GATES

        defs["GateSpec"]["properties"]["kind"] = {"enum": sorted(GATES), "type": "string"}
        schema["properties"] = {"apiVersion": {"const": API_VERSION}, "kind": {"const": "Plan"},
                                **schema["properties"]}


#: pydantic's names of numeric bounds → JSON Schema's. A field whose type has a before-validator
#: (``strict_types.Number``/``Count``: never a boolean) gets its ``Field(ge=…)`` written under
#: pydantic's name, which no JSON Schema validator reads: the published bound would be lost.
_BOUNDS = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum"}


def _bounds_as_json_schema(node: Any) -> None:
    """Rename pydantic's bound keys in every numeric schema under ``node``, in place."""
    if isinstance(node, dict):
        if node.get("type") in ("number", "integer"):
            for ours, theirs in _BOUNDS.items():
                if ours in node:
                    node[theirs] = node.pop(ours)
        for value in node.values():
            _bounds_as_json_schema(value)
    elif isinstance(node, list):
        for value in node:
            _bounds_as_json_schema(value)


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``name`` (one of :data:`SCHEMA_NAMES`), as input
    files are validated (``mode="validation"``). Raises KeyError for another name."""
    model = _model(name)
    schema = model.model_json_schema(mode="validation")
    _bounds_as_json_schema(schema)
    _shorthands(name, schema)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"{SCHEMA_BASE}/{name}.json",
            **schema}
