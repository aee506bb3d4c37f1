"""API Priority and Fairness: priority levels, FlowSchemas, nominal and per-request max seats.

The defaults mirror kubernetes ``staging/src/k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap/
default.go`` (flowcontrol.apiserver.k8s.io/v1, Kubernetes ≥ 1.29) as summarised in
``domain.md §2``. Custom objects (break-glass isolation) use the same classes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from functools import cached_property

from pydantic import BaseModel, Field

from waveguard.model import constants as C
from waveguard.model.defaults import empty_list
from waveguard.model.fleet import Cluster
from waveguard.model.versions import features_for


class PriorityLevel(BaseModel):
    """A PriorityLevelConfiguration (limited or exempt).

    ``shares`` is nominalConcurrencyShares; ``lendable_percent`` the share of nominal seats other
    levels may borrow; ``queues``/``hand_size``/``queue_length_limit`` the queuing config
    (``queues == 0`` means limitResponse Reject).
    """

    name: str
    exempt: bool = False
    shares: int = 30
    lendable_percent: int = 0
    borrowing_limit_percent: int | None = None
    queues: int = 64
    hand_size: int = 8
    queue_length_limit: int = 50

    @property
    def rejects_when_full(self) -> bool:
        return self.queues == 0

    @property
    def max_queued_per_flow(self) -> int:
        """Requests one flow can have queued before 429: handSize × queueLengthLimit."""
        return 0 if self.rejects_when_full else self.hand_size * self.queue_length_limit


class Subject(BaseModel):
    """Who sends a request, as FlowSchemas see it."""

    user: str
    groups: list[str] = Field(default_factory=empty_list)

    @classmethod
    def service_account(cls, namespace: str, name: str) -> "Subject":
        return cls(
            user=f"system:serviceaccount:{namespace}:{name}",
            groups=["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"],
        )


class FlowSchema(BaseModel):
    """A simplified FlowSchema: subjects (users, groups, ServiceAccounts by namespace/name) and
    optionally the resources/verbs it matches. Lower ``precedence`` wins."""

    name: str
    precedence: int
    priority_level: str
    users: list[str] = Field(default_factory=empty_list)
    groups: list[str] = Field(default_factory=empty_list)
    service_accounts: list[tuple[str, str]] = Field(default_factory=empty_list)  # (namespace, name|"*")
    resources: list[str] = Field(default_factory=lambda: ["*"])
    verbs: list[str] = Field(default_factory=lambda: ["*"])
    distinguisher: Literal["ByUser", "ByNamespace", "None"] = "ByUser"

    def matches(self, subject: Subject, verb: str = "*", resource: str = "*") -> bool:
        if not self._matches_subject(subject):
            return False
        verb_ok = "*" in self.verbs or verb in self.verbs or verb == "*"
        res_ok = "*" in self.resources or resource in self.resources or resource == "*"
        return verb_ok and res_ok

    def _matches_subject(self, subject: Subject) -> bool:
        if "*" in self.users or subject.user in self.users:
            return True
        if any(g in subject.groups for g in self.groups):
            return True
        for ns, name in self.service_accounts:
            prefix = f"system:serviceaccount:{ns}:"
            if subject.user.startswith(prefix) and (name == "*" or subject.user == prefix + name):
                return True
        return False


#: Default priority levels. k8s: bootstrap/default.go; domain.md §2 (shares; queues/handSize/
#: queueLengthLimit); lendablePercent from default.go (system 33, node-high 25, workload-high 50,
#: workload-low 90, global-default 50, leader-election 0, catch-all 0).
DEFAULT_PRIORITY_LEVELS: tuple[PriorityLevel, ...] = (
    PriorityLevel(name="exempt", exempt=True, shares=0),
    PriorityLevel(name="system", shares=30, lendable_percent=33, queues=64, hand_size=6, queue_length_limit=50),
    PriorityLevel(name="node-high", shares=40, lendable_percent=25, queues=64, hand_size=6, queue_length_limit=50),
    PriorityLevel(name="leader-election", shares=10, lendable_percent=0, queues=16, hand_size=4, queue_length_limit=50),
    PriorityLevel(name="workload-high", shares=40, lendable_percent=50, queues=128, hand_size=6, queue_length_limit=50),
    PriorityLevel(name="workload-low", shares=100, lendable_percent=90, queues=128, hand_size=6, queue_length_limit=50),
    PriorityLevel(name="global-default", shares=20, lendable_percent=50, queues=128, hand_size=6, queue_length_limit=50),
    PriorityLevel(name="catch-all", shares=5, lendable_percent=0, queues=0, hand_size=0, queue_length_limit=0),
)

#: Default FlowSchemas, by precedence. k8s: bootstrap/default.go; domain.md §2. Distinguishers as
#: there (1.20–1.35): ByNamespace for kube-controller-manager, kube-scheduler and
#: kube-system-service-accounts (every ServiceAccount of kube-system shares one flow per request
#: namespace), none for exempt, ByUser for the rest. ``probes``
#: (precedence 2: /healthz, /readyz, /livez → exempt) is left out: it matches only
#: non-resource URLs, which this model does not cost.
DEFAULT_FLOW_SCHEMAS: tuple[FlowSchema, ...] = (
    FlowSchema(name="exempt", precedence=1, priority_level="exempt", groups=["system:masters"], distinguisher="None"),
    FlowSchema(
        name="system-leader-election", precedence=100, priority_level="leader-election",
        users=["system:kube-controller-manager", "system:kube-scheduler"],
        service_accounts=[("kube-system", "*")], resources=["leases"], verbs=["get", "create", "update"],
    ),
    FlowSchema(
        name="endpoint-controller", precedence=150, priority_level="workload-high",
        users=["system:kube-controller-manager"], service_accounts=[("kube-system", "endpoint-controller")],
        resources=["endpoints"], verbs=["get", "create", "update"],
    ),
    FlowSchema(
        name="workload-leader-election", precedence=200, priority_level="leader-election",
        service_accounts=[("kube-system", "*")], resources=["leases"], verbs=["get", "create", "update"],
    ),
    FlowSchema(
        name="system-node-high", precedence=400, priority_level="node-high", groups=["system:nodes"],
        resources=["nodes", "nodes/status", "leases"],
    ),
    FlowSchema(name="system-nodes", precedence=500, priority_level="system", groups=["system:nodes"]),
    FlowSchema(name="kube-controller-manager", precedence=800, priority_level="workload-high",
               users=["system:kube-controller-manager"], distinguisher="ByNamespace"),
    FlowSchema(name="kube-scheduler", precedence=800, priority_level="workload-high", users=["system:kube-scheduler"],
               distinguisher="ByNamespace"),
    FlowSchema(name="kube-system-service-accounts", precedence=900, priority_level="workload-high",
               service_accounts=[("kube-system", "*")], distinguisher="ByNamespace"),
    FlowSchema(name="service-accounts", precedence=9000, priority_level="workload-low",
               groups=["system:serviceaccounts"]),
    FlowSchema(name="global-default", precedence=9900, priority_level="global-default",
               groups=["system:authenticated", "system:unauthenticated"]),
    FlowSchema(name="catch-all", precedence=10000, priority_level="catch-all", users=["*"]),
)


class APFConfig(BaseModel):
    """The priority levels and FlowSchemas of one apiserver (defaults unless given)."""

    levels: list[PriorityLevel] = Field(default_factory=lambda: list(DEFAULT_PRIORITY_LEVELS))
    flow_schemas: list[FlowSchema] = Field(default_factory=lambda: list(DEFAULT_FLOW_SCHEMAS))
    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> "APFConfig":
        copy = super().model_copy(update=update, deep=deep)
        copy.__dict__.pop("_memo", None)  # figures of the original's levels and FlowSchemas
        return copy

    @cached_property
    def _memo(self) -> dict:
        # Derived figures, asked for once per cluster × workload by projections (a cached
        # property lives in __dict__: cheap to reach). Treat an APFConfig as immutable.
        return {}

    def _memoised(self, key: tuple, compute):
        memo = self._memo
        if key not in memo:
            memo[key] = compute()
        return memo[key]

    def level(self, name: str) -> PriorityLevel:
        for lvl in self.levels:
            if lvl.name == name:
                return lvl
        raise KeyError(f"no PriorityLevelConfiguration named {name!r}")

    def classify(self, subject: Subject, verb: str = "*", resource: str = "*") -> FlowSchema:
        """The FlowSchema a request lands in: the matching one with the lowest precedence
        (ties broken by name, as kube-apiserver does). Raises LookupError when none matches."""
        return self._memoised(("classify", subject.user, tuple(subject.groups), verb, resource),
                              lambda: self._classify(subject, verb, resource))

    def _classify(self, subject: Subject, verb: str, resource: str) -> FlowSchema:
        for fs in sorted(self.flow_schemas, key=lambda f: (f.precedence, f.name)):
            if fs.matches(subject, verb, resource):
                return fs
        raise LookupError(f"no FlowSchema matches {subject.user}")

    def nominal_seats(self, server_seats: int = C.SEATS_PER_REPLICA) -> dict[str, int]:
        """Nominal seats per limited level: ceil(server_seats × shares / Σ shares).

        k8s: apf_controller.go; domain.md §2. Exempt levels get 0 here (unlimited)."""
        return dict(self._memoised(("nominal", server_seats), lambda: self._nominal_seats(server_seats)))

    def _nominal_seats(self, server_seats: int) -> dict[str, int]:
        total = sum(l.shares for l in self.levels if not l.exempt)
        return {
            l.name: 0 if l.exempt else math.ceil(server_seats * l.shares / total) for l in self.levels
        }

    def max_seats_per_request(self, level: str, server_seats: int = C.SEATS_PER_REPLICA,
                              list_cap: int = C.APF_MAX_SEATS_LIMIT) -> int:
        """Seats one LIST of ``level`` may take on a ``server_seats``-seat apiserver: the level's
        max seats, max(1, min(ceil(0.15 × nominal), nominal // handSize)) (k8s: apf_controller.go
        ``finishQueueSetReconfigsLocked`` → ``MaxSeatsTracker.SetMaxSeats``, queuing levels only:
        an exempt or Reject level sets none), within the estimator's ``list_cap``
        (:func:`list_seats_limit`; list_work_estimator.go ``MaximumListSeatsLimit``)."""
        lvl = self.level(level)
        nominal = self.nominal_seats(server_seats)[level]
        if nominal == 0 or lvl.rejects_when_full:
            return list_cap
        own = min(math.ceil(C.APF_MAX_SEATS_FRACTION * nominal), nominal // max(1, lvl.hand_size))
        return max(1, min(list_cap, own))

    def borrowable_seats(self, level: str, server_seats: int = C.SEATS_PER_REPLICA) -> int:
        """Seats ``level`` could borrow if every other level lent all it may (an upper bound)."""
        return self._memoised(("borrowable", level, server_seats), lambda: self._borrowable(level, server_seats))

    def _borrowable(self, level: str, server_seats: int) -> int:
        nominal = self.nominal_seats(server_seats)
        own = self.level(level)
        if own.borrowing_limit_percent is not None:
            cap = round(nominal[level] * own.borrowing_limit_percent / 100)
        else:
            cap = server_seats
        lendable = sum(
            round(nominal[l.name] * l.lendable_percent / 100)
            for l in self.levels
            if l.name != level and not l.exempt
        )
        return min(cap, lendable)


DEFAULT_APF = APFConfig()


# --- issue 12: flow identity and shuffle sharding ---------------------------------------------


def flow_distinguisher(schema: FlowSchema, subject: Subject, namespace: str) -> str:
    """The flow distinguisher of a request in ``schema``: the user (ByUser), the request's
    namespace (ByNamespace: "" for a cluster-scoped request) or "" (no distinguisher: the whole
    FlowSchema is one flow). A flow is (FlowSchema name, distinguisher).

    k8s: staging/src/k8s.io/apiserver/pkg/util/flowcontrol/apf_filter.go / apf_controller.go
    (computeFlowDistinguisher), 1.20–1.35."""
    if schema.distinguisher == "ByUser":
        return subject.user
    if schema.distinguisher == "ByNamespace":
        return namespace
    return ""


def flows_of(schema: FlowSchema, subject: Subject, *, distinct_users: bool, namespaced: bool) -> float:
    """How many APF flows the requests of one client in ``schema`` form — a flow is (FlowSchema,
    :func:`flow_distinguisher`) — as the queues their hands cover need it: 1 when every request
    gets the same distinguisher, ``math.inf`` (as many as there are users or namespaces: each
    deals its own hand) when the distinguisher tells the client's instances apart
    (``distinct_users``: each instance is its own user, e.g. kubelets under ByUser) or the
    namespaces of its requests (``namespaced``: e.g. a kube-system ServiceAccount in
    kube-system-service-accounts, ByNamespace — one flow per namespace it reads, shared with every
    other kube-system ServiceAccount there). k8s: apf_controller.go (computeFlowDistinguisher),
    1.20–1.35."""
    here = "namespace-a" if namespaced else ""
    one = flow_distinguisher(schema, subject, here)
    other_user = Subject(user=f"{subject.user}/another-instance", groups=subject.groups)
    if distinct_users and flow_distinguisher(schema, other_user, here) != one:
        return math.inf
    if namespaced and flow_distinguisher(schema, subject, "namespace-b") != one:
        return math.inf
    return 1.0


def queues_touched(level: PriorityLevel, flows: float) -> float:
    """Expected distinct queues the hands of ``flows`` flows cover in ``level``: each hand holds
    handSize of the level's queues, so a queue is outside all of them with probability
    (1 − handSize/queues)^flows. One flow: handSize; many: every queue. 0 for a level that
    rejects rather than queues; ``flows`` may be ``math.inf``."""
    if level.rejects_when_full or level.exempt or flows <= 0:
        return 0.0
    if math.isinf(flows):
        return float(level.queues)
    hand = min(level.hand_size, level.queues)
    return level.queues * (1.0 - (1.0 - hand / level.queues) ** flows)


def queue_capacity(level: PriorityLevel, flows: float) -> float:
    """Requests ``flows`` flows can hold queued in ``level`` on one apiserver before 429s: a
    request goes to the shortest queue of its flow's hand and is rejected when that queue holds
    queueLengthLimit requests, so the flows fill the queues their hands cover.

    k8s: staging/src/k8s.io/apiserver/pkg/util/flowcontrol/fairqueuing/queueset/queueset.go
    (shuffleShardLocked picks the hand's shortest queue; rejectOrEnqueueToBoundLocked rejects
    at QueueLengthLimit), 1.20–1.35. ``math.inf`` for an exempt level, 0 for a Reject level."""
    if level.exempt:
        return math.inf
    return queues_touched(level, flows) * level.queue_length_limit


def list_seats_limit(cluster: Cluster) -> int:
    """The work estimator's cap on one LIST's seats on ``cluster``'s version: ``APF_MAX_SEATS_LIMIT``
    (10), or ``APF_MAX_LIST_SEATS_SIZE_BASED`` (100) with SizeBasedListCostEstimate on (1.34+:
    request/config.go ``MaximumListSeatsLimit``, kubernetes PR #133034). A level's own max seats
    (:meth:`APFConfig.max_seats_per_request`) still bound it."""
    on = features_for(cluster.version_tuple).size_based_list_cost
    return C.APF_MAX_LIST_SEATS_SIZE_BASED if on else C.APF_MAX_SEATS_LIMIT
