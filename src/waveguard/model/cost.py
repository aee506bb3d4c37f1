"""The cost model: what a request profile costs kube-apiserver on one cluster.

One model for analyse, the simulator and the projection gate. It implements the APF work
estimators (domain.md §2–3):

* LIST seats = clamp(ceil(objects / 100), 1, maxSeats), objects = stored count from the watch
  cache; stored + limit from etcd with a selector; 2 × limit from etcd without one
  (``list_work_estimator.go``);
* a write with W ≥ 10 interested watchers holds ceil(W / 10) extra seats for 5 ms after the
  response, charged to the writer (``mutating_work_estimator.go``); watches filtered by
  ``spec.nodeName`` are indexed for pods and count as one (``watch_tracker.go``
  builtin index);

and adds service time and memory from :mod:`waveguard.model.constants`.

Verdicts (see :func:`project`): a cluster is ``overload`` when the change's demand on its
priority level over one client timeout reaches the level's capacity (so queued LISTs time
out and are retried: the storm does not drain), when the relist storm's peak memory reaches an
apiserver's memory limit, or when its LISTs from etcd need the cluster's etcd for longer than
the client timeout; ``warning`` from half of any.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel

from waveguard.model import constants as C
from waveguard.model.apf import DEFAULT_APF, APFConfig, Subject
from waveguard.model.fleet import Cluster
from waveguard.model.requests import RequestClass, RequestProfile

Verdict = Literal["ok", "warning", "overload"]
Scaling = Literal["constant", "O(nodes)", "O(nodes²)"]

#: Demand/capacity at which a cluster is overloaded / worth a warning. Policy, not physics:
#: 1.0 is the point where queued requests outlive their client timeout.
OVERLOAD_UTILISATION = 1.0
WARNING_UTILISATION = 0.5
#: Share of the memory limit at which the relist storm is worth a warning.
WARNING_MEMORY_SHARE = 0.5

#: Resources whose object count grows with the number of nodes (pods ∝ nodes).
GROWS_WITH_NODES = frozenset({
    "pods", "nodes", "leases", "services", "endpoints", "endpointslices", "deployments", "replicasets",
    "events", "configmaps", "secrets", "statefulsets", "jobs", "cronjobs", "replicationcontrollers",
    "persistentvolumeclaims", "persistentvolumes", "pods/log",
})


@dataclass(frozen=True, slots=True)
class RequestCost:
    """Cost of one request on one cluster (a plain dataclass: it is built in hot loops).

    seats: APF seats held while it executes; service_s: seconds it executes (all pages) when
    it has the apiserver and etcd to itself; pages: requests it takes (paginated LISTs);
    response_bytes: bytes sent; memory_bytes: peak bytes the apiserver holds for it;
    served_from: "cache" | "etcd" | "n/a"; etcd_bytes: bytes it reads from etcd (all pages; 0
    unless served from etcd).

    A request served from etcd has two phases: it waits for etcd's range responses
    (:attr:`etcd_s` alone; longer when other LISTs share the cluster's etcd,
    ``ETCD_READ_BYTES_PER_S``), holding its seats but not ``memory_bytes``; then the apiserver
    decodes and encodes (:attr:`apiserver_s`), holding ``memory_bytes``.
    """

    seats: int
    service_s: float
    pages: int
    objects_estimated: int
    response_bytes: int
    memory_bytes: int
    served_from: Literal["cache", "etcd", "n/a"]
    etcd_bytes: int = 0

    @property
    def seat_seconds(self) -> float:
        return self.seats * self.service_s

    @property
    def etcd_s(self) -> float:
        """Seconds spent receiving etcd's range responses when nothing else reads from etcd
        (one range stream: ``ETCD_RANGE_BYTES_PER_S``)."""
        return self.etcd_bytes / C.ETCD_RANGE_BYTES_PER_S

    @property
    def apiserver_s(self) -> float:
        """Seconds of apiserver work (decode, encode, per-page latency): ``service_s`` without
        the etcd wait."""
        return self.service_s - self.etcd_s


def served_from(rc: RequestClass, cluster: Cluster) -> Literal["cache", "etcd"]:
    """Where a LIST is served. resourceVersion="0" → watch cache. A consistent read
    (resourceVersion="") → watch cache from v1.31 when unpaginated (consistent reads from
    cache, KEP-2340), etcd before that or when paginated. domain.md §3."""
    if rc.resource_version == "0":
        return "cache"
    if cluster.version_tuple >= (1, 31) and rc.limit is None:
        return "cache"
    return "etcd"


def objects_returned(rc: RequestClass, cluster: Cluster) -> float:
    """Objects one request returns, before pagination."""
    stored = cluster.object_count(rc.resource)
    if rc.scope == "cluster":
        return stored
    if rc.scope == "namespace":
        return stored / max(1, cluster.namespaces)
    if rc.scope == "node":
        return cluster.objects_per_node(rc.resource) if rc.resource == "pods" else stored
    return 1


def request_cost(rc: RequestClass, cluster: Cluster, max_seats: int = C.APF_MAX_SEATS_LIMIT) -> RequestCost:
    """Seats, service time and memory of one request of class ``rc`` on ``cluster``."""
    size = cluster.object_size(rc.resource)
    if rc.verb == "list":
        return _list_cost(rc, cluster, max_seats, size)
    if rc.verb == "watch":
        # The initial events come from the preceding LIST (informers); the WATCH itself holds
        # one seat only while it registers. Steady cost is fan-out (see project()).
        return RequestCost(seats=1, service_s=C.REQUEST_BASE_S, pages=1, objects_estimated=0,
                           response_bytes=0, memory_bytes=0, served_from="n/a")
    # GET and writes: one object, one seat.
    return RequestCost(seats=1, service_s=C.REQUEST_BASE_S + size * C.ENCODE_S_PER_BYTE, pages=1,
                       objects_estimated=1, response_bytes=size, memory_bytes=size, served_from="n/a")


def _list_cost(rc: RequestClass, cluster: Cluster, max_seats: int, size: int) -> RequestCost:
    stored = cluster.object_count(rc.resource)
    returned = objects_returned(rc, cluster)
    source = served_from(rc, cluster)
    page = rc.limit if rc.limit and rc.limit < returned else None
    pages = math.ceil(returned / page) if page else 1
    per_page_returned = page or returned
    limit = page or stored
    if source == "cache":
        estimated = stored
    elif rc.selector:
        estimated = stored + limit
    else:
        estimated = 2 * limit
    seats = min(max(1, math.ceil(estimated / C.APF_OBJECTS_PER_SEAT)), max_seats)
    # Work: encode what is returned; scan the cache (pods by spec.nodeName are indexed), or
    # read and decode from etcd everything the selector has to look at.
    indexed = rc.scope == "node" and rc.resource == "pods"
    encode_s = returned * size * C.ENCODE_S_PER_BYTE
    if source == "cache":
        scanned = returned if (indexed or not rc.selector) else stored
        etcd_bytes = 0.0
        work_s = encode_s + scanned * C.CACHE_SCAN_S_PER_OBJECT
        memory = per_page_returned * size * C.LIST_FROM_CACHE_MEMORY_MULTIPLIER
    else:
        scanned = stored if rc.selector else returned
        etcd_bytes = scanned * size
        work_s = encode_s + etcd_bytes * C.ETCD_READ_S_PER_BYTE
        memory = scanned / pages * size * C.LIST_FROM_ETCD_MEMORY_MULTIPLIER
    return RequestCost(
        seats=seats, service_s=pages * C.REQUEST_BASE_S + work_s, pages=pages,
        objects_estimated=int(estimated), response_bytes=int(returned * size), memory_bytes=int(memory),
        served_from=source, etcd_bytes=int(etcd_bytes),
    )


def writer_extra_seat_seconds(watchers: float) -> float:
    """Extra seat-seconds one write costs its writer when ``watchers`` watches are interested:
    ceil(W / 10) seats × 5 ms when W ≥ 10, else 0 (mutating_work_estimator.go; the seats are
    capped at maxSeats with the duration stretched, so seat-seconds are preserved)."""
    if watchers < C.APF_WATCHES_PER_SEAT:
        return 0.0
    return math.ceil(watchers / C.APF_WATCHES_PER_SEAT) * C.APF_EVENT_ADDITIONAL_DURATION_S


def baseline_watchers(resource: str, cluster: Cluster) -> float:
    """Watches interested in a write of ``resource`` before the change: control-plane
    watchers, plus the (indexed) kubelet of the pod's node."""
    return C.BASELINE_POD_WATCHERS + (C.KUBELET_POD_WATCHERS_PER_NODE if resource == "pods" else 0)


