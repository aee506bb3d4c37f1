"""Where a LIST with a limit is served, version by version (model.work.list_route), and what
that makes its seats, memory and etcd bytes — in the one function the projection and the
simulator both cost requests with (model.work.request_cost).

No kube-apiserver binary runs here: the contract is the Kubernetes source, read for each rule —
staging/src/k8s.io/apiserver/pkg/storage/cacher/cacher.go ``shouldDelegateList`` (≤ 1.32:
``hasLimit`` needs resourceVersion != "0"), ``computeListLimit`` (1.31+: "the limit is ignored
for requests that set RV == 0"), kubernetes PR #125405 (1.31: a consistent read from the cache
honours the limit, continuations go to etcd), delegator.go ``ShouldDelegateContinue`` with
ListFromCacheSnapshot (beta 1.34), and list_work_estimator.go (``CacheWithoutSnapshots``: a
continuation page is estimated as one from etcd).
"""

from __future__ import annotations

import math

import pytest

from waveguard.model import constants as C
from waveguard.model.fleet import Cluster
from waveguard.model.requests import RequestClass
from waveguard.model.work import ListRoute, list_route, list_seats, reads_etcd, request_cost

PODS = 3000  # stored pods of the test cluster: 6 pages of 500
POD_BYTES = 4096
STORED_POD_BYTES = POD_BYTES * C.PROTOBUF_BYTES_PER_JSON_BYTE  # as etcd holds them (model.storage)


def cluster(version: str) -> Cluster:
    return Cluster(name="c", nodes=100, pods=PODS, kubernetes_version=version,
                   object_bytes={"pods": POD_BYTES})


def lst(**kw) -> RequestClass:
    return RequestClass(**{**dict(verb="list", resource="pods", scope="cluster", trigger="start"), **kw})


@pytest.mark.parametrize("version", ["1.18", "1.30", "1.31", "1.33", "1.34", "1.35"])
def test_rv0_with_a_limit_is_the_whole_list_from_the_cache_on_every_version(version):
    c = cluster(version)
    paged, whole = request_cost(lst(resource_version="0", limit=500), c), request_cost(lst(resource_version="0"), c)
    assert list_route(lst(resource_version="0", limit=500), c) == ListRoute("cache", "cache", False)
    assert paged.pages == 1 and paged.served_from == "cache" and paged.etcd_bytes == 0
    assert paged.memory_bytes == whole.memory_bytes  # the limit changes nothing the cache holds
    assert paged.response_bytes == PODS * POD_BYTES


def test_a_consistent_read_with_a_limit_before_1_31_is_read_page_by_page_from_etcd():
    cost = request_cost(lst(resource_version="", limit=500), cluster("1.30"))
    assert cost.pages == 6 and cost.served_from == "etcd" and cost.etcd_bytes == PODS * STORED_POD_BYTES
    assert cost.seats == 10 and cost.objects_estimated == 2 * 500  # 2 × limit / 100


@pytest.mark.parametrize("version", ["1.31", "1.32", "1.33"])
def test_from_1_31_its_first_page_comes_from_the_cache_and_the_next_pages_from_etcd(version):
    c = cluster(version)
    cost = request_cost(lst(resource_version="", limit=500), c)
    assert list_route(lst(resource_version="", limit=500), c) == ListRoute("cache", "etcd", True)
    assert cost.pages == 6 and cost.served_from == "etcd"
    assert cost.etcd_bytes == 5 * 500 * STORED_POD_BYTES  # every page but the first
    # seats: the first request is estimated from the cache (stored / 100 = 30) and clamped to 10
    assert cost.seats == 10 and cost.objects_estimated == PODS
    # memory: one page, the larger of the cache's and etcd's: etcd's response as stored, then the
    # rest of the multiplier per JSON byte
    multiplier = C.STREAMING_ETCD_LIST_MEMORY_MULTIPLIER if version == "1.33" else C.LIST_FROM_ETCD_MEMORY_MULTIPLIER
    etcd_page = 500 * STORED_POD_BYTES + 500 * POD_BYTES * (multiplier - 1.0)
    assert cost.memory_bytes == int(etcd_page)
    assert reads_etcd(lst(resource_version="", limit=500), c)


