"""Work estimation: what ONE request costs kube-apiserver on one cluster (seats, service time,
bytes, memory), and the watchers and events around it. The per-cluster projection of a whole
profile built on it is :mod:`waveguard.model.cost`.

It implements the APF work estimators (domain.md §2–3):

* where a LIST is served and whether its limit is honoured (:func:`list_route`: the cacher's
  ``shouldDelegateList`` / delegator, by version; a resourceVersion="0" LIST gets the whole
  list from the cache whatever its limit);
* LIST seats (``staging/src/k8s.io/apiserver/pkg/util/flowcontrol/request/
  list_work_estimator.go``), version by version (:mod:`waveguard.model.versions`): before 1.34
  by object count, clamp(ceil(objects / 100), 1, maxSeats), objects = stored count from the
  watch cache, stored + limit from etcd with a selector, 2 × limit from etcd without one; from
  1.34 (SizeBasedListCostEstimate) by bytes loaded, ceil(bytes / 100,000), bytes = objects ×
  average size, objects = min(limit, stored) (from etcd with a selector max(that, stored / 2)),
  capped at 1,000,000 bytes when served from the cache (streamed); a LIST of one named object
  (a ``metadata.name`` field selector becomes the request's name: endpoints/handlers/get.go) is
  one object; a WATCH with initial events (WatchList) is estimated like the LIST from cache;
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
from waveguard.model.etcd import commit_s
from waveguard.model.fleet import Cluster
from waveguard.model.requests import RequestClass, Scope
from waveguard.model.storage import decode_s_per_json_byte, etcd_list_memory_bytes, etcd_read_s, stored_object_bytes
from waveguard.model.versions import Features, features_for


@dataclass(frozen=True, slots=True)
class RequestCost:
    """Cost of one request on one cluster (a plain dataclass: it is built in hot loops).

    seats: APF seats held while it executes; service_s: seconds it executes (all pages) when
    it has the apiserver and etcd to itself; pages: requests it takes (paginated LISTs);
    response_bytes: bytes sent; memory_bytes: peak bytes the apiserver holds for it;
    served_from: "cache" | "etcd" | "n/a" ("etcd" when any of its pages is read from etcd);
    etcd_bytes: bytes it reads from etcd (all pages; 0 unless served from etcd), as stored
    (:func:`waveguard.model.storage.stored_object_bytes`; ``response_bytes`` is JSON, as served).

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
    #: largest page from etcd: bytes read (stored), bytes held, apiserver seconds (decode, encode, latency)
    etcd_page_bytes: int = 0
    etcd_page_memory_bytes: int = 0
    etcd_page_s: float = 0.0
    cache_memory_bytes: int = 0  #: bytes held for a page served from the cache (0: none)
    page_objects: int = 0  #: objects in one full page of a paginated LIST (0: one response)
    exact_seats: float = 0.0  #: its APF estimate before rounding up, in 1..seats (0: not a LIST)

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


def features_of(cluster: Cluster) -> Features:
    """The read-path features of ``cluster``'s Kubernetes version (:func:`features_for`)."""
    return features_for(cluster.version_tuple)


@dataclass(frozen=True, slots=True)
class ListRoute:
    """Where a replica with a ready watch cache serves one LIST, page by page.

    first: the source of the first (or only) request; rest: the source of its continuation
    pages (requests with a ``continue`` token); paged: the server honours the ``limit`` (a page
    of ``limit`` objects per request), else the whole list comes back in one response."""

    first: Literal["cache", "etcd"]
    rest: Literal["cache", "etcd"]
    paged: bool