def watch_cache_bytes(cluster: Cluster) -> int:
    """Bytes the apiserver's watch cache holds for the main resources of ``cluster``."""
    resources = C.OBJECT_BYTES.keys() | cluster.object_bytes.keys()
    total = sum(cluster.object_count(r) * cluster.object_size(r) for r in resources)
    return int(total * C.WATCH_CACHE_MEMORY_MULTIPLIER)


def baseline_memory_bytes(cluster: Cluster) -> int:
    """Resident memory of one apiserver replica before any LIST: process + watch cache."""
    return C.APISERVER_BASE_MEMORY_BYTES + watch_cache_bytes(cluster)


def combined_storm_memory_bytes(loads: Iterable[ClusterLoad], baseline: int) -> int:
    """Peak memory of one apiserver replica when the start-up storms of several workloads of a
    change (their :class:`ClusterLoad`, each projected from ``baseline``) hit it together: every
    storm adds its rise to the same baseline."""
    return baseline + sum(load.storm_peak_memory_bytes - baseline for load in loads)


def subject_of(profile: RequestProfile) -> Subject:
    """The identity APF classifies the profile's requests by: its user and groups when given,
    else its ServiceAccount."""
    if profile.user:
        return Subject(user=profile.user, groups=profile.groups)
    return Subject.service_account(profile.namespace, profile.service_account)


