"""The way back (issue 6): a rollback sent through the simulated apiservers by one identity.

An operator with an emergency credential (``breakglass``: a member of the break-glass group,
:func:`waveguard.breakglass.policy.group_member`), the waveguard controller (``controller``: its
ServiceAccount, :data:`waveguard.breakglass.policy.DEFAULT_CONTROLLER`) or a person with ordinary
credentials (``user``) sends the rollback of the change on one cluster: single-object requests,
one after the other, each of which must be admitted by APF (not 429), executed and answered
before the next is sent (``kubectl delete -f``). The first request that removes the workload
(DELETE / PATCH / UPDATE of a DaemonSet, Deployment or StatefulSet) starts the change's
ramp-down (:meth:`FleetSimulator.set_rollout` to 0: the garbage collector deletes the pods).

Nothing is scripted. The identity is classified by the APF configuration in force
(:meth:`APFConfig.classify`: with the Kubernetes defaults a group member lands in
``global-default`` and a ServiceAccount in ``workload-low``; with the generated isolation in the
break-glass level) and each level gets one *flow* of the simulator (:mod:`waveguard.sim.flows`,
costed by :func:`waveguard.model.cost.request_cost`). The request is one individual inside that
fluid: it arrives on one replica (drawn with the load balancer's split), and its fate each step
is drawn from what the engine's dispatch gives its flow — dispatched with probability (seats
given ÷ seats wanted), else queued; a level that rejects when full (``Reject``) answers 429 at
once, a queued request gets 429 when it has waited the APF wait limit (15 s). The flow's arrays
are then set to the individual's state, so the level's metrics
(``apiserver_flowcontrol_rejected_requests_total`` …) count it. A dispatched request executes for
the flow's service time τ, stretched as the engine stretches it when the replica's CPU is short;
it fails when its replica dies (OOM) or after the apiserver's request timeout (60 s, HTTP 504).
Every rollback request needs etcd's leader (a write goes through raft; kubectl's GET has
resourceVersion="", a quorum read): while the cluster's etcd has none, it fails once it has waited
``ETCD_REQUEST_TIMEOUT_S`` for one — etcd answers ``ErrTimeout`` "etcdserver: request timed out"
(etcd server/etcdserver/errors.go and v3_server.go ``processInternalRaftRequestOnce``, 3.4–3.6),
which kube-apiserver's storage (``k8s.io/apiserver/pkg/storage/etcd3/store.go``) passes up as a
plain error and ``responsewriters.ErrorToAPIStatus`` answers 500 InternalError (1.20–1.33):
counted in ``apiserver_request_total{code="500"}``. So it completes only once etcd has a leader.
With no replica up, an attempt fails at once (connection refused). After a 429 or a failure the
client waits client-go's back-off (0.8 s doubling to 30 s, jitter 1.0; APF's ``Retry-After``
grows the same way, 1 s doubling to 32 s, ``dropped_requests_tracker.go``) and sends the same
request again. (client-go retries by itself only a response with ``Retry-After``: 429 or a 5xx
that carries one, ``rest/with_retry.go`` ``IsNextRetry``, 1.23+; a 500 from etcd has none, so
``kubectl delete -f`` exits and the operator runs it again — paced here by the same back-off.)

Draws come from a per-cluster stream seeded with (seed, cluster key, 1): deterministic, and
independent of the demand noise, so adding a rollback does not change the rest of a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, Sequence

import numpy as np

from waveguard.model import constants as C
from waveguard.model.apf import APFConfig, Subject
from waveguard.model.requests import RequestClass, RequestProfile
from waveguard.sim.clients import SimClient
from waveguard.sim.flows import FlowTable
from waveguard.sim.rollback_record import RequestRecord, RollbackRecord, seconds

__all__ = [
    "DEFAULT_ROLLBACK_REQUESTS", "IDENTITIES", "RequestRecord", "RollbackDriver", "RollbackIdentity", "RollbackPort",
    "RollbackRecord", "RollbackRequest", "parse_request", "rollback_client", "rollback_flows", "rollback_identity",
    "seconds",
]

#: Identities a rollback can be sent as (see the module docstring).
IDENTITIES = ("breakglass", "controller", "user")
#: The APF subject of a person with ordinary credentials (no break-glass group).
PLAIN_USER = Subject(user="operator", groups=["system:authenticated"])
#: Verbs of a rollback's requests: single objects only (a LIST is not a rollback step).
ROLLBACK_VERBS = frozenset({"get", "create", "update", "patch", "delete"})
#: Workload resources whose DELETE / PATCH / UPDATE removes the change's pods.
WORKLOAD_RESOURCES = frozenset({"daemonsets", "deployments", "statefulsets", "replicasets"})
#: Stream tag of the rollback draws (the demand noise uses (seed, key)).
_STREAM = 1
_TINY = 1e-12


@dataclass(frozen=True)
class RollbackIdentity:
    """Who sends a rollback: a name for reports and the APF subject it authenticates as."""

    name: str
    subject: Subject


def rollback_identity(name: str) -> RollbackIdentity:
    """``breakglass`` | ``controller`` | ``user`` → the identity (break-glass group and controller
    ServiceAccount: :mod:`waveguard.breakglass.policy` defaults). Raises ValueError otherwise."""
    from waveguard.breakglass.policy import DEFAULT_CONTROLLER, DEFAULT_GROUP, group_member

    if name == "breakglass":
        return RollbackIdentity(name, group_member(DEFAULT_GROUP))
    if name == "controller":
        return RollbackIdentity(name, Subject.service_account(*DEFAULT_CONTROLLER))
    if name == "user":
        return RollbackIdentity(name, PLAIN_USER)
    raise ValueError(f"unknown rollback identity {name!r}; known: {', '.join(IDENTITIES)}")


@dataclass(frozen=True)
class RollbackRequest:
    """One request of a rollback: a verb on one object of ``resource`` (plural, lower case)."""

    verb: str
    resource: str

    @property
    def removes_change(self) -> bool:
        """Serving it starts the deletion of the change's pods."""
        return self.verb in ("delete", "patch", "update") and self.resource in WORKLOAD_RESOURCES

    def __str__(self) -> str:
        return f"{self.verb} {self.resource}"