def list_route(rc: RequestClass, cluster: Cluster, forced: Literal["cache", "etcd"] | None = None,
               watch_list: bool = False) -> ListRoute:
    """How a LIST of class ``rc`` is served on ``cluster``, version by version. k8s:
    staging/src/k8s.io/apiserver/pkg/storage/cacher — cacher.go ``shouldDelegateList`` and
    ``GetList`` (up to 1.32), delegator.go ``GetList`` / ``shouldDelegateList`` (1.33+), cacher.go
    ``computeListLimit``:

    * resourceVersion="0": the watch cache, and it ignores the limit in every version — up to 1.30
      ``hasLimit := pred.Limit > 0 && resourceVersion != "0"`` keeps it in the cache, which
      applies no limit; from 1.31 ``computeListLimit`` ("the limit is ignored for requests that
      set RV == 0") — so the whole list comes back in one response (KEP-4988 says so too).
    * resourceVersion="" (a consistent read): etcd, page by page, before ConsistentListFromCache
      (1.31). From 1.31 the cache serves it (kubernetes PR #125405, "consistent read from cache
      supports limit": a page of ``limit`` objects and a continue token); a continuation page
      goes to etcd (``hasContinuation`` / delegator "Continue") until ListFromCacheSnapshot
      (beta 1.34) serves it from the cache's snapshot at that revision. 1.33.0–1.33.2 sent the
      first page to etcd too (issue #132132, fixed in 1.33 by the cherry-pick #132337): the
      fixed release is modelled.
    * a WatchList start: the cache, events one by one (no pages).

    * a resourceVersion N ("not-older-than", "exact": measured from audit logs): the cache
      without a limit; with one etcd up to 1.32 and as "" from 1.33; "exact" (and N with a limit:
      the legacy exact read) etcd, from 1.34 the cache's snapshot (:meth:`Features.list_source`).

    ``forced`` "etcd": a filling cache delegates the LIST to etcd (:func:`not_ready_cache_outcome`),
    which honours the limit."""
    if forced == "etcd":
        return ListRoute("etcd", "etcd", rc.limit is not None)
    if watch_list or forced == "cache" or rc.resource_version == "0" or uses_watch_list(rc, cluster):
        return ListRoute("cache", "cache", False)
    return ListRoute(*features_of(cluster).list_source(rc.resource_version, rc.limit))


def served_from(rc: RequestClass, cluster: Cluster) -> Literal["cache", "etcd"]:
    """Where a replica whose watch cache is ready serves the first (or only) request of LIST
    ``rc`` (:func:`list_route`): the watch cache for resourceVersion="0" and a WatchList start,
    and for a consistent read (resourceVersion="") from 1.31 (ConsistentListFromCache,
    KEP-2340); etcd for a consistent read before. domain.md §3."""
    return list_route(rc, cluster).first


def reads_etcd(rc: RequestClass, cluster: Cluster) -> bool:
    """Whether any request of LIST ``rc`` reads etcd on ``cluster`` when its cache is ready
    (:func:`list_route`): a consistent read before 1.31, or the continuation pages of a
    paginated one that returns more than a page, before 1.34."""
    route = list_route(rc, cluster)
    more_pages = route.paged and rc.limit is not None and objects_returned(rc, cluster) > rc.limit
    return route.first == "etcd" or (more_pages and route.rest == "etcd")


def uses_watch_list(rc: RequestClass, cluster: Cluster) -> bool:
    """Whether start LIST ``rc`` is sent as a WatchList on ``cluster``: an informer's LIST
    (``rc.watch_list``) whose client turned WatchListClient on, or left it at the client-go
    default (taken as that of the cluster's version: on from 1.35), and a server with WatchList
    on (1.32, and from 1.34). Otherwise client-go falls back to LIST (reflector.go)."""
    if rc.verb != "list" or rc.trigger != "start" or rc.watch_list in ("no", "off"):
        return False
    features = features_of(cluster)
    wants = rc.watch_list == "yes" or features.watch_list_client
    return wants and features.watch_list_server


def not_ready_cache_outcome(rc: RequestClass, cluster: Cluster) -> Literal["cache", "etcd", "429"]:
    """What a replica whose watch cache is still filling (after a (re)start) does with LIST
    ``rc``. k8s: staging/src/k8s.io/apiserver/pkg/storage/cacher (``GetList``,
    ``shouldDelegateListOnNotReadyCache``): up to 1.30 a resourceVersion="0" LIST is sent to
    etcd ("if Cacher is not yet initialized ... simply forward the request to storage"); with
    ResilientWatchCacheInitialization (on from 1.31, KEP-4568) only a paginated LIST without
    label or field selector is delegated to etcd, any other is rejected with 429 ("storage is
    (re)initializing"); a WATCH (a WatchList) is rejected with 429 from 1.31 too. A LIST that
    is served from etcd anyway stays "etcd"; "cache" is returned for non-LIST requests."""
    if rc.verb not in ("list", "watch"):
        return "cache"
    if rc.verb == "list" and served_from(rc, cluster) == "etcd":
        return "etcd"
    features = features_of(cluster)
    if not features.resilient_watch_cache_init:
        return "etcd" if rc.verb == "list" and not uses_watch_list(rc, cluster) else "cache"
    delegated = rc.verb == "list" and rc.limit is not None and not rc.selector and not uses_watch_list(rc, cluster)
    return "etcd" if delegated else "429"


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