def priority_level_of(profile: RequestProfile, apf: APFConfig = DEFAULT_APF) -> str:
    """The priority level the profile's LIST/WATCH requests land in (default FlowSchemas)."""
    return apf.classify(subject_of(profile), "list", "pods").priority_level


class ClusterLoad(BaseModel):
    """What one profile adds to one cluster, and the verdict.

    Rates per second, seats in seats, memory in bytes, times in seconds. ``level_utilisation``
    is the change's demand on its priority level over one client timeout (steady seat-seconds
    per second plus the start/relist storm spread over ``CLIENT_TIMEOUT_S``) divided by the
    seats the level can use across all apiserver replicas (nominal + borrowable).
    ``etcd_utilisation`` is the same for the cluster's etcd: bytes its LISTs read from etcd
    (steady per second, plus the storm's ``storm_etcd_bytes`` over one client timeout) over
    ``ETCD_READ_BYTES_PER_S``; at 1 the storm's LISTs wait for etcd past their timeout
    (``storm_etcd_s``: seconds of the whole etcd the storm needs).
    """

    cluster: str
    nodes: int
    replicas: int  # of the client
    apiserver_replicas: int
    priority_level: str
    level_seats: int  # nominal, all apiserver replicas
    level_capacity_seats: int  # nominal + borrowable, all replicas
    steady_seat_seconds_per_s: float
    storm_seat_seconds: float
    storm_drain_s: float
    storm_bytes: int
    storm_peak_memory_bytes: int  # one apiserver replica, baseline included
    memory_limit_bytes: int
    fanout_events_per_s: float
    writer_extra_seat_seconds_per_s: float
    list_seats: int  # seats of the costliest LIST the client sends
    rejected_share: float  # share of a simultaneous start rejected with 429 by queue limits
    level_utilisation: float
    server_utilisation: float
    memory_share: float
    verdict: Verdict
    reasons: list[str]
    storm_etcd_bytes: int = 0
    storm_etcd_s: float = 0.0
    etcd_utilisation: float = 0.0