def parse_request(text: str) -> RollbackRequest:
    """``"delete daemonsets"`` → :class:`RollbackRequest`. Raises ValueError for another shape
    or a verb outside :data:`ROLLBACK_VERBS`."""
    parts = text.split()
    if len(parts) != 2 or parts[0].lower() not in ROLLBACK_VERBS:
        raise ValueError(f"{text!r} is not 'VERB RESOURCE' with VERB one of {', '.join(sorted(ROLLBACK_VERBS))}")
    return RollbackRequest(parts[0].lower(), parts[1].lower())


#: The default rollback of a DaemonSet change: ``kubectl delete -f`` of its objects, the
#: workload first (the order an operator types it): DaemonSet, ConfigMap, ClusterRoleBinding,
#: ClusterRole, ServiceAccount (the namespace is left). Five sequential single-object writes.
DEFAULT_ROLLBACK_REQUESTS: tuple[RollbackRequest, ...] = tuple(parse_request(t) for t in (
    "delete daemonsets", "delete configmaps", "delete clusterrolebindings", "delete clusterroles",
    "delete serviceaccounts",
))
#: Requests a rollback client's flows are compiled for (its levels): the defaults and the
#: break-glass check's rollback requests that are single-object (waveguard.breakglass.policy).
_COMPILED_REQUESTS: tuple[RollbackRequest, ...] = DEFAULT_ROLLBACK_REQUESTS + tuple(parse_request(t) for t in (
    "patch daemonsets", "update daemonsets", "get daemonsets", "delete deployments", "patch deployments",
    "create flowschemas",
))