def request_cost(rc: RequestClass, cluster: Cluster, max_seats: int = C.APF_MAX_SEATS_LIMIT,
                 source: Literal["cache", "etcd"] | None = None) -> RequestCost:
    """Seats, service time and memory of one request of class ``rc`` on ``cluster``;
    ``source`` forces where a LIST is served (a not-ready cache sends it to etcd:
    :func:`not_ready_cache_outcome`), None: :func:`served_from`."""
    size = cluster.object_size(rc.resource)
    if rc.verb == "list":
        return _list_cost(rc, cluster, max_seats, size, source)
    if rc.verb == "watch" and rc.watch_list == "yes":
        # A WATCH that asks for its initial events (sendInitialEvents=true: a WatchList seen as
        # such, e.g. in an audit log): list_work_estimator.go estimates it as the LIST from the
        # watch cache, and the events are written one by one from the cache.
        return _list_cost(rc, cluster, max_seats, size, "cache", watch_list=True)
    if rc.verb == "watch":
        # The initial events come from the preceding LIST (informers); the WATCH itself holds
        # one seat only while it registers. Steady cost is fan-out (see project()).
        return RequestCost(seats=1, service_s=C.REQUEST_BASE_S, pages=1, objects_estimated=0,
                           response_bytes=0, memory_bytes=0, served_from="n/a")
    if rc.verb == "get" and rc.scope != "object":
        return _gets_of_scope(rc, cluster, size)
    # GET and writes: one object, one seat; a write holds it until etcd has committed it
    # (model.etcd.commit_s), as the simulator and the projection both count it.
    commit = commit_s(cluster) if rc.mutating else 0.0
    return RequestCost(seats=1, service_s=C.REQUEST_BASE_S + size * C.ENCODE_S_PER_BYTE + commit, pages=1,
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


def list_seats(rc: RequestClass, cluster: Cluster, source: Literal["cache", "etcd"], max_seats: int) -> tuple[int, int]:
    """APF seats of LIST ``rc`` served from ``source``, and the objects the estimate counts
    (list_work_estimator.go ``seatsBasedOnObjectCount`` before 1.34,
    ``seatsBasedOnObjectSize`` from 1.34; see the module docstring). A WatchList start is
    estimated as the LIST from cache. Clamped to 1..``max_seats``."""
    raw, objects = _unrounded_seats(rc, cluster, source)
    return min(max(1, math.ceil(raw)), max_seats), objects


def _unrounded_seats(rc: RequestClass, cluster: Cluster, source: Literal["cache", "etcd"]) -> tuple[float, int]:
    """The estimate of :func:`list_seats` before it is rounded up and clamped, and its objects."""
    stored = cluster.object_count(rc.resource)
    limit = min(rc.limit, stored) if rc.limit else stored
    if rc.scope == "object":  # one named object: requestInfo.Name is set (matchesSingle)
        objects = 1
    elif source == "cache":
        objects = limit if features_of(cluster).size_based_list_cost else stored
    elif not features_of(cluster).size_based_list_cost:
        objects = stored + limit if rc.selector else 2 * limit
    else:
        objects = max(limit, stored // 2) if rc.selector else limit
    if not features_of(cluster).size_based_list_cost:
        return objects / C.APF_OBJECTS_PER_SEAT, objects
    # the average size is etcd's: the sizes of the serialized values the etcd3 store last read
    # (staging/src/k8s.io/apiserver/pkg/storage/etcd3/stats.go statsCache, 1.34–1.35)
    loaded = objects * stored_object_bytes(cluster, rc.resource, rc.api_group)
    if source == "cache":
        loaded = min(loaded, C.APF_CACHE_STREAMING_MAX_BYTES)
    return loaded / C.APF_BYTES_PER_SEAT, objects


def estimated_list_seats(rc: RequestClass, cluster: Cluster, pages: int, max_seats: int,
                         watch_list: bool = False) -> tuple[int, int, float]:
    """Seats, estimated objects and seats before rounding (in 1..seats) APF charges LIST ``rc``
    of ``pages`` requests, held through all of them: the larger of its first request's estimate
    and, when paginated, a continuation page's. The estimator takes the source from the request
    alone (list_work_estimator.go asks ``delegator.ShouldDelegateListMeta`` with
    ``CacheWithoutSnapshots``: it knows neither whether the cache is ready nor its snapshots),
    so the first request is estimated as a ready cache would serve it (:func:`list_route`), and
    a continuation page and an exact resourceVersion (``ShouldDelegateExactRV``) as from etcd."""
    first = "etcd" if rc.resource_version == "exact" else list_route(rc, cluster, watch_list=watch_list).first
    sources: list[Literal["cache", "etcd"]] = [first]
    if pages > 1:
        sources.append("etcd")
    raw, objects = max(_unrounded_seats(rc, cluster, source) for source in sources)
    seats = min(max(1, math.ceil(raw)), max_seats)
    return seats, objects, min(max(1.0, raw), float(seats))


def _list_cost(rc: RequestClass, cluster: Cluster, max_seats: int, size: int,
               forced: Literal["cache", "etcd"] | None = None, watch_list: bool = False) -> RequestCost:
    """One LIST as :func:`list_route` serves it: pages of ``limit`` objects when the server
    honours the limit (else the whole list in one response, as the cache serves
    resourceVersion="0"); memory: the largest page it holds (a whole list unpaged); etcd bytes:
    what its pages served from etcd read (a first page from the cache reads nothing there)."""
    watch_list = watch_list or (forced != "etcd" and uses_watch_list(rc, cluster))
    if watch_list and rc.limit:  # a WatchList is a WATCH: no pages, no limit in its estimate
        rc = rc.model_copy(update={"limit": None})
    route = list_route(rc, cluster, forced, watch_list)
    stored = cluster.object_count(rc.resource)
    returned = objects_returned(rc, cluster)
    page = rc.limit if route.paged and rc.limit and rc.limit < returned else None
    pages = math.ceil(returned / page) if page else 1
    seats, estimated, exact_seats = estimated_list_seats(rc, cluster, pages, max_seats, watch_list)
    # Share of the pages served from each source: all, or the first page from the cache and the
    # continuation pages from etcd (a consistent read 1.31–1.33).
    from_cache = 0.0 if route.first == "etcd" else 1.0 if route.rest == "cache" else 1.0 / pages
    # Work: encode what is returned; scan the cache (pods by spec.nodeName are indexed), or
    # read and decode from etcd everything the selector has to look at.
    indexed = rc.scope == "node" and rc.resource == "pods"
    work_s = returned * size * C.ENCODE_S_PER_BYTE
    memory = cache_memory = etcd_bytes = etcd_page = etcd_page_memory = etcd_page_s = 0.0
    if from_cache:
        scanned = returned if (indexed or not rc.selector) else stored
        work_s += from_cache * scanned * C.CACHE_SCAN_S_PER_OBJECT
        memory = cache_memory = (page or returned) * size * list_memory_multiplier("cache", cluster, watch_list)
    if from_cache < 1.0:
        scanned = stored if rc.selector else returned
        stored_size = stored_object_bytes(cluster, rc.resource, rc.api_group)
        etcd_bytes = (1.0 - from_cache) * scanned * stored_size
        decode = decode_s_per_json_byte(rc.api_group)
        work_s += etcd_read_s(etcd_bytes, (1.0 - from_cache) * scanned * size, decode)
        # a page from etcd holds its objects — every page but the last a full ``limit`` — or,
        # with a selector, its share of what etcd scans for the selector
        held = scanned / pages if rc.selector else (page or returned)
        etcd_page = held * stored_size
        etcd_page_memory = etcd_list_memory_bytes(held * size, etcd_page, list_memory_multiplier("etcd", cluster, False))
        memory = max(memory, etcd_page_memory)
        etcd_page_s = C.REQUEST_BASE_S + held * size * (decode + C.ENCODE_S_PER_BYTE)
    return RequestCost(
        seats=seats, service_s=pages * C.REQUEST_BASE_S + work_s, pages=pages,
        objects_estimated=int(estimated), response_bytes=int(returned * size), memory_bytes=int(memory),
        served_from="cache" if from_cache == 1.0 else "etcd", etcd_bytes=int(etcd_bytes),
        etcd_page_bytes=int(etcd_page), etcd_page_memory_bytes=int(etcd_page_memory), etcd_page_s=etcd_page_s,
        cache_memory_bytes=int(cache_memory), page_objects=int(page or 0) if pages > 1 else 0,
        exact_seats=exact_seats,
    )


def list_memory_multiplier(source: Literal["cache", "etcd"], cluster: Cluster, watch_list: bool) -> float:
    """Bytes an apiserver holds per byte of a LIST response while it serves it. Buffered
    (before 1.33): LIST_FROM_CACHE / LIST_FROM_ETCD_MEMORY_MULTIPLIER. With streaming encoding
    (StreamingCollectionEncodingToJSON/Protobuf, on from 1.33) or a WatchList (events written
    one by one from the cache) the encoded response is no longer held whole:
    STREAMING_*_MEMORY_MULTIPLIER."""
    streamed = watch_list or features_of(cluster).streaming_list_encoding
    if source == "cache":
        return C.STREAMING_CACHE_LIST_MEMORY_MULTIPLIER if streamed else C.LIST_FROM_CACHE_MEMORY_MULTIPLIER
    return C.STREAMING_ETCD_LIST_MEMORY_MULTIPLIER if streamed else C.LIST_FROM_ETCD_MEMORY_MULTIPLIER


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
