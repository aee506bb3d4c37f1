"""Work estimation: what ONE request costs kube-apiserver on one cluster (seats, service time,
bytes, memory), and the watchers and events around it. The per-cluster projection of a whole
profile built on it is :mod:`waveguard.model.cost`.

It implements the APF work estimators (domain.md §2–3):

* LIST seats = clamp(ceil(objects / 100), 1, maxSeats), objects = stored count from the watch
  cache; stored + limit from etcd with a selector; 2 × limit from etcd without one
  (``list_work_estimator.go``);
* a write with W ≥ 10 interested watchers holds ceil(W / 10) extra seats for 5 ms after the
  response, charged to the writer (``mutating_work_estimator.go``); watches filtered by
  ``spec.nodeName`` are indexed for pods and count as one (``watch_tracker.go``
  builtin index);

and adds service time and memory from :mod:`waveguard.model.constants` (each constant's source
is given there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from waveguard.model import constants as C
from waveguard.model.fleet import Cluster
from waveguard.model.requests import RequestClass, Scope


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


def scope_divisor(scope: Scope, cluster: Cluster, resource: str) -> int:
    """Into how many equal parts a request's ``scope`` cuts the objects (and the writes) of
    ``resource`` on ``cluster``: cluster-wide 1, one namespace the namespaces, one node the
    nodes, one object by name the stored objects; never 0. The one scope → divisor dispatch of
    the cost model (objects a LIST returns, events a watch receives, watchers a write has)."""
    if scope == "namespace":
        return max(1, cluster.namespaces)
    if scope == "node":
        return cluster.nodes or 1
    if scope == "object":
        return max(1, cluster.object_count(resource))
    return 1


def objects_returned(rc: RequestClass, cluster: Cluster) -> float:
    """Objects one request returns, before pagination: its scope's share of the stored objects
    (:func:`scope_divisor`), except that a request by name returns one object, pods on one
    node are counted from the pod count (``Cluster.objects_per_node``), and a node filter on
    any other resource narrows nothing (only pods are bound to a node)."""
    stored = cluster.object_count(rc.resource)
    if rc.scope == "object":
        return 1
    if rc.scope == "node":
        return cluster.objects_per_node(rc.resource) if rc.resource == "pods" else stored
    return stored / scope_divisor(rc.scope, cluster, rc.resource)


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
    if rc.verb == "get" and rc.scope != "object":
        return _gets_of_scope(rc, cluster, size)
    # GET and writes: one object, one seat.
    return RequestCost(seats=1, service_s=C.REQUEST_BASE_S + size * C.ENCODE_S_PER_BYTE, pages=1,
                       objects_estimated=1, response_bytes=size, memory_bytes=size, served_from="n/a")


def _gets_of_scope(rc: RequestClass, cluster: Cluster, size: int) -> RequestCost:
    """A GET class whose scope is wider than one object: one client GETs every object of its
    scope by name, one after another (Fluent Bit's kubernetes filter looks up each pod on its
    node when it starts: fluent-bit plugins/filter_kubernetes/kube_meta.c, the lookup is
    synchronous on the pipeline thread). Costed as one request that holds one seat for the sum
    of their times: ``pages`` is the number of GETs, ``response_bytes`` their sum,
    ``memory_bytes`` one object (one response at a time)."""
    gets = max(1, math.ceil(objects_returned(rc, cluster)))
    return RequestCost(seats=1, service_s=gets * (C.REQUEST_BASE_S + size * C.ENCODE_S_PER_BYTE), pages=gets,
                       objects_estimated=gets, response_bytes=gets * size, memory_bytes=size, served_from="n/a")


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


def events_per_watcher(rc: RequestClass, cluster: Cluster) -> float:
    """Write events per second one watch of class ``rc`` receives on ``cluster``: the
    resource's writes over :func:`scope_divisor`."""
    return cluster.write_rate(rc.resource) / scope_divisor(rc.scope, cluster, rc.resource)