def project(profile: RequestProfile, cluster: Cluster, apf: APFConfig = DEFAULT_APF, *,
            node_share: float = 1.0, level: str | None = None, baseline_memory: int | None = None) -> ClusterLoad:
    """Cost ``profile`` on ``cluster``: the figures of :class:`ClusterLoad` and a verdict.

    ``node_share`` (0..1): the share of nodes running a per-node profile (a DaemonSet wave).
    ``level`` (the profile's priority level) and ``baseline_memory`` (the cluster's
    :func:`baseline_memory_bytes`) may be passed in when projecting many pairs, to compute
    them once."""
    level = level or priority_level_of(profile, apf)
    R = cluster.replicas
    nominal = apf.nominal_seats()[level]
    max_seats = apf.max_seats_per_request(level)
    level_seats = nominal * R
    borrowable = apf.borrowable_seats(level) if cluster.version_tuple >= C.APF_BORROWING_SINCE else 0
    capacity = (nominal + borrowable) * R
    n_all = profile.replica_count(cluster.nodes) if profile.applies_to(cluster.labels) else 0
    if profile.per_node:
        n_all = round(n_all * node_share)

    steady = storm = storm_bytes = fanout = writer_extra = storm_etcd = steady_etcd = 0.0
    start_seats = start_memory = start_etcd = start_apiserver_s = 0.0
    list_seats = 0
    watchers_added: dict[str, float] = {}
    for rc in profile.classes:
        n = min(1, n_all) if rc.leader_only else n_all
        if n == 0:
            continue
        cost = request_cost(rc, cluster, max_seats)
        if rc.verb == "list":
            list_seats = max(list_seats, cost.seats)
        if rc.trigger == "start":
            storm += n * cost.seat_seconds
            storm_bytes += n * cost.response_bytes
            storm_etcd += n * cost.etcd_bytes
            start_seats += cost.seats
            start_memory += cost.memory_bytes
            start_etcd += cost.etcd_bytes
            start_apiserver_s += cost.apiserver_s
        elif rc.trigger == "periodic":
            steady += n * rc.rate_per_s * cost.seat_seconds
            steady_etcd += n * rc.rate_per_s * cost.etcd_bytes
        elif rc.trigger == "per_event":
            events = cluster.write_rate(rc.resource) / (cluster.nodes or 1) if profile.per_node else \
                cluster.write_rate(rc.resource)
            steady += n * events * rc.rate_per_s * cost.seat_seconds
            steady_etcd += n * events * rc.rate_per_s * cost.etcd_bytes
        elif rc.verb == "watch":
            fanout += n * events_per_watcher(rc, cluster)
            if rc.scope in ("cluster", "namespace"):
                share = 1.0 if rc.scope == "cluster" else 1.0 / max(1, cluster.namespaces)
                watchers_added[rc.resource] = watchers_added.get(rc.resource, 0.0) + n * share
            # node-filtered pod watches are indexed: ~one watcher per write, already counted
            # for the kubelet; other node-scoped watches are not modelled as interested.

    for resource, added in watchers_added.items():
        base = baseline_watchers(resource, cluster)
        per_write = writer_extra_seat_seconds(base + added) - writer_extra_seat_seconds(base)
        writer_extra += cluster.write_rate(resource) * per_write

    drain_s = storm / capacity if capacity else math.inf
    level_util = (steady / capacity if capacity else math.inf) + storm / (capacity * C.CLIENT_TIMEOUT_S)
    server_seats = C.SEATS_PER_REPLICA * R
    server_util = (steady + writer_extra + storm / C.CLIENT_TIMEOUT_S) / server_seats
    # The cluster's etcd, shared by every replica's LISTs from etcd (as in the simulator).
    storm_etcd_s = storm_etcd / C.ETCD_READ_BYTES_PER_S
    etcd_util = steady_etcd / C.ETCD_READ_BYTES_PER_S + storm_etcd_s / C.CLIENT_TIMEOUT_S

    # Peak memory of one apiserver replica while the storm runs: as many starting clients as
    # the level's seats admit at once, each holding all its start LISTs' responses; the Go heap
    # grows to GO_HEAP_GROWTH_FACTOR × that live garbage before it is collected (as in the
    # simulator: one memory model).
    per_replica_clients = math.ceil(n_all / R) if start_seats else 0
    concurrent = min(per_replica_clients, math.floor(capacity / R / start_seats)) if start_seats else 0
    if start_etcd:
        # LISTs from etcd hold their memory only once etcd has answered: etcd answers at most
        # ETCD_READ_BYTES_PER_S / start_etcd clients a second (over all replicas), each then held
        # for its apiserver time (Little's law).
        concurrent = min(concurrent, math.ceil(C.ETCD_READ_BYTES_PER_S / start_etcd / R * start_apiserver_s))
    if baseline_memory is None:
        baseline_memory = baseline_memory_bytes(cluster)
    peak_memory = baseline_memory + int(concurrent * start_memory * C.GO_HEAP_GROWTH_FACTOR)
    memory_share = peak_memory / cluster.memory_limit_bytes

    # One flow (one ServiceAccount): at most handSize × queueLengthLimit queued per replica,
    # plus what executes; the rest of a simultaneous start is rejected with 429.
    lvl = apf.level(level)
    admitted = R * (lvl.max_queued_per_flow + (capacity / R / start_seats if start_seats else 0))
    rejected_share = max(0.0, 1.0 - admitted / n_all) if start_seats and n_all else 0.0

    verdict, reasons = verdict_for(level, level_util, server_util, memory_share, drain_s, rejected_share,
                                   etcd_util=etcd_util, etcd_s=storm_etcd_s)
    return ClusterLoad(
        cluster=cluster.name, nodes=cluster.nodes, replicas=n_all, apiserver_replicas=R, priority_level=level,
        level_seats=level_seats, level_capacity_seats=capacity, steady_seat_seconds_per_s=steady,
        storm_seat_seconds=storm, storm_drain_s=drain_s, storm_bytes=int(storm_bytes),
        storm_peak_memory_bytes=peak_memory, memory_limit_bytes=cluster.memory_limit_bytes,
        fanout_events_per_s=fanout, writer_extra_seat_seconds_per_s=writer_extra, list_seats=list_seats,
        rejected_share=rejected_share, level_utilisation=level_util, server_utilisation=server_util,
        memory_share=memory_share, verdict=verdict, reasons=reasons, storm_etcd_bytes=int(storm_etcd),
        storm_etcd_s=storm_etcd_s, etcd_utilisation=etcd_util,
    )


