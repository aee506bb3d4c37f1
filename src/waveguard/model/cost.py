"""The cost model: what a request profile costs kube-apiserver on one cluster.

One model for analyse, the simulator and the projection gate. What one request costs (the APF
work estimators, service time, memory) is :mod:`waveguard.model.work`, re-exported here; this
module projects a whole profile onto a cluster (:func:`project`) and gives the verdict.

Verdicts (see :func:`project`): a cluster is ``overload`` when the change's demand on its
priority level over one client timeout reaches the level's capacity (so queued LISTs time
out and are retried: the storm does not drain), when the relist storm's peak memory reaches an
apiserver's memory limit, when its LISTs from etcd need the cluster's etcd for longer than
the client timeout, or when the range responses they have etcd build at the peak fill an etcd
member's memory (etcd is OOM-killed and loses its leader: :mod:`waveguard.model.etcd`, the
simulator's functions); ``warning`` from half of any.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel

from waveguard.model import constants as C
from waveguard.model.apf import DEFAULT_APF, APFConfig, Subject, flows_of, list_seats_limit, queue_capacity
from waveguard.model.etcd import member_memory_fraction, range_wait_s
from waveguard.model.fleet import Cluster
from waveguard.model.load import request_rate, running_clients, sending_clients
from waveguard.model.requests import RequestClass, RequestProfile
from waveguard.model.verdicts import (
    OVERLOAD_UTILISATION, WARNING_MEMORY_SHARE, WARNING_UTILISATION, Verdict, verdict_for,
)
from waveguard.model.work import (
    RequestCost, baseline_memory_bytes, baseline_watchers, events_per_watcher, objects_returned, request_cost,
    scope_divisor, served_from, watch_cache_bytes, writer_extra_seat_seconds,
)

Scaling = Literal["constant", "O(nodes)", "O(nodes²)"]

#: Resources whose object count grows with the number of nodes (pods ∝ nodes).
GROWS_WITH_NODES = frozenset({
    "pods", "nodes", "leases", "services", "endpoints", "endpointslices", "deployments", "replicasets",
    "events", "configmaps", "secrets", "statefulsets", "jobs", "cronjobs", "replicationcontrollers",
    "persistentvolumeclaims", "persistentvolumes", "pods/log",
})


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
    the cluster's etcd throughput (``Cluster.etcd_throughput_bytes_per_s``); at 1 the storm's
    LISTs wait for etcd past their timeout (``storm_etcd_s``: seconds of the whole etcd the
    storm needs). ``etcd_range_bytes``: bytes of range responses the cluster's etcd serves at
    the change's peak (every apiserver replica's LISTs from etcd: :func:`_etcd_range_bytes`);
    ``etcd_memory_fraction``: one etcd member's memory then over its memory
    (:func:`waveguard.model.etcd.member_memory_fraction`; ≥ 1: OOM-kill, leader lost).
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
    etcd_range_bytes: int = 0
    etcd_memory_fraction: float = 0.0


@dataclass
class _Demand:
    """What the replicas of one profile ask of one cluster, summed over its request classes.

    Seat-seconds (``storm``: all start LISTs once; ``steady``: per second), bytes (``storm_bytes``
    sent, ``storm_etcd`` / ``steady_etcd`` read from etcd, per second for steady), fan-out
    events per second; ``start_*``: what ONE client's start requests hold (seats, memory bytes,
    etcd bytes, apiserver seconds); ``steady_memory``: bytes the steady (periodic, per-event)
    requests hold at once over all replicas, by Little's law (requests/s × the apiserver seconds
    each holds its memory × its memory bytes), and ``steady_costs`` their costs (for the
    densest-seat bound); ``watchers_added``: watches per resource the profile adds
    (cluster or namespace scope) for the writers' extra seats; ``etcd_reads``: the classes read
    from etcd, as (cost, starting clients, None) for a start LIST and (cost, 0, requests/s) for
    a steady one."""

    steady: float = 0.0
    storm: float = 0.0
    storm_bytes: float = 0.0
    fanout: float = 0.0
    storm_etcd: float = 0.0
    steady_etcd: float = 0.0
    start_seats: float = 0.0
    start_memory: float = 0.0
    start_etcd: float = 0.0
    start_apiserver_s: float = 0.0
    steady_memory: float = 0.0
    list_seats: int = 0
    watchers_added: dict[str, float] = field(default_factory=dict)
    starts: list[tuple[RequestCost, float]] = field(default_factory=list)
    steady_costs: list[RequestCost] = field(default_factory=list)
    etcd_reads: list[tuple[RequestCost, float, float | None]] = field(default_factory=list)

    def add(self, rc: RequestClass, clients: float, cost: RequestCost, profile: RequestProfile,
            cluster: Cluster) -> None:
        """Add ``clients`` clients sending request class ``rc`` (costing ``cost`` each)."""
        if rc.verb == "list":
            self.list_seats = max(self.list_seats, cost.seats)
        if rc.trigger == "start":
            self.storm += clients * cost.seat_seconds
            self.storm_bytes += clients * cost.response_bytes
            self.storm_etcd += clients * cost.etcd_bytes
            self.start_seats += cost.seats
            self.start_memory += cost.memory_bytes
            self.start_etcd += cost.etcd_bytes
            self.start_apiserver_s += cost.apiserver_s
            self.starts.append((cost, clients))
            if cost.etcd_bytes:
                self.etcd_reads.append((cost, clients, None))
        elif rc.trigger in ("periodic", "per_event"):
            rate = request_rate(rc, profile, cluster, clients)  # the simulator's rate too (model.load)
            self.steady += rate * cost.seat_seconds
            self.steady_etcd += rate * cost.etcd_bytes
            if cost.memory_bytes and rate > 0:
                self.steady_memory += rate * cost.apiserver_s * cost.memory_bytes
                self.steady_costs.append(cost)
            if cost.etcd_bytes:
                self.etcd_reads.append((cost, 0.0, rate))
        elif rc.verb == "watch":
            self.fanout += clients * events_per_watcher(rc, cluster)
            if rc.scope in ("cluster", "namespace"):
                share = 1.0 / scope_divisor(rc.scope, cluster, rc.resource)
                self.watchers_added[rc.resource] = self.watchers_added.get(rc.resource, 0.0) + clients * share
            # node-filtered pod watches are indexed: ~one watcher per write, already counted
            # for the kubelet; other node-scoped watches are not modelled as interested.

    def writer_extra(self, cluster: Cluster) -> float:
        """Extra seat-seconds per second the cluster's writers pay for the added watchers."""
        extra = 0.0
        for resource, added in self.watchers_added.items():
            base = baseline_watchers(resource, cluster)
            per_write = writer_extra_seat_seconds(base + added) - writer_extra_seat_seconds(base)
            extra += cluster.write_rate(resource) * per_write
        return extra