def rollback_client(identity: RollbackIdentity) -> SimClient:
    """The simulator client of ``identity``: one request class per compiled request, rate 0
    (its requests are injected one at a time by :class:`RollbackDriver`)."""
    classes = [RequestClass(verb=r.verb, resource=r.resource, scope="object", trigger="periodic", rate_per_s=0.0,
                            component=f"rollback: {r}") for r in _COMPILED_REQUESTS]
    profile = RequestProfile(client=f"rollback:{identity.name}", agent="rollback", per_node=False, replicas=1,
                             namespace="", service_account="", classes=classes)
    return SimClient(profile.client, "rollback", profile, identity.subject, distinct_users=False, backoff=True)


State = Literal["ready", "queued", "executing", "backoff", "done"]


@dataclass
class _Active:
    """A rollback in progress: its record, current request and the individual's state."""

    record: RollbackRecord
    c: int
    flows: list[int]  # flow of each request
    k: int = 0  # current request
    state: State = "ready"
    next_send_s: float = 0.0
    replica: int = -1
    waited_s: float = 0.0  # this attempt: in the queue
    elapsed_s: float = 0.0  # this attempt: since it was sent
    progress: float = 0.0  # share of its service done
    failures: int = 0  # consecutive failed attempts of the current request
    failed_at_s: float = 0.0  # when the last attempt failed
    leader_wait_s: float = 0.0  # this attempt: executing while etcd had no leader


class RollbackPort(Protocol):
    """What the rollback client needs of the simulator: the time, which replicas are up, the
    APF configuration in force and the rollout control (:class:`~waveguard.sim.engine.
    FleetSimulator` is one)."""

    @property
    def time_s(self) -> float:
        """Simulated seconds since the start."""
        ...

    @property
    def up(self) -> np.ndarray:
        """``(R, C)`` bool: apiserver replica r of cluster c serves."""
        ...

    @property
    def apf(self) -> APFConfig:
        """The APF configuration that classifies the rollback's requests."""
        ...

    def set_rollout(self, cluster: str, share: float, pods_per_s: float = ...) -> None:
        """Aim ``cluster``'s change at ``share`` of its nodes."""
        ...


def rollback_flows(clients: Sequence[SimClient], flows: FlowTable,
                   level_names: Sequence[str]) -> dict[tuple[str, str], int]:
    """``(identity, priority level) → flow`` of the compiled rollback clients' steady flows."""
    flow_of = {}
    for f, (ci, relist) in enumerate(zip(flows.client, flows.relist, strict=True)):
        client = clients[ci]
        if client.role == "rollback" and not relist:
            name = client.name.split(":", 1)[1]
            flow_of[(name, level_names[flows.level[f]])] = f
    return flow_of