def events_per_watcher(rc: RequestClass, cluster: Cluster) -> float:
    """Write events per second one watch of class ``rc`` receives on ``cluster``."""
    writes = cluster.write_rate(rc.resource)
    if rc.scope == "cluster":
        return writes
    if rc.scope == "namespace":
        return writes / max(1, cluster.namespaces)
    if rc.scope == "node":
        return writes / (cluster.nodes or 1)
    return writes / max(1, cluster.object_count(rc.resource))


def verdict_for(level: str, level_util: float, server_util: float, memory_share: float, drain_s: float,
                rejected_share: float, *, etcd_util: float = 0.0, etcd_s: float = 0.0) -> tuple[Verdict, list[str]]:
    """The verdict and its reasons for the given demand figures (see :class:`ClusterLoad`)."""
    reasons: list[str] = []
    verdict: Verdict = "ok"
    if etcd_util >= OVERLOAD_UTILISATION:
        verdict = "overload"
        reasons.append(f"needs {etcd_util:.0%} of the cluster's etcd: its LISTs from etcd need {etcd_s:.0f} s of "
                       f"etcd's {C.ETCD_READ_BYTES_PER_S / 1e6:.0f} MB/s, past the {C.CLIENT_TIMEOUT_S:.0f} s client "
                       "timeout, so they time out and retry")
    if level_util >= OVERLOAD_UTILISATION:
        verdict = "overload"
        reasons.append(f"needs {level_util:.0%} of {level}'s seats: its start/relist LISTs take {drain_s:.0f} s "
                       f"to serve, past the {C.CLIENT_TIMEOUT_S:.0f} s client timeout, so they time out and retry")
    if memory_share >= 1.0:
        verdict = "overload"
        reasons.insert(0 if level_util < memory_share else len(reasons),
                       f"needs {memory_share:.0%} of an apiserver's memory limit during a relist storm: OOM-kill")
    if verdict == "ok":
        if etcd_util >= WARNING_UTILISATION:
            verdict = "warning"
            reasons.append(f"needs {etcd_util:.0%} of the cluster's etcd over a client timeout")
        if level_util >= WARNING_UTILISATION or server_util >= WARNING_UTILISATION:
            verdict = "warning"
            reasons.append(f"needs {max(level_util, server_util):.0%} of {level}'s seats over a client timeout")
        if memory_share >= WARNING_MEMORY_SHARE:
            verdict = "warning"
            reasons.append(f"needs {memory_share:.0%} of an apiserver's memory limit during a relist storm")
    if rejected_share > 0:
        reasons.append(f"{rejected_share:.0%} of a simultaneous start is rejected with 429 at first (one flow: "
                       "handSize × queueLengthLimit queued per apiserver), and retried")
    return verdict, reasons


def scaling_class(profile: RequestProfile) -> Scaling:
    """How the profile's load grows with nodes: replicas (per node or fixed) × objects each
    request touches (cluster/namespace scope of a resource that grows with nodes, or not)."""
    worst = 0
    for rc in profile.classes:
        replicas_grow = profile.per_node and not rc.leader_only
        objects_grow = rc.scope in ("cluster", "namespace") and rc.resource in GROWS_WITH_NODES
        if rc.trigger == "per_event" and not profile.per_node:
            objects_grow = True  # events of the whole cluster
        worst = max(worst, int(replicas_grow) + int(objects_grow))
    return ("constant", "O(nodes)", "O(nodes²)")[worst]