def _demand(profile: RequestProfile, cluster: Cluster, clients: float, max_seats: int) -> _Demand:
    demand = _Demand()
    for rc in profile.classes:
        n = sending_clients(rc, clients)
        if n > 0:
            demand.add(rc, n, request_cost(rc, cluster, max_seats), profile, cluster)
    return demand


def _exact_seats(cost: RequestCost) -> float:
    """The seats of ``cost`` before APF rounds them up, in 1..its seats (rounded up, memory per
    seat would be a saw-tooth: 101 objects holding 2 seats); 1 for a request that is not a LIST."""
    return cost.exact_seats or 1.0


def _held_seats(cost: RequestCost) -> float:
    """:func:`_exact_seats`, but a paginated LIST holds one page: its objects / 100 (an upper
    bound on memory — its estimate may count all stored objects — that never falls with them)."""
    if not cost.page_objects:
        return _exact_seats(cost)
    return min(max(1.0, cost.page_objects / C.APF_OBJECTS_PER_SEAT), float(cost.seats))


def _class_memory(cost: RequestCost, clients_per_replica: float, seats_per_replica: float, replicas: int) -> float:
    """Bytes one start request class holds at once on one replica in a storm: every starting
    client's, at most as many as the level's seats admit with it alone; its pages from etcd at
    most as many as etcd answers while one is decoded (ETCD_READ_BYTES_PER_S / etcd_page_bytes
    largest pages a second over all replicas, each held ``etcd_page_s``: Little's law; ≥ 1)."""
    concurrent = min(float(clients_per_replica), seats_per_replica / _held_seats(cost))
    if not cost.etcd_page_bytes:
        return concurrent * cost.memory_bytes
    from_etcd = min(concurrent, max(1.0, C.ETCD_READ_BYTES_PER_S / cost.etcd_page_bytes / replicas
                                    * cost.etcd_page_s))
    return max(concurrent * cost.cache_memory_bytes, from_etcd * cost.etcd_page_memory_bytes)