@pytest.mark.parametrize("version", ["1.34", "1.35"])
def test_from_1_34_every_page_comes_from_the_cache_snapshot(version):
    c = cluster(version)
    cost = request_cost(lst(resource_version="", limit=500), c, max_seats=30)
    assert list_route(lst(resource_version="", limit=500), c) == ListRoute("cache", "cache", True)
    assert cost.pages == 6 and cost.served_from == "cache" and cost.etcd_bytes == 0
    assert cost.memory_bytes == int(500 * POD_BYTES * C.STREAMING_CACHE_LIST_MEMORY_MULTIPLIER)
    # the estimator still takes a continuation page as one from etcd: limit × etcd's size / 100 kB
    # (11, above the 10 of the first page, which the cache caps at 1 MB)
    assert cost.seats == math.ceil(500 * STORED_POD_BYTES / C.APF_BYTES_PER_SEAT)
    assert not reads_etcd(lst(resource_version="", limit=500), c)


def test_a_consistent_read_that_fits_one_page_reads_nothing_from_etcd_from_1_31():
    rc = lst(resource_version="", limit=5000)
    assert request_cost(rc, cluster("1.31")).etcd_bytes == 0 and not reads_etcd(rc, cluster("1.31"))
    assert request_cost(rc, cluster("1.30")).etcd_bytes == PODS * STORED_POD_BYTES and reads_etcd(rc, cluster("1.30"))


def test_a_filling_cache_delegates_a_paginated_rv0_list_to_etcd_which_honours_the_limit():
    """KEP-4568 (1.31+): delegated when paginated without a selector; etcd pages it. The
    estimator does not know the cache is filling: its first request is estimated as from the
    cache (count-based: every stored object)."""
    c = cluster("1.31")
    rc = lst(resource_version="0", limit=500)
    cost = request_cost(rc, c, source="etcd")
    assert cost.pages == 6 and cost.etcd_bytes == PODS * STORED_POD_BYTES
    assert (cost.seats, cost.objects_estimated) == max(list_seats(rc, c, "cache", 10), list_seats(rc, c, "etcd", 10))


def test_the_memory_of_an_rv0_list_with_a_limit_grows_with_the_objects_as_its_seats_do():
    """The gap hypothesis found (tests/test_cost_monotonic.py): memory per seat never falls."""
    rc = lst(resource_version="0", limit=500)
    small, large = (Cluster(name="c", nodes=n, kubernetes_version="1.30") for n in (271, 543))
    a, b = request_cost(rc, small), request_cost(rc, large)
    assert b.memory_bytes / b.objects_estimated >= a.memory_bytes / a.objects_estimated


@pytest.mark.parametrize("version", ["1.30", "1.34"])
def test_the_simulator_holds_what_the_projection_costs_for_an_rv0_list_with_a_limit(version):
    """The simulator compiles its relist flow from model.work.request_cost: an informer whose
    LIST asks resourceVersion="0" with limit 500 holds the whole list there too, from the cache."""
    from tests.test_versions import INFORMER_AGENT, _agent_group, sim_for
    start = INFORMER_AGENT.classes[0].model_copy(update={"limit": 500})
    sim = sim_for(version, INFORMER_AGENT.model_copy(update={"classes": [start, INFORMER_AGENT.classes[1]]}))
    flow = int(sim.groups.flow[_agent_group(sim)])
    c = sim.clusters[0]
    expected = request_cost(start, c)  # memory does not depend on the level's max seats
    assert sim.flows.mem[0, flow] == pytest.approx(expected.memory_bytes)
    assert sim.flows.etcd_bytes[0, flow] == 0.0
    assert expected.memory_bytes == request_cost(start.model_copy(update={"limit": None}), c).memory_bytes


def test_an_informer_lists_with_its_pagers_limit_so_a_filling_cache_delegates_it_from_1_31():
    """client-go reflector.go keeps the pager's limit (tools/pager defaultPageSize = 500) for
    resourceVersion="0" — "since watch cache is ignoring Limit in that case anyway" — so a cache
    that is filling (KEP-4568, 1.31+) delegates a cluster-wide informer's LIST to etcd; one with
    a selector (a node's pods) is answered 429."""
    from waveguard.model.requests import informer
    from waveguard.model.work import not_ready_cache_outcome
    cluster_wide = informer("pods", "cluster", component="t")[0]
    on_node = informer("pods", "node", component="t")[0]
    assert cluster_wide.limit == C.CLIENT_GO_LIST_PAGE_SIZE == 500 and cluster_wide.resource_version == "0"
    assert request_cost(cluster_wide, cluster("1.31")).pages == 1  # the ready cache ignores the limit
    assert not_ready_cache_outcome(cluster_wide, cluster("1.31")) == "etcd"
    assert not_ready_cache_outcome(on_node, cluster("1.31")) == "429"
    assert not_ready_cache_outcome(cluster_wide, cluster("1.30")) == "etcd"  # rv=0, not ready: etcd
