"""Compile clients × clusters into the flow tables the engine steps.

A *flow* is one stream of requests into one APF priority level: a client's steady requests
(periodic, per event) in one level, or a client's informer (re)list bundle (all its start LISTs
and WATCH registrations, sent when an instance starts or its watch broke). The classes only an
elected leader sends get flows and a group of their own (one instance however many replicas run:
:func:`waveguard.model.load.sending_clients`). Request rates are
:func:`waveguard.model.load.request_rate`, the projection's. Seats, service time,
CPU, memory and bytes read from etcd of each request come from
:func:`waveguard.model.cost.request_cost` (``tau`` is the apiserver's part: a request that reads
from etcd first waits for etcd, ``etcd_bytes`` at the cluster's shared etcd throughput — the
engine models that wait); the level from :meth:`APFConfig.classify`; the writer's extra seats from
:func:`waveguard.model.cost.writer_extra_seat_seconds` (vectorised here, checked in the tests).

Arrays are ``(C, F)`` (clusters × flows) unless noted; flows are sorted by level (the engine sums
per level with one matrix product).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from waveguard.model import constants as C
from waveguard.model.apf import APFConfig, flows_of, list_seats_limit, queue_capacity
from waveguard.model.cost import events_per_watcher, baseline_watchers, request_cost
from waveguard.model.fleet import Cluster
from waveguard.model.load import request_rate, sending_clients
from waveguard.model.requests import RequestClass
from waveguard.model.storage import cache_fill_s_by_storage
from waveguard.model.work import not_ready_cache_outcome
from waveguard.sim.bundles import relist_bundle, routes_cold_to_etcd, work_s
from waveguard.sim.clients import SimClient

#: Request scopes as the ``scope`` label of apiserver_request_duration_seconds.
SCOPES = ("resource", "namespace", "cluster")
_SCOPE_OF = {"object": 0, "node": 0, "namespace": 1, "cluster": 2}
#: Stand-in capacity of the exempt level (unlimited in kube-apiserver).
EXEMPT_SEATS = 1.0e12


@dataclass
class FlowSpec:
    """One flow before it is turned into arrays (per-cluster figures are lists over clusters)."""

    name: str
    client: int
    level: str
    relist: bool
    scope: int
    seats: list[float] = field(default_factory=list)
    tau: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    mem: list[float] = field(default_factory=list)
    rate: list[float] = field(default_factory=list)
    pod_write_frac: list[float] = field(default_factory=list)
    etcd_bytes: list[float] = field(default_factory=list)
    etcd_pages: list[float] = field(default_factory=list)
    legacy_seats: list[float] = field(default_factory=list)
    mutating: list[float] = field(default_factory=list)
    leader_replicas: list[float] = field(default_factory=list)
    peak_seats: list[float] = field(default_factory=list)
    leader_gets: list[float] = field(default_factory=list)
    cold_gets: list[float] = field(default_factory=list)
    gets_fill_s: list[float] = field(default_factory=list)
    gets_fill_json_s: list[float] = field(default_factory=list)
    conflict_share: list[float] = field(default_factory=list)
    conflict_rate: list[float] = field(default_factory=list)
    conflict_writers: list[float] = field(default_factory=list)
    leader: bool = False
    fixed: bool = False  # a fixed-replica client (not per node): all replicas run once the change is applied
    # issue 12: read path
    cold: bool = False  #: the relist bundle as a replica whose watch cache is filling serves it


@dataclass
class FlowTable:
    """The compiled flows of a fleet. Units: seats, seconds, CPU seconds, bytes, requests/s."""

    names: list[str]
    client: np.ndarray  # (F,) index into clients
    level: np.ndarray  # (F,) index into APF levels
    scope: np.ndarray  # (F,) index into SCOPES
    relist: np.ndarray  # (F,) bool
    seats: np.ndarray  # (C, F) seats per request
    tau: np.ndarray  # (C, F) apiserver service seconds per request, uncontended (after any etcd wait)
    cpu: np.ndarray  # (C, F) CPU seconds of work per request (stretches when CPU is short)
    mem: np.ndarray  # (C, F) bytes held while the request executes in the apiserver (live heap)
    rate: np.ndarray  # (C, F) requests/s at full rollout (relist flows: 0)
    pod_write_frac: np.ndarray  # (C, F) share of the flow's requests that write a pod
    qcap: np.ndarray  # (F,) requests one replica queues for the flow before 429
    is_change: np.ndarray  # (F,) bool: rate scales with the change's rollout share
    used_levels: np.ndarray  # (Lu,) level index of each used level
    level_pos: np.ndarray  # (F,) position of the flow's level among used levels
    etcd_bytes: np.ndarray  # (C, F) bytes a request reads from etcd before the apiserver works on it
    etcd_pages: np.ndarray  # (C, F) range requests those bytes take (pages of a paginated LIST)
    legacy_seats: np.ndarray  # (C, F) max-in-flight slots a request holds (before 1.20: each LIST one)
    mutating: np.ndarray  # (C, F) share of the flow's requests that are mutating (max-in-flight pool)
    leader_replicas: np.ndarray  # (C, F) a leader-only flow: the client's replicas at full rollout; else 0
    fixed: np.ndarray  # (F,) bool: the flow's client has fixed replicas (a Deployment), not one per node
    peak_seats: np.ndarray  # (C, F) seats a request's concurrent parts hold together (a bundle: all its LISTs')
    leader_gets: np.ndarray  # (C, F) share of the flow's requests that are GETs read from etcd (rv="")
    cold_gets: np.ndarray  # (C, F) share served from the watch cache (rv="0") that a filling one sends to etcd
    gets_fill_s: np.ndarray  # (C, F) seconds a restarted replica takes to fill the caches of those GETs
    gets_fill_json_s: np.ndarray  # (C, F) the same for those of custom resources (stored as JSON)
    conflict_share: np.ndarray  # (C, F) share of the flow's requests that UPDATE one object all its writers share
    conflict_rate: np.ndarray  # (C, F) those updates/s per writer
    conflict_writers: np.ndarray  # (C, F) writers of that object at full rollout


@dataclass
class GroupTable:
    """Informer groups: one per client with start LISTs; its relist flow and populations."""

    client: np.ndarray  # (G,) client index
    flow: np.ndarray  # (G,) index of the group's relist flow
    instances: np.ndarray  # (C, G) running instances at full rollout
    is_change: np.ndarray  # (G,) bool
    backoff: np.ndarray  # (G,) bool
    pod_watchers: np.ndarray  # (C, G) cluster-wide pod watches per synced instance
    deliveries: np.ndarray  # (C, G) watch events/s delivered per synced instance
    leader_replicas: np.ndarray  # (C, G) a leader-only group: the client's replicas at full rollout; else 0
    fixed: np.ndarray  # (G,) bool: the group's client has fixed replicas (a Deployment), not one per node
    # issue 12: read path
    cold_flow: np.ndarray | None = None  # (G,) the group's relist flow on a not-ready watch cache
    cold_rejects: np.ndarray | None = None  # (C, G) bool: a not-ready cache answers the bundle 429


def compile_flows(clients: list[SimClient], clusters: list[Cluster], apf: APFConfig) -> tuple[FlowTable, GroupTable]:
    """Cost every client's requests on every cluster and group them into flows and groups.

    Steady requests of the control plane's own components share one flow per level (they are
    small and never the cause of saturation); CoreDNS, workloads and the change keep theirs."""
    level_index = {l.name: i for i, l in enumerate(apf.levels)}
    specs: dict[tuple[str, str, bool], FlowSpec] = {}
    members: dict[tuple[str, str, bool], list[int]] = {}
    groups: list[dict] = []
    largest = max(clusters, key=lambda c: c.nodes) if clusters else None
    for ci, client in enumerate(clients):
        steady, starts, watches = _split_classes(client)
        for rc in steady:
            level = apf.classify(client.subject, rc.verb, rc.resource).priority_level
            owner = _steady_owner(client) + ("/leader" if rc.leader_only else "")
            key = (owner, level, False)
            specs.setdefault(key, FlowSpec(f"{owner}/{level}", ci, level, False, _SCOPE_OF[rc.scope],
                                           leader=rc.leader_only, fixed=not client.profile.per_node))
            if ci not in members.setdefault(key, []):
                members[key].append(ci)
        for leader in (False, True):  # every replica's informers, then the leader's
            mine = [rc for rc in starts if rc.leader_only == leader]
            if not mine:
                continue
            name = client.name + ("/leader" if leader else "")
            level = _relist_level(client, mine, largest, apf)
            key = (name, level, True)
            specs[key] = FlowSpec(f"{name}/{level}/relist", ci, level, True, max(_SCOPE_OF[rc.scope] for rc in mine),
                                  leader=leader, fixed=not client.profile.per_node)
            members[key] = [ci]
            cold_key = key  # issue 12: read path — a twin flow only where a cold cache sends it to etcd
            if any(routes_cold_to_etcd(rc, c) for rc in mine for c in clusters):
                cold_key = (name + "#cold", level, True)
                specs[cold_key] = FlowSpec(f"{name}/{level}/relist-cold-cache", ci, level, True,
                                           max(_SCOPE_OF[rc.scope] for rc in mine), leader=leader,
                                           fixed=not client.profile.per_node, cold=True)
                members[cold_key] = [ci]
            groups.append({"client": ci, "key": key, "cold_key": cold_key, "leader": leader, "starts": mine,
                           "watches": [rc for rc in watches if rc.leader_only == leader]})
    for key, spec in specs.items():
        for cluster in clusters:
            _cost_into(spec, [clients[i] for i in members[key]], cluster, apf)
            spec.leader_replicas.append(clients[spec.client].instances(cluster) if spec.leader else 0.0)
    ordered = sorted(specs.items(), key=lambda kv: (level_index[kv[1].level], kv[1].client, kv[0][2]))
    flow_index = {key: i for i, (key, _) in enumerate(ordered)}
    table = _table(ordered, clients, apf, level_index)
    gtable = _groups(groups, flow_index, clients, clusters)
    return table, gtable


def _steady_owner(client: SimClient) -> str:
    if client.role in ("kubelet", "controllers", "scheduler"):
        return "control-plane" if client.role != "kubelet" else "kubelet"
    return client.name


def _split_classes(client: SimClient) -> tuple[list[RequestClass], list[RequestClass], list[RequestClass]]:
    steady = [rc for rc in client.profile.classes if rc.trigger in ("periodic", "per_event")]
    starts = [rc for rc in client.profile.classes if rc.trigger == "start"]
    watches = [rc for rc in client.profile.classes if rc.trigger == "held"]
    return steady, starts, watches


def _relist_level(client: SimClient, starts: list[RequestClass], cluster: Cluster | None, apf: APFConfig) -> str:
    """The level of a client's relist bundle: that of its costliest start LIST (seat-seconds on
    the largest cluster)."""
    def weight(rc: RequestClass) -> float:
        return request_cost(rc, cluster).seat_seconds if cluster is not None else 0.0
    top = max(starts, key=weight)
    return apf.classify(client.subject, top.verb, top.resource).priority_level


def _cost_into(spec: FlowSpec, clients: list[SimClient], cluster: Cluster, apf: APFConfig) -> None:
    max_seats = apf.max_seats_per_request(spec.level, cluster.server_seats, list_seats_limit(cluster))
    if spec.relist:
        bundle = relist_bundle(clients[0], cluster, max_seats, spec.leader, spec.cold)
        for attr in ("seats", "tau", "cpu", "mem", "etcd_bytes", "etcd_pages", "legacy_seats", "peak_seats"):
            getattr(spec, attr).append(getattr(bundle, attr))
        for attr in ("rate", "pod_write_frac", "mutating", "leader_gets", "cold_gets", "gets_fill_s",
                     "gets_fill_json_s", "conflict_share", "conflict_rate", "conflict_writers"):
            getattr(spec, attr).append(0.0)
        return
    rates, costs, pod_writes, mutating, gets, shared = [], [], [], [], [], []
    for client in clients:
        for rc in client.profile.classes:
            if rc.trigger not in ("periodic", "per_event") or rc.leader_only != spec.leader:
                continue
            if apf.classify(client.subject, rc.verb, rc.resource).priority_level != spec.level:
                continue
            rates.append(_rate(rc, client, cluster))
            costs.append(request_cost(rc, cluster, max_seats))
            pod_writes.append(rc.mutating and rc.resource == "pods")
            mutating.append(rc.mutating)
            gets.append(rc if rc.verb == "get" or routes_cold_to_etcd(rc, cluster) else None)  # reads etcd
            shared.append((rc, client) if rc.verb == "update" and rc.object_name else None)
    total = sum(rates)
    w = [r / total if total else 1.0 / len(rates) for r in rates]
    spec.rate.append(total)
    seats = sum(wi * c.seats for wi, c in zip(w, costs, strict=True))
    spec.seats.append(seats)
    spec.peak_seats.append(seats)
    # τ weighted by seats, so seats × τ is the classes' mean seat-seconds (the projection's steady
    # seat-seconds per request); a plain mean of τ would pair 1-seat GETs with 10-seat LISTs' τ.
    # A write's τ includes etcd's commit (model.work.request_cost).
    spec.tau.append(sum(wi * c.seats * c.apiserver_s for wi, c in zip(w, costs, strict=True)) / seats)
    spec.cpu.append(sum(wi * work_s(c) for wi, c in zip(w, costs, strict=True)))
    spec.mem.append(sum(wi * c.memory_bytes for wi, c in zip(w, costs, strict=True)))
    spec.pod_write_frac.append(sum(wi for wi, pw in zip(w, pod_writes, strict=True) if pw))
    spec.etcd_bytes.append(sum(wi * c.etcd_bytes for wi, c in zip(w, costs, strict=True)))
    spec.etcd_pages.append(sum(wi * c.pages for wi, c in zip(w, costs, strict=True) if c.etcd_bytes) or 1.0)
    spec.legacy_seats.append(1.0)  # max-in-flight: every (non-WATCH) request holds one slot
    spec.mutating.append(sum(wi for wi, m in zip(w, mutating, strict=True) if m))
    _gets_into(spec, w, gets, cluster)
    _conflicts_into(spec, w, shared, cluster)


def _conflicts_into(spec: FlowSpec, w: list[float], shared: list[tuple[RequestClass, SimClient] | None],
                    cluster: Cluster) -> None:
    """The UPDATEs of the flow that every writer sends to one named object (``object_name``:
    a ConfigMap or Lease all replicas of a DaemonSet update): their share of the flow's requests,
    their rate per writer and the writers at full rollout (the sending instances of the first
    such class's client). Only writers in the same flow are counted against each other; a flow
    without such a class has none, and its updates never conflict (each writer updates objects
    of its own: the profile says nothing else)."""
    named = [(wi, item) for wi, item in zip(w, shared, strict=True) if item is not None]
    if not named:
        spec.conflict_share.append(0.0)
        spec.conflict_rate.append(0.0)
        spec.conflict_writers.append(0.0)
        return
    rc, client = named[0][1]
    writers = float(sending_clients(rc, client.instances(cluster)))
    spec.conflict_share.append(sum(wi for wi, _ in named))
    spec.conflict_rate.append(sum(_rate(r, c, cluster) for _, (r, c) in named) / max(writers, 1.0))
    spec.conflict_writers.append(writers)


def _gets_into(spec: FlowSpec, w: list[float], gets: list[RequestClass | None], cluster: Cluster) -> None:
    """The shares of a steady flow's requests that are GETs needing etcd's leader: with
    resourceVersion="" always (cacher ``Get``: "If resourceVersion is not specified, serve it
    from underlying storage", 1.18–1.35; a linearizable read, etcd's ReadIndex needs a leader),
    with resourceVersion="0" on a replica whose watch cache of that resource is filling (cacher
    ``Get`` up to 1.30: "If Cacher is not yet initialized ... forward the request to storage";
    from 1.31, ResilientWatchCacheInitialization, a GET on a not-ready cache is delegated to
    storage too) — and the seconds that cache takes to fill (the longest of its resources', built-in
    and custom resources apart: :func:`waveguard.model.storage.cache_fill_s_by_storage`). A
    steady resourceVersion="0" LIST that a filling cache forwards to storage
    (:func:`waveguard.sim.bundles.routes_cold_to_etcd`: every one up to 1.30, one paginated
    without selector from 1.31) counts with those GETs: it too needs etcd's leader then."""
    spec.leader_gets.append(sum(wi for wi, g in zip(w, gets, strict=True) if g is not None and g.resource_version == ""))
    spec.cold_gets.append(sum(wi for wi, g in zip(w, gets, strict=True) if g is not None and g.resource_version == "0"))
    fills = cache_fill_s_by_storage(((g.resource, g.api_group) for g in gets
                                     if g is not None and g.resource_version == "0"), cluster)
    spec.gets_fill_s.append(fills[0])
    spec.gets_fill_json_s.append(fills[1])


def _rate(rc: RequestClass, client: SimClient, cluster: Cluster) -> float:
    """Requests/s of class ``rc`` from all instances of ``client`` on ``cluster`` at full
    rollout: the projection's :func:`waveguard.model.load.request_rate`."""
    sending = sending_clients(rc, client.instances(cluster))
    return request_rate(rc, client.profile, cluster, sending, client.rate_scale(cluster))


def _table(ordered, clients: list[SimClient], apf: APFConfig, level_index: dict[str, int]) -> FlowTable:
    specs = [s for _, s in ordered]
    level = np.array([level_index[s.level] for s in specs], dtype=np.int64)
    used = np.unique(level)
    pos = np.searchsorted(used, level)
    qcap = np.array([_queue_capacity(apf, s, clients[s.client]) for s in specs])
    arr = lambda attr: np.array([getattr(s, attr) for s in specs], dtype=np.float64).T.copy()  # noqa: E731
    return FlowTable(
        names=[s.name for s in specs], client=np.array([s.client for s in specs], dtype=np.int64), level=level,
        scope=np.array([s.scope for s in specs], dtype=np.int64), relist=np.array([s.relist for s in specs]),
        seats=arr("seats"), tau=np.maximum(arr("tau"), 1e-6), cpu=arr("cpu"), mem=arr("mem"), rate=arr("rate"),
        pod_write_frac=arr("pod_write_frac"), qcap=qcap,
        is_change=np.array([clients[s.client].role == "change" for s in specs]),
        used_levels=used, level_pos=pos,
        etcd_bytes=arr("etcd_bytes"), etcd_pages=arr("etcd_pages"), legacy_seats=arr("legacy_seats"),
        mutating=arr("mutating"), leader_replicas=arr("leader_replicas"), fixed=np.array([s.fixed for s in specs]),
        peak_seats=arr("peak_seats"), leader_gets=arr("leader_gets"),
        cold_gets=arr("cold_gets"), gets_fill_s=arr("gets_fill_s"),
        gets_fill_json_s=arr("gets_fill_json_s"), conflict_share=arr("conflict_share"),
        conflict_rate=arr("conflict_rate"), conflict_writers=arr("conflict_writers"),
    )


def _queue_capacity(apf: APFConfig, spec: "FlowSpec", client: SimClient) -> float:
    """Requests one replica queues for a flow before 429 (:func:`waveguard.model.apf.
    queue_capacity`) over the APF flows its FlowSchema's distinguisher makes of the client's
    requests (:func:`waveguard.model.apf.flows_of`, as the projection's start storm)."""
    flows = flows_of(apf.classify(client.subject), client.subject, distinct_users=client.distinct_users,
                     namespaced=spec.scope == _SCOPE_OF["namespace"])
    return float(queue_capacity(apf.level(spec.level), flows))


def _groups(groups: list[dict], flow_index: dict, clients: list[SimClient], clusters: list[Cluster]) -> GroupTable:
    replicas = np.array([[clients[g["client"]].instances(c) for g in groups] for c in clusters], dtype=np.float64)
    leader = np.array([g["leader"] for g in groups], dtype=bool)
    inst = np.where(leader, np.minimum(1.0, replicas), replicas)  # model.load.sending_clients
    pod_w = np.array([[_pod_watch_share(g["watches"], c) for g in groups] for c in clusters], dtype=np.float64)
    deliv = np.array([[sum(events_per_watcher(rc, c) for rc in g["watches"]) for g in groups] for c in clusters],
                     dtype=np.float64)
    shape = (len(clusters), len(groups))
    return GroupTable(
        client=np.array([g["client"] for g in groups], dtype=np.int64),
        flow=np.array([flow_index[g["key"]] for g in groups], dtype=np.int64),
        instances=inst.reshape(shape), is_change=np.array([clients[g["client"]].role == "change" for g in groups]),
        backoff=np.array([clients[g["client"]].backoff for g in groups]),
        pod_watchers=pod_w.reshape(shape), deliveries=deliv.reshape(shape),
        leader_replicas=np.where(leader, replicas, 0.0).reshape(shape),
        fixed=np.array([not clients[g["client"]].profile.per_node for g in groups], dtype=bool),
        cold_flow=np.array([flow_index[g["cold_key"]] for g in groups], dtype=np.int64),
        cold_rejects=np.array([[any(not_ready_cache_outcome(rc, c) == "429" for rc in g["starts"]) for g in groups]
                               for c in clusters], dtype=bool).reshape(shape),
    )


def sending_share(share: np.ndarray, leader_replicas: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """Sending instances at node share ``share`` ``(C,)`` over those at full rollout, per flow or
    group ``(X, C)``, as :func:`waveguard.model.load.running_clients` and
    :func:`~waveguard.model.load.sending_clients` count them: a fixed-replica client (``fixed``
    ``(X, 1)``: a Deployment, applied whole wherever the change is applied, as the Kubernetes
    target does) all once ``share`` > 0; a per-node client ``share`` of its replicas, and for its
    leader-only flows and groups (``leader_replicas`` > 0: its replicas at full rollout)
    min(1, share × replicas) — one leader once any replica runs."""
    per_node = np.where(leader_replicas > 0, np.minimum(1.0, share * leader_replicas), share)
    return np.where(fixed, (share > 0).astype(np.float64), per_node)


def _pod_watch_share(watches: list[RequestClass], cluster: Cluster) -> float:
    """Pod watches of one instance that every pod write is sent to (cluster-wide; a namespace
    watch for its share of namespaces). Node-filtered watches are indexed (domain.md §3)."""
    share = 0.0
    for rc in watches:
        if rc.resource != "pods":
            continue
        if rc.scope == "cluster":
            share += 1.0
        elif rc.scope == "namespace":
            share += 1.0 / max(1, cluster.namespaces)
    return share


def baseline_pod_watchers(cluster: Cluster) -> float:
    """Pod watches before any change (control plane and the pod's own kubelet)."""
    return float(baseline_watchers("pods", cluster))


def writer_extra_seat_seconds_vec(watchers: np.ndarray) -> np.ndarray:
    """Vectorised :func:`waveguard.model.cost.writer_extra_seat_seconds`: ceil(W/10) seats ×
    5 ms per write when W ≥ 10 watchers are interested (mutating_work_estimator.go)."""
    extra = np.ceil(watchers / C.APF_WATCHES_PER_SEAT) * C.APF_EVENT_ADDITIONAL_DURATION_S
    return np.where(watchers >= C.APF_WATCHES_PER_SEAT, extra, 0.0)
