"""The parts of a scenario file: the change, its schedule, events, the DNS design, the
baseline's switches and custom APF objects (strict pydantic models: unknown keys are errors).
:class:`waveguard.sim.scenario.Scenario` puts them together."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from waveguard.breakglass.apf_objects import MAX_HASH_BITS
from waveguard.model.apf import APFConfig, FlowSchema, PriorityLevel
from waveguard.model.fleet import Cluster
from waveguard.model.requests import RequestClass, RequestProfile
from waveguard.model.strict_types import Count, Number
from waveguard.model.durations import Seconds
from waveguard.sim.rollback import RollbackRequest, parse_request

#: Every scenario model rejects unknown keys.
STRICT = ConfigDict(extra="forbid")


class _StrictRequestClass(RequestClass):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _StrictProfile(RequestProfile):
    model_config = STRICT
    classes: list[_StrictRequestClass] = Field(default_factory=list)  # type: ignore[assignment]


class _StrictLevel(PriorityLevel):
    """A PriorityLevelConfiguration as kube-apiserver admits it (k8s: pkg/apis/flowcontrol/
    validation/validation.go; v1 admits 0 shares): a negative share count was a traceback in the
    seat arithmetic, a lendable 500 % lent seats the level does not have."""

    model_config = STRICT
    shares: Count = Field(default=30, ge=0)
    lendable_percent: Count = Field(default=0, ge=0, le=100)
    borrowing_limit_percent: Count | None = Field(default=None, ge=0)
    #: 0: limitResponse Reject (no queues: hand_size and queue_length_limit are not read).
    queues: Count = Field(default=64, ge=0)
    hand_size: Count = Field(default=8, ge=0)
    queue_length_limit: Count = Field(default=50, ge=0)

    @model_validator(mode="after")
    def _shuffle_sharding(self) -> "_StrictLevel":
        if self.queues and not (self.hand_size and self.queue_length_limit):
            raise ValueError("a level with queues needs hand_size and queue_length_limit ≥ 1 (queues: 0 rejects "
                             "instead of queuing)")
        if self.queues and self.hand_size > self.queues:
            raise ValueError(f"hand_size {self.hand_size} is more than queues {self.queues}: give at most {self.queues}")
        if self.queues > 1 and math.ceil(math.log2(self.queues) * self.hand_size) > MAX_HASH_BITS:
            raise ValueError(f"queues {self.queues} and hand_size {self.hand_size} need more than {MAX_HASH_BITS} bits "
                             "of entropy (ceil(log2(queues) × hand_size)); lower one of them")
        return self


class _StrictFlowSchema(FlowSchema):
    model_config = STRICT
    #: matchingPrecedence: 1 to 10,000 (validation.go; lower wins).
    precedence: Count = Field(ge=1, le=10_000)


def _unique_names(items: list[Any] | None) -> list[Any] | None:
    """``items`` unchanged. Raises ValueError for a name given twice (the apiserver keeps one object per name)."""
    names = [item.name for item in items or []]
    twice = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if twice is not None:
        raise ValueError(f"{twice!r} is named twice (one object per name)")
    return items


class APFSpec(BaseModel):
    """Custom PriorityLevelConfigurations / FlowSchemas (replace the defaults when given)."""

    model_config = STRICT
    levels: list[_StrictLevel] | None = None
    flow_schemas: list[_StrictFlowSchema] | None = None

    _levels_once = field_validator("levels")(_unique_names)
    _flow_schemas_once = field_validator("flow_schemas")(_unique_names)

    def config(self) -> APFConfig:
        cfg = APFConfig()
        if self.levels is not None:
            cfg = APFConfig(levels=[PriorityLevel(**l.model_dump()) for l in self.levels],
                            flow_schemas=cfg.flow_schemas)
        if self.flow_schemas is not None:
            cfg = APFConfig(levels=cfg.levels,
                            flow_schemas=[FlowSchema(**f.model_dump()) for f in self.flow_schemas])
        return cfg


class ChangeSpec(BaseModel):
    """The change rolled out: rendered manifests (analysed into profiles) or inline profiles."""

    model_config = STRICT
    manifests: list[str] | None = Field(default=None, min_length=1)
    profile: _StrictProfile | list[_StrictProfile] | None = None
    backoff: bool = True
    initial_share: Number = Field(default=0.0, ge=0.0, le=1.0)

    @model_validator(mode="before")
    @classmethod
    def _one_path_to_list(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("manifests"), str):
            data = {**data, "manifests": [data["manifests"]]}
        return data

    @model_validator(mode="after")
    def _exactly_one_source(self) -> "ChangeSpec":
        if (self.manifests is None) == (self.profile is None):
            raise ValueError("give either manifests or profile")
        return self

    def inline_profiles(self) -> list[RequestProfile]:
        given = self.profile if isinstance(self.profile, list) else [self.profile] if self.profile else []
        return [RequestProfile.model_validate(p.model_dump()) for p in given]

    # issue 12: fairness, clients, writes
    #: How the change's REST clients retry 429s: ``client-go`` (Retry-After, up to 10 times),
    #: ``immediate`` (a loop without back-off, forever) or ``none``.
    retry: Literal["client-go", "immediate", "none"] = "client-go"


class ScheduleStep(BaseModel):
    """When the change starts on which clusters. One of cluster / clusters / selector."""

    model_config = STRICT
    cluster: str | None = None
    clusters: list[str] | None = None
    selector: dict[str, str] | None = None
    at_s: Seconds = Field(ge=0)
    stagger_s: Seconds = Field(default=0.0, ge=0)
    share: Number = Field(default=1.0, ge=0.0, le=1.0)
    #: Pods the DaemonSet controller creates per second (default: kube-controller-manager QPS).
    pods_per_s: Number | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_target(self) -> "ScheduleStep":
        given = [k for k in ("cluster", "clusters", "selector") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of cluster, clusters, selector")
        return self


class DNSSpec(BaseModel):
    """``informer``: CoreDNS answers from its watched copy (stale while the API is away).
    ``api_per_answer``: every answer CoreDNS gives needs a request to the control plane."""

    model_config = STRICT
    mode: Literal["informer", "api_per_answer"] = "informer"


class BaselineSpec(BaseModel):
    model_config = STRICT
    backoff: bool = True


class RestartApiserver(BaseModel):
    model_config = STRICT
    cluster: str
    replica: Count = Field(default=0, ge=0)
    # issue 12: read path
    #: Restart every replica of the cluster at once (an upgrade or a control-plane restart):
    #: all come back with cold watch caches, so no informer can re-watch elsewhere.
    all_replicas: bool = False


class ApiserverDown(BaseModel):
    """One apiserver replica down for ``duration_s`` (a node or zone outage: no crash loop)."""

    model_config = STRICT
    cluster: str
    replica: Count = Field(default=0, ge=0)
    duration_s: Seconds = Field(gt=0)


class RollbackEvent(BaseModel):
    """The rollback of the change on one cluster, sent as ``as`` (``breakglass`` | ``controller``
    | ``user``, see :mod:`waveguard.sim.rollback`); ``requests``: ``"VERB RESOURCE"`` strings sent
    one after the other (default: ``kubectl delete -f`` of a DaemonSet change, workload first)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    cluster: str
    identity: Literal["breakglass", "controller", "user"] = Field(default="breakglass", alias="as")
    requests: list[str] | None = Field(default=None, min_length=1)

    @field_validator("requests")
    @classmethod
    def _parse(cls, v: list[str] | None) -> list[str] | None:
        for text in v or []:
            parse_request(text)  # ValueError → a validation error naming the key
        return v

    def parsed_requests(self) -> list[RollbackRequest] | None:
        """The requests as :class:`~waveguard.sim.rollback.RollbackRequest` (None: the default)."""
        return None if self.requests is None else [parse_request(t) for t in self.requests]


