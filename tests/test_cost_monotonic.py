"""The projection never lowers a cluster's seats or memory when an agent asks for more: a
property test (hypothesis) over requests, objects and nodes, on a fixed control plane
(apiserver replicas and memory held: a larger cluster's larger control plane is another
variable). Issue 13: adding list/watch on three small resources to kured's role used to move
its projected overload from 750 to 3,500 nodes."""

from __future__ import annotations

from hypothesis import given, settings
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


#: A version on each side of every read-path gate that changes a LIST's route or seats
#: (model.versions): ConsistentListFromCache 1.31, ListFromCacheSnapshot and the size-based
#: estimate 1.34, streaming encoding 1.33.
VERSIONS = st.sampled_from(["1.30", "1.31", "1.33", "1.34"])


def _cluster(nodes: int, pods_per_node: int = 30, version: str = "1.30", **objects: int) -> Cluster:
    return Cluster(name="c", nodes=nodes, pods=nodes * pods_per_node, apiserver_replicas=3,
                   apiserver_memory_bytes=64 * 2**30, objects=objects, kubernetes_version=version)


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
       max_size=3), nodes=st.integers(1, 8000), per_node=st.booleans(), version=VERSIONS)
def test_more_requests_never_cost_less(base, extra, nodes, per_node, version):
    cluster = _cluster(nodes, version=version)
    before = project(_profile([c for group in base for c in group], per_node), cluster)
    after = project(_profile([c for group in base + extra for c in group], per_node), cluster)
    _assert_not_lower(before, after)


@settings(max_examples=150, deadline=None)
@given(classes=st.lists(request_classes(("cluster", "node")), min_size=1, max_size=4), nodes=st.integers(1, 4000),
       more=st.integers(1, 4000), per_node=st.booleans(), version=VERSIONS)
def test_more_nodes_never_cost_less(classes, nodes, more, per_node, version):
    """Cluster-wide and node-scoped requests (one namespace's share of the objects may fall when
    a larger cluster is given more namespaces: Cluster.namespaces grows in steps)."""
    flat = [c for group in classes for c in group]
    profile = _profile(flat, per_node)
    _assert_not_lower(project(profile, _cluster(nodes, version=version)),
                      project(profile, _cluster(nodes + more, version=version)))


@settings(max_examples=150, deadline=None)
@given(classes=st.lists(request_classes(("cluster", "node")), min_size=1, max_size=4), nodes=st.integers(1, 3000),
       pods=st.integers(1, 60), more=st.integers(1, 60), objects=st.integers(0, 50_000),
       more_objects=st.integers(0, 50_000), version=VERSIONS)
def test_more_objects_never_cost_less(classes, nodes, pods, more, objects, more_objects, version):
    """More pods per node and more objects (a namespace-scoped request reads one namespace's
    share, which the namespace count derived from the cluster changes: left out)."""
    flat = [c for group in classes for c in group]
    profile = _profile(flat, True)
    small = _cluster(nodes, pods, version, services=objects, configmaps=objects, replicasets=objects)
    large = _cluster(nodes, pods + more, version, services=objects + more_objects, configmaps=objects + more_objects,
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


def test_cache_list_with_limit_is_one_model():
    """The counterexample hypothesis found when a resourceVersion="0" LIST with a limit was costed
    with seats over every stored object but the memory of one page: two such pod LISTs and one
    of nodes; doubling the nodes lowered the projected storm peak memory. The watch cache ignores
    the limit for resourceVersion="0" (cacher.go ``shouldDelegateList`` up to 1.32,
    ``computeListLimit`` from 1.31: model.work.list_route), so its memory is the whole list."""
    listing = [RequestClass(verb="list", resource=r, scope="cluster", trigger="start", resource_version="0",
                            limit=500, component="test") for r in ("pods", "pods", "nodes")]
    profile = _profile(listing, True)
    _assert_not_lower(project(profile, _cluster(271)), project(profile, _cluster(543)))