def _peak_memory_bytes(demand: _Demand, cluster: Cluster, capacity: int, baseline: int) -> int:
    """Peak memory of one apiserver replica while the storm runs; the Go heap grows to
    GO_HEAP_GROWTH_FACTOR × the live garbage before it is collected (as in the simulator).

    The live bytes are the smaller of two upper bounds of what the replica's in-flight
    requests hold: (a) every start request class on its own (:func:`_class_memory`, with the
    level's ``capacity``, nominal + borrowable over all replicas), summed over the classes, each
    with the clients that send it (a leader-only class: one, on one replica), plus the replica's
    share of what the steady requests hold (``_Demand.steady_memory``: the simulator holds every
    flow's memory while it executes, polling LISTs too); (b) the level's seats all held by the
    class with the most memory per seat. Both only grow when a client
    gains a request, returns more objects or has more replicas (a count of clients from one
    sum of seats did not: a few 1-seat LISTs cut the admitted clients, and the memory, by half)."""
    costs = [cost for cost, _ in demand.starts] + demand.steady_costs
    if not costs:
        return baseline
    replicas = cluster.replicas
    seats_per_replica = capacity / replicas
    summed = sum(_class_memory(cost, math.ceil(n / replicas), seats_per_replica, replicas) for cost, n in demand.starts)
    summed += demand.steady_memory / replicas
    densest = seats_per_replica * max(cost.memory_bytes / _held_seats(cost) for cost in costs)
    return baseline + int(min(summed, densest) * C.GO_HEAP_GROWTH_FACTOR)


def _etcd_range_bytes(demand: _Demand, capacity: int, etcd_util: float) -> float:
    """Bytes of range responses the cluster's etcd serves at once at the change's peak: the
    requests of each class read from etcd that are in flight there (kube-apiserver holds their
    seats while it waits: :mod:`waveguard.sim.etcd`), each holding its whole response
    (``RequestCost.etcd_bytes``, as the simulator's ``EtcdPhase.range_bytes_held``). All
    apiserver replicas share the cluster's etcd, so the counts are per cluster. By Little's law
    a class has (requests arriving) × (time each waits) in flight: a start LIST's every starting
    client at once; a steady class its rate × :func:`waveguard.model.etcd.range_wait_s` (one
    member's link stretched by how busy etcd is, ``etcd_util``; the client timeout once ≥ 1) — at
    most as many as the level's seats (``capacity``, nominal + borrowable, all replicas) admit
    with the class alone. The classes are summed without a joint seat bound: the simulator sends
    an informer's start LISTs as one relist of their bytes together, holding one LIST's seats, so
    a joint bound by seats would undercount it (and a sum never falls when an agent gains a
    LIST)."""
    if not demand.etcd_reads or not capacity:
        return 0.0
    summed = 0.0
    for cost, clients, rate in demand.etcd_reads:
        arriving = clients if rate is None else rate * range_wait_s(cost.etcd_bytes, cost.pages, etcd_util)
        summed += min(arriving, capacity / _exact_seats(cost)) * cost.etcd_bytes
    return summed


def combined_etcd_memory_fraction(loads: Iterable[ClusterLoad], cluster: Cluster) -> float:
    """One etcd member's memory over its own when the LISTs from etcd of several workloads of
    a change (their :class:`ClusterLoad` on ``cluster``) peak together: one etcd serves them all."""
    return member_memory_fraction(cluster, sum(load.etcd_range_bytes for load in loads))


def _rejected_share(demand: _Demand, clients: float, replicas: int, capacity: int, queued_per_replica: float) -> float:
    """Share of a simultaneous start rejected with 429: each replica queues at most
    ``queued_per_replica`` (:func:`start_queue_capacity`), plus what executes."""
    start_seats = demand.start_seats
    admitted = replicas * (queued_per_replica + (capacity / replicas / start_seats if start_seats else 0))
    return max(0.0, 1.0 - admitted / clients) if start_seats and clients else 0.0


def start_queue_capacity(profile: RequestProfile, level: str, apf: APFConfig = DEFAULT_APF) -> float:
    """Requests of ``profile``'s start storm one apiserver queues in ``level`` before 429
    (model.apf ``queue_capacity`` of its ``flows_of``: one ServiceAccount is one flow, unless its
    FlowSchema is ByNamespace and its start requests namespaced), as the simulator's flows."""
    subject, namespaced = subject_of(profile), any(r.trigger == "start" and r.scope == "namespace" for r in profile.classes)
    return queue_capacity(apf.level(level), flows_of(apf.classify(subject, "list", "pods"), subject,
                                                     distinct_users=False, namespaced=namespaced))