class EventSpec(BaseModel):
    """At ``at_s``: restart one apiserver replica, hold one down for a while, or start a rollback."""

    model_config = STRICT
    at_s: Seconds = Field(ge=0)
    restart_apiserver: RestartApiserver | None = None
    apiserver_down: ApiserverDown | None = None
    rollback: RollbackEvent | None = None

    @model_validator(mode="after")
    def _one_action(self) -> "EventSpec":
        given = [k for k in ("restart_apiserver", "apiserver_down", "rollback") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of restart_apiserver, apiserver_down, rollback")
        return self

    @property
    def action(self) -> tuple[str, RestartApiserver | ApiserverDown | RollbackEvent]:
        """(key, target) of the event's one action."""
        if self.restart_apiserver is not None:
            return "restart_apiserver", self.restart_apiserver
        if self.rollback is not None:
            return "rollback", self.rollback
        assert self.apiserver_down is not None
        return "apiserver_down", self.apiserver_down


class InlineFleet(BaseModel):
    model_config = STRICT
    clusters: list[Cluster]


# issue 12: fairness, clients, writes


class CrashLoopSpec(BaseModel):
    """A DaemonSet whose pods crash-loop from ``at_s`` on ``share`` of the nodes of ``clusters``
    (default: every cluster); the kubelets write an Event per restart (sim/clients.py)."""

    model_config = STRICT
    at_s: Number = Field(default=0.0, ge=0)
    share: Number = Field(default=1.0, gt=0.0, le=1.0)
    clusters: list[str] | None = Field(default=None, min_length=1)