@dataclass
class RollbackDriver:
    """Sends the rollbacks of one simulator through its ``port`` (called from its step; see the
    module docstring). ``flow_of[(identity, level)]`` is the flow of each compiled client;
    ``n_clusters`` and ``dt`` (the step, s) size and pace it."""

    port: RollbackPort
    identities: dict[str, RollbackIdentity]
    flow_of: dict[tuple[str, str], int]
    seed: int
    keys: list[int]
    n_clusters: int
    dt: float
    records: list[RollbackRecord] = field(default_factory=list)
    active: list[_Active] = field(default_factory=list)
    _rngs: dict[int, np.random.Generator] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.n_clusters
        self.pending = np.zeros(n)  # requests not yet served, per cluster (gauge)
        self.rejected_step = np.zeros(n)  # this step's 429s, per cluster
        self.failed_step = np.zeros(n)

    # --- control -------------------------------------------------------------------------

    def start(self, cluster: str, c: int, identity: str, requests: tuple[RollbackRequest, ...]) -> RollbackRecord:
        """Start a rollback now. Raises ValueError for an identity the simulator was not built
        with, an empty request list, a request its FlowSchemas send to a level the client has no
        flow in, or a rollback already running on ``cluster``."""
        if identity not in self.identities:
            raise ValueError(f"the simulator was built without rollback identity {identity!r} "
                             f"(has: {', '.join(self.identities) or 'none'}); pass rollback_as=[{identity!r}]")
        if not requests:
            raise ValueError("a rollback needs at least one request")
        if any(a.c == c for a in self.active):
            raise ValueError(f"a rollback is already running on {cluster}")
        ident = self.identities[identity]
        apf: APFConfig = self.port.apf
        rows, flows = [], []
        for req in requests:
            fs = apf.classify(ident.subject, req.verb, req.resource)
            f = self.flow_of.get((identity, fs.priority_level))
            if f is None:
                raise ValueError(f"{req} as {identity} lands in priority level {fs.priority_level}, for which the "
                                 "simulator compiled no rollback flow; "
                                 "use one of the default requests' verbs/resources")
            rows.append(RequestRecord(verb=req.verb, resource=req.resource, flow_schema=fs.name,
                                      priority_level=fs.priority_level))
            flows.append(f)
        record = RollbackRecord(cluster=cluster, identity=identity, user=ident.subject.user,
                                started_at_s=self.port.time_s, requests=rows)
        self.records.append(record)
        self.active.append(_Active(record=record, c=c, flows=flows, next_send_s=self.port.time_s))
        self.pending[c] += len(rows)
        return record

    def _rng(self, c: int) -> np.random.Generator:
        if c not in self._rngs:
            self._rngs[c] = np.random.default_rng([self.seed, self.keys[c], _STREAM])
        return self._rngs[c]

    # --- the step (called by the phases of a step) ------------------------------------

    def inject(self, arrivals: np.ndarray, per_replica: np.ndarray, replica_share: np.ndarray,
               total: np.ndarray) -> None:
        """Step 2: requests due now arrive on one replica (drawn with the load balancer's
        split ``replica_share`` ``(R, C)``; ``total`` ``(C,)`` its weight, 0 with no replica
        up): one more request in ``arrivals`` ``(F, C)`` and ``per_replica`` ``(F, R, C)``. With
        no replica up the attempt fails. Queued or executing requests whose replica died fail."""
        t, up = self.port.time_s, self.port.up
        for a in self.active:
            if a.state in ("queued", "executing") and not up[a.replica, a.c]:
                self._fail(a, rejected=False)
            if a.state == "backoff" and t + 1e-9 >= a.next_send_s:
                a.record.requests[a.k].backoff_s += t - a.failed_at_s
                a.state = "ready"
            if a.state != "ready":
                continue
            req = a.record.requests[a.k]
            if req.sent_at_s is None:
                req.sent_at_s = t
            req.attempts += 1
            a.waited_s = a.elapsed_s = a.progress = a.leader_wait_s = 0.0
            if total[a.c] <= 0:  # connection refused: no apiserver replica up
                self._fail(a, rejected=False)
                continue
            weights = replica_share[:, a.c]
            a.replica = int(self._rng(a.c).choice(len(weights), p=weights / weights.sum()))
            f = a.flows[a.k]
            arrivals[f, a.c] += 1.0
            per_replica[f, :, a.c] = 0.0
            per_replica[f, a.replica, a.c] = 1.0
            a.state = "queued"

    def resolve(self, dispatched: np.ndarray, queued: np.ndarray, rejected: np.ndarray, qcap: np.ndarray) -> bool:
        """Step 4–5, after the engine's dispatch: the fate of each queued request is drawn from
        what its flow was given; the flow's arrays (``(F, R, C)`` each; ``qcap`` the queue
        capacity) are set to it. Returns True when a request stays queued or was rejected (the
        engine must keep its queue bookkeeping on)."""
        dt, queued_or_rejected = self.dt, False
        for a in self.active:
            if a.state != "queued":
                continue
            f, r, c = a.flows[a.k], a.replica, a.c
            want = dispatched[f, r, c] + queued[f, r, c] + rejected[f, r, c]
            p_dispatch = dispatched[f, r, c] / want if want > _TINY else 0.0
            dispatched[f, :, c] = queued[f, :, c] = rejected[f, :, c] = 0.0
            if self._rng(c).random() < p_dispatch:
                dispatched[f, r, c] = 1.0
                a.state = "executing"
                continue
            queued_or_rejected = True
            if qcap[f, r, c] >= 1.0:  # a queuing level: it waits (until the APF wait limit)
                a.waited_s += dt
            if qcap[f, r, c] < 1.0 or a.waited_s >= C.APF_QUEUE_WAIT_LIMIT_S:
                rejected[f, r, c] = 1.0  # 429: the level rejects when full, or the queue wait limit
                self._fail(a, rejected=True)
            else:
                queued[f, r, c] = 1.0
        return queued_or_rejected

    def execute(self, executing: np.ndarray, tau: np.ndarray, leaderless: np.ndarray) -> None:
        """After dispatch: executing requests progress by dt / τ (τ as the engine stretches it
        on a CPU-starved replica); served ones let the next request go; past the request
        timeout they fail (504), after waiting etcd's request timeout for a leader they fail
        (500; ``leaderless`` ``(C,)`` bool: the cluster's etcd has no leader now). Their seats
        stay in ``executing`` ``(F, R, C)`` while they execute."""
        dt, t = self.dt, self.port.time_s
        for a in list(self.active):
            a.elapsed_s += dt
            a.record.leaderless_s += dt if leaderless[a.c] else 0.0
            if a.state != "executing":
                continue
            f, r, c = a.flows[a.k], a.replica, a.c
            a.progress += dt / max(float(tau[f, r, c]), _TINY)
            a.leader_wait_s += dt if leaderless[c] else 0.0
            executing[f, :, c] = 0.0
            if a.leader_wait_s >= C.ETCD_REQUEST_TIMEOUT_S - 1e-9:
                self._fail(a, rejected=False, etcd_timeout=True)  # "etcdserver: request timed out": 500
            elif a.progress >= 1.0 - 1e-9:
                self._served(a, t)
            elif a.elapsed_s >= C.APISERVER_REQUEST_TIMEOUT_S:
                self._fail(a, rejected=False)
            else:
                executing[f, r, c] = 1.0

    # --- bookkeeping ---------------------------------------------------------------------

    def _served(self, a: _Active, t: float) -> None:
        req = a.record.requests[a.k]
        req.served_at_s = t
        req.queue_wait_s += a.waited_s
        self.pending[a.c] -= 1
        if RollbackRequest(req.verb, req.resource).removes_change and a.record.change_removed_at_s is None:
            a.record.change_removed_at_s = t
            self.port.set_rollout(a.record.cluster, 0.0)
        a.k += 1
        a.failures = 0
        if a.k == len(a.record.requests):
            a.state = "done"
            a.record.completed_at_s = t
            self.active.remove(a)
        else:
            a.state = "ready"  # the next request goes out in the next step

    def _fail(self, a: _Active, rejected: bool, etcd_timeout: bool = False) -> None:
        """A 429 or a failed attempt (``etcd_timeout``: a 500, etcd had no leader): count it,
        wait the client's back-off, send again."""
        req = a.record.requests[a.k]
        req.queue_wait_s += a.waited_s
        if rejected:
            req.rejected += 1
            self.rejected_step[a.c] += 1
        else:
            req.failed += 1
            self.failed_step[a.c] += 1
        req.etcd_timeouts += int(etcd_timeout)  # its 500 is counted with the flow's (sim/phases/etcd.py)
        delay = min(C.CLIENT_BACKOFF_MAX_S, C.CLIENT_BACKOFF_INITIAL_S * C.CLIENT_BACKOFF_FACTOR ** a.failures)
        delay *= 1.0 + C.CLIENT_BACKOFF_JITTER * self._rng(a.c).random()
        a.failures += 1
        a.failed_at_s = self.port.time_s
        a.next_send_s = self.port.time_s + delay
        a.state = "backoff"
        a.waited_s = 0.0
