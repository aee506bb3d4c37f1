"""A client's (re)list bundle as one request of the flow table (:mod:`waveguard.sim.flows`):
its start LISTs and WATCH registrations costed together, and where a replica whose watch cache
is filling sends its LISTs (issue 12, read path). Units: seats, seconds, CPU seconds, bytes."""

from __future__ import annotations

from typing import NamedTuple

from waveguard.model import constants as C
from waveguard.model.cost import request_cost
from waveguard.model.fleet import Cluster
from waveguard.model.requests import RequestClass
from waveguard.model.work import not_ready_cache_outcome, served_from
from waveguard.sim.clients import SimClient


class Bundle(NamedTuple):
    """One instance's (re)list bundle as one request (:func:`relist_bundle`). Units: seats,
    seconds, CPU seconds, bytes; ``legacy_seats``: max-in-flight slots."""

    seats: float
    tau: float
    cpu: float
    mem: float
    etcd_bytes: float
    etcd_pages: float
    legacy_seats: float
    peak_seats: float


def relist_bundle(client: SimClient, cluster: Cluster, max_seats: int, leader: bool = False,
                   cold: bool = False) -> Bundle:
    """One instance's start LISTs and WATCH registrations (those only the leader sends when
    ``leader``, else the others) as one request: its widest seats,
    held for the apiserver's seat-seconds / seats (after the wait for etcd, if any of its LISTs
    reads from etcd: the bytes of all of them, in as many range requests as its most paginated
    one). Memory: the sum of its LISTs' — client-go starts every informer's reflector in its own
    goroutine (``informers/factory.go`` ``Start``: ``go informer.Run``), so their responses are held
    together at the storm's peak, as the projection counts them (``model.cost._peak_memory_bytes``);
    the bundle holds that peak for its whole τ, and as many bundles at once as the level admits
    with ``peak_seats`` (its LISTs' seats together) each; while it waits for etcd it holds the
    part of its range responses that has arrived (the etcd phase counts it:
    :func:`waveguard.model.etcd.receive_buffer_resident_bytes`). ``legacy_seats``: the max-in-flight slots it holds
    (each LIST one, WATCHes none, as slot-seconds / tau). ``cold``: as a replica whose watch
    cache is filling serves it: its LISTs that such a replica sends to etcd
    (:func:`routes_cold_to_etcd`) are costed from etcd, with the seats APF gave them — the
    estimate of the LIST from the cache: the estimator decides the source from the request
    alone (``list_work_estimator.go``: ``isListFromCache`` is ``!shouldListFromStorage``, which
    for resourceVersion="0" is the cache whatever its readiness)."""
    seat_s = cpu = mem = etcd_bytes = list_s = peak_seats = 0.0
    seats = etcd_pages = 1.0
    for rc in client.profile.classes:
        if rc.trigger not in ("start", "held") or rc.leader_only != leader:
            continue
        etcd = cold and routes_cold_to_etcd(rc, cluster)
        cost = request_cost(rc, cluster, max_seats, source="etcd" if etcd else None)
        held = request_cost(rc, cluster, max_seats).seats if etcd else cost.seats  # APF's estimate
        busy = cost.apiserver_s
        seat_s += held * busy
        cpu += work_s(cost)
        mem += cost.memory_bytes
        seats = max(seats, float(held))
        etcd_bytes += cost.etcd_bytes
        if cost.etcd_bytes:
            etcd_pages = max(etcd_pages, float(cost.pages))
        if rc.verb != "watch":
            list_s += busy
            peak_seats += held
    tau = seat_s / seats
    legacy = max(1.0, list_s / tau) if tau else 1.0
    return Bundle(seats, tau, cpu, mem, etcd_bytes, etcd_pages, legacy, max(peak_seats, seats))


def routes_cold_to_etcd(rc: RequestClass, cluster: Cluster) -> bool:
    """The simulator sends start LIST ``rc`` to etcd when it reaches a replica of ``cluster``
    whose watch cache is filling: a LIST served from the cache when it is ready that a not-ready
    cache delegates (:func:`waveguard.model.work.not_ready_cache_outcome`; k8s
    staging/src/k8s.io/apiserver/pkg/storage/cacher/cacher.go ``GetList``) — up to 1.30 every
    resourceVersion="0" LIST that is not a WatchList ("If Cacher is not yet initialized ...
    simply forward the request to storage"), from 1.31 (ResilientWatchCacheInitialization) only
    a paginated one without selector. Only (re)list bundles are routed to their twin flow. A
    steady GET with resourceVersion="0" that reaches a filling cache also goes to etcd (cacher
    ``Get``), and so does a steady LIST for which this returns True: both wait for etcd's leader
    then, and fail with 500 without one (``flows._gets_into``, ``phases.common.
    leader_wait_share``), but are costed as from the cache (a GET is one object; a steady LIST's
    etcd read, and from 1.31 the 429 an unpaginated one gets, are not modelled: docs/simulator.md)."""
    return (rc.verb == "list" and served_from(rc, cluster) == "cache"
            and not_ready_cache_outcome(rc, cluster) == "etcd")


def work_s(cost) -> float:
    """CPU seconds of a request's work: its apiserver time beyond the fixed per-page latency
    (the wait for etcd is not apiserver CPU)."""
    return max(0.0, cost.apiserver_s - cost.pages * C.REQUEST_BASE_S)
