"""Request profiles: what a client sends to kube-apiserver, independent of cluster size.

A :class:`RequestClass` is one kind of request one replica of a client sends (a LIST of all
pods at start, a WATCH of pods on its node, a GET per new pod...). A :class:`RequestProfile`
is a client's request classes plus how many replicas send them. analyse builds profiles from
manifests, ``waveguard measure`` from audit logs; the simulator and the projection gate cost
them with :mod:`waveguard.model.cost`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from waveguard.model import constants as C
from waveguard.model.defaults import empty_list
from waveguard.model.strict_types import Count, Number

Verb = Literal["get", "list", "watch", "create", "update", "patch", "delete"]
#: cluster: all objects; namespace: one namespace; node: ``spec.nodeName=<own node>`` field
#: selector (indexed for pods in the watch cache); object: one named object. A GET names one
#: object: a GET class with a wider scope is one GET for each object of that scope (every pod on
#: the node, say), sent one after another (model.work.request_cost).
Scope = Literal["cluster", "namespace", "node", "object"]
#: start: once per replica start and after every relist (informer LIST); periodic: ``rate_per_s``
#: per replica; per_event: ``rate_per_s`` requests per write event of the resource in scope;
#: held: a long-lived request (WATCH, log follow) opened at start.
Trigger = Literal["start", "periodic", "per_event", "held"]

MUTATING_VERBS = frozenset({"create", "update", "patch", "delete"})


class RequestClass(BaseModel):
    """One kind of request sent by one replica of a client. A file's unknown key, a NaN or
    infinite figure, a negative rate or page size and a boolean for a number (``true`` read as
    1) are refused: read as no load, they would make a change look free."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    verb: Verb
    resource: str
    api_group: str = ""
    scope: Scope
    trigger: Trigger
    #: periodic: requests/s per replica; per_event: requests per event in scope.
    rate_per_s: Number = Field(default=0.0, ge=0)
    #: LIST/WATCH resourceVersion semantics (k8s: the API concepts' resourceVersion /
    #: resourceVersionMatch table): "0" (any: the watch cache, limit ignored); "" (most recent:
    #: a consistent read); LISTs only — "not-older-than" (a resourceVersion N with
    #: ``resourceVersionMatch=NotOlderThan``, or N without a limit) and "exact" (N with
    #: ``resourceVersionMatch=Exact``, or N with a limit: the legacy exact read). Where each is
    #: served, version by version: :func:`waveguard.model.work.list_route`.
    resource_version: Literal["0", "", "not-older-than", "exact"] = "0"
    #: Page size of a paginated LIST (``limit``), None when unpaginated.
    limit: Count | None = Field(default=None, ge=0)
    #: A label or field selector is set (changes the etcd work estimate).
    selector: bool = False
    #: Sent by the elected leader only (one replica per cluster).
    leader_only: bool = False
    #: What in the agent sends it (component / config key), for messages.
    component: str = ""
    #: The config key that controls this request, e.g. ``processors.k8sattributes.filter``.
    config_key: str = ""
    #: True when inferred from RBAC rather than from the agent's documented behaviour.
    upper_bound: bool = False
    #: How to make this request cheaper, naming the exact config key or flag (for findings).
    fix: str = ""
    # issue 12: read path
    #: A start LIST of a client-go informer (reflector: a broken watch is re-established without
    #: a LIST) may be replaced by a WatchList (a WATCH with sendInitialEvents, k8s: client-go
    #: tools/cache/reflector.go): "no" — not a client-go informer (it keeps its own behaviour:
    #: every broken watch is followed by this LIST); "off" — an informer whose client turned
    #: WatchList off (``KUBE_FEATURE_WatchListClient=false``); "client-go-default" — the
    #: WatchListClient default of the cluster's version (model.versions); "yes" — turned on.
    watch_list: Literal["no", "off", "client-go-default", "yes"] = "no"
    # issue 12: writes
    #: The one named object every replica's request of this class addresses (e.g. the ConfigMap
    #: or Lease a DaemonSet's agents all UPDATE), so that replicas write the same object; empty:
    #: each replica addresses objects of its own (a kubelet its Node and Lease) — the default.
    object_name: str = ""

    @property
    def informer(self) -> bool:
        """A client-go informer's start LIST (``watch_list`` is not "no")."""
        return self.watch_list != "no"

    @property
    def mutating(self) -> bool:
        return self.verb in MUTATING_VERBS

    def describe(self) -> str:
        scope = {"cluster": "cluster-wide", "namespace": "in one namespace", "node": "on its node",
                 "object": "one object"}[self.scope]
        return f"{self.verb.upper()} {self.resource} {scope}"


class RequestProfile(BaseModel):
    """A client's request classes and how many replicas send them.

    ``per_node`` True: one replica per node (DaemonSet); else ``replicas`` fixed replicas.
    ``namespace``/``service_account`` decide the APF priority level (default FlowSchemas).
    Unknown keys and NaN or infinite figures are refused (see :class:`RequestClass`).
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    client: str  # Kind/namespace/name of the workload, or the user of an audit log
    agent: str  # recogniser family, e.g. "opentelemetry-collector"
    per_node: bool
    replicas: Count = Field(default=1, ge=0)
    namespace: str = "default"
    service_account: str = "default"
    classes: list[RequestClass] = Field(default_factory=empty_list)
    #: Fraction of replicas restarted at once by a rolling update (maxUnavailable), 0..1.
    update_share: Number = Field(default=0.0, ge=0, le=1)
    upper_bound: bool = False
    #: Label selector of the clusters where these requests are sent (empty: every cluster). A
    #: measured profile can hold behaviour seen only under some clusters' traffic.
    clusters: dict[str, str] = Field(default_factory=dict)
    #: The identity APF classifies when the client is not a ServiceAccount (a kubelet, a user:
    #: measured from audit logs); None: ``system:serviceaccount:<namespace>:<service_account>``.
    user: str | None = None
    groups: list[str] = Field(default_factory=empty_list)

    def replica_count(self, nodes: int) -> int:
        return nodes if self.per_node else self.replicas

    def applies_to(self, labels: dict[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.clusters.items())


def informer(resource: str, scope: Scope, *, component: str, config_key: str = "", api_group: str = "",
             leader_only: bool = False, upper_bound: bool = False, fix: str = "") -> list[RequestClass]:
    """A client-go informer: a LIST with resourceVersion="0" and the pager's limit at start (and
    on every relist; the watch cache ignores the limit, a filling one from 1.31 delegates such a
    LIST without selector to etcd), then a WATCH held open. k8s: client-go tools/cache/reflector.go."""
    common = dict(resource=resource, api_group=api_group, scope=scope, component=component,
                  config_key=config_key, leader_only=leader_only, upper_bound=upper_bound,
                  selector=scope == "node", fix=fix)
    return [
        RequestClass(verb="list", trigger="start", resource_version="0", limit=C.CLIENT_GO_LIST_PAGE_SIZE,
                     watch_list="client-go-default", **common),
        RequestClass(verb="watch", trigger="held", **common),
    ]