def project(profile: RequestProfile, cluster: Cluster, apf: APFConfig = DEFAULT_APF, *,
            node_share: float = 1.0, level: str | None = None, baseline_memory: int | None = None) -> ClusterLoad:
    """Cost ``profile`` on ``cluster``: the figures of :class:`ClusterLoad` and a verdict.

    ``node_share`` (0..1): the share of nodes running a per-node profile (a DaemonSet wave).
    ``level`` (the profile's priority level) and ``baseline_memory`` (the cluster's
    :func:`baseline_memory_bytes`) may be passed in when projecting many pairs, to compute
    them once."""
    level = level or priority_level_of(profile, apf)
    replicas, seats = cluster.replicas, cluster.server_seats  # a replica's seats: its inflight flags
    nominal = apf.nominal_seats(seats)[level]
    borrowable = apf.borrowable_seats(level, seats) if cluster.version_tuple >= C.APF_BORROWING_SINCE else 0
    capacity = (nominal + borrowable) * replicas
    clients = running_clients(profile, cluster, node_share)
    demand = _demand(profile, cluster, clients, apf.max_seats_per_request(level, seats, list_seats_limit(cluster)))
    steady, storm = demand.steady, demand.storm
    writer_extra = demand.writer_extra(cluster)

    drain_s = storm / capacity if capacity else math.inf
    level_util = (steady / capacity if capacity else math.inf) + storm / (capacity * C.CLIENT_TIMEOUT_S)
    server_util = (steady + writer_extra + storm / C.CLIENT_TIMEOUT_S) / (seats * replicas)
    # The cluster's etcd, shared by every replica's LISTs from etcd (as in the simulator).
    etcd_read = cluster.etcd_throughput_bytes_per_s
    storm_etcd_s = demand.storm_etcd / etcd_read
    etcd_util = demand.steady_etcd / etcd_read + storm_etcd_s / C.CLIENT_TIMEOUT_S
    etcd_range = _etcd_range_bytes(demand, capacity, etcd_util)
    etcd_memory = member_memory_fraction(cluster, etcd_range)
    if baseline_memory is None:
        baseline_memory = baseline_memory_bytes(cluster)
    peak_memory = _peak_memory_bytes(demand, cluster, capacity, baseline_memory)
    memory_share = peak_memory / cluster.memory_limit_bytes
    rejected_share = _rejected_share(demand, clients, replicas, capacity, start_queue_capacity(profile, level, apf))

    verdict, reasons = verdict_for(level, level_util, server_util, memory_share, drain_s, rejected_share,
                                   etcd_util=etcd_util, etcd_s=storm_etcd_s, etcd_memory=etcd_memory)
    return ClusterLoad(
        cluster=cluster.name, nodes=cluster.nodes, replicas=round(clients), apiserver_replicas=replicas,
        priority_level=level, level_seats=nominal * replicas, level_capacity_seats=capacity,
        steady_seat_seconds_per_s=steady, storm_seat_seconds=storm, storm_drain_s=drain_s,
        storm_bytes=int(demand.storm_bytes), storm_peak_memory_bytes=peak_memory,
        memory_limit_bytes=cluster.memory_limit_bytes, fanout_events_per_s=demand.fanout,
        writer_extra_seat_seconds_per_s=writer_extra, list_seats=demand.list_seats,
        rejected_share=rejected_share, level_utilisation=level_util, server_utilisation=server_util,
        memory_share=memory_share, verdict=verdict, reasons=reasons, storm_etcd_bytes=int(demand.storm_etcd),
        storm_etcd_s=storm_etcd_s, etcd_utilisation=etcd_util, etcd_range_bytes=int(etcd_range),
        etcd_memory_fraction=etcd_memory,
    )


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


__all__ = [
    "GROWS_WITH_NODES", "OVERLOAD_UTILISATION", "WARNING_MEMORY_SHARE", "WARNING_UTILISATION", "ClusterLoad",
    "RequestCost", "Scaling", "Verdict", "baseline_memory_bytes", "baseline_watchers",
    "combined_etcd_memory_fraction", "combined_storm_memory_bytes", "events_per_watcher", "objects_returned",
    "priority_level_of", "project", "request_cost", "scaling_class", "scope_divisor", "served_from", "subject_of",
    "verdict_for", "watch_cache_bytes", "writer_extra_seat_seconds",
]
