"""The cost model against the APF work estimator figures of domain.md §2–3."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from waveguard.model import constants as C
from waveguard.model.apf import DEFAULT_APF, Subject, list_seats_limit
from waveguard.model.cost import (
    priority_level_of, project, request_cost, scaling_class, served_from, writer_extra_seat_seconds,
)
from waveguard.model.fleet import Cluster
from waveguard.model.requests import RequestClass, RequestProfile, informer


def test_nominal_seats_follow_shares():
    nominal = DEFAULT_APF.nominal_seats()
    total = 30 + 40 + 10 + 40 + 100 + 20 + 5
    assert nominal["workload-low"] == math.ceil(600 * 100 / total) == 245
    assert nominal["system"] == math.ceil(600 * 30 / total) == 74
    assert nominal["catch-all"] == 13
    assert nominal["exempt"] == 0


def test_max_seats_per_request():
    # min(10, ceil(0.15 × nominal))
    assert DEFAULT_APF.max_seats_per_request("workload-low") == 10
    assert DEFAULT_APF.max_seats_per_request("leader-election") == math.ceil(0.15 * 25) == 4


def test_default_flow_schemas_route_clients():
    def level(subject):
        return DEFAULT_APF.classify(subject, "list", "pods").priority_level

    assert level(Subject(user="system:node:n1", groups=["system:nodes"])) == "system"
    assert DEFAULT_APF.classify(Subject(user="system:node:n1", groups=["system:nodes"]), "update",
                                "leases").priority_level == "node-high"
    assert level(Subject.service_account("kube-system", "agent")) == "workload-high"
    assert level(Subject.service_account("monitoring", "agent")) == "workload-low"
    assert level(Subject(user="admin", groups=["system:masters"])) == "exempt"
    assert level(Subject(user="system:kube-controller-manager")) == "workload-high"


def test_list_seats_follow_the_work_estimator():
    cluster = Cluster(name="c", nodes=1000)  # 30,000 pods
    from_cache = RequestClass(verb="list", resource="pods", scope="cluster", trigger="start", resource_version="0")
    assert served_from(from_cache, cluster) == "cache"
    assert request_cost(from_cache, cluster).seats == 10  # ceil(30000/100) capped at 10
    tiny = Cluster(name="t", nodes=5, pods=150)
    assert request_cost(from_cache, tiny).seats == 2  # ceil(150/100)
    # a node-filtered LIST still costs the full 10 seats once the cluster has ≥ 1000 pods
    node_filtered = RequestClass(verb="list", resource="pods", scope="node", trigger="start", selector=True)
    assert request_cost(node_filtered, Cluster(name="k", nodes=34)).seats == 10  # 1,020 pods
    # but it returns (and encodes) only the node's pods
    assert request_cost(node_filtered, cluster).response_bytes == 30 * C.OBJECT_BYTES["pods"]


def test_etcd_lists_estimate_stored_plus_limit_or_twice_limit():
    cluster = Cluster(name="c", nodes=10, pods=300, kubernetes_version="1.30")
    paged = RequestClass(verb="list", resource="pods", scope="cluster", trigger="start", resource_version="",
                         limit=50)
    cost = request_cost(paged, cluster)
    assert cost.served_from == "etcd" and cost.objects_estimated == 2 * 50 and cost.pages == 6
    selected = paged.model_copy(update={"selector": True})
    assert request_cost(selected, cluster).objects_estimated == 300 + 50
    # consistent reads come from the cache from v1.31 when unpaginated
    consistent = RequestClass(verb="list", resource="pods", scope="cluster", trigger="start", resource_version="")
    assert served_from(consistent, cluster) == "etcd"
    assert served_from(consistent, cluster.model_copy(update={"kubernetes_version": "1.31"})) == "cache"
    # a LIST from etcd costs more time than the same LIST from the cache
    cached = consistent.model_copy(update={"resource_version": "0"})
    assert request_cost(consistent, cluster).service_s > request_cost(cached, cluster).service_s


def test_writer_pays_for_watchers():
    assert writer_extra_seat_seconds(9) == 0
    assert writer_extra_seat_seconds(10) == 1 * C.APF_EVENT_ADDITIONAL_DURATION_S
    assert writer_extra_seat_seconds(7_511) == 752 * C.APF_EVENT_ADDITIONAL_DURATION_S


def _agent(scope, per_node=True, replicas=1, namespace="telemetry"):
    return RequestProfile(client="DaemonSet/telemetry/agent", agent="test", per_node=per_node, replicas=replicas,
                          namespace=namespace, service_account="agent", classes=informer("pods", scope, component="t"))


def test_scaling_class_comes_from_the_workload_kind():
    assert scaling_class(_agent("cluster")) == "O(nodes²)"
    assert scaling_class(_agent("cluster", per_node=False)) == "O(nodes)"
    assert scaling_class(_agent("node")) == "O(nodes)"
    assert scaling_class(_agent("node", per_node=False)) == "constant"


def test_cluster_wide_daemonset_overloads_large_clusters_only():
    small, large = Cluster(name="s", nodes=50), Cluster(name="l", nodes=7500)
    assert project(_agent("cluster"), small).verdict == "ok"
    load = project(_agent("cluster"), large)
    assert load.verdict == "overload"
    assert load.storm_drain_s > C.CLIENT_TIMEOUT_S
    assert load.fanout_events_per_s == large.pod_writes_per_s * 7500
    assert load.rejected_share > 0.5  # one flow: 300 queued per replica, the rest get 429
    # one Deployment replica doing the same is fine
    assert project(_agent("cluster", per_node=False), large).verdict == "ok"
    assert project(_agent("node"), large).verdict == "ok"


def test_kube_system_service_account_lands_in_workload_high():
    assert priority_level_of(_agent("node", namespace="kube-system")) == "workload-high"
    assert priority_level_of(_agent("node")) == "workload-low"


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=20_000), st.sampled_from(["cluster", "namespace", "node"]))
def test_seats_stay_within_apf_bounds_and_load_grows_with_nodes(nodes, scope):
    cluster = Cluster(name="c", nodes=nodes)
    bigger = Cluster(name="c", nodes=nodes * 2)
    for rc in informer("pods", scope, component="t"):
        seats = request_cost(rc, cluster).seats
        assert 1 <= seats <= C.APF_MAX_SEATS_LIMIT
    a, b = project(_agent(scope), cluster), project(_agent(scope), bigger)
    assert b.storm_seat_seconds >= a.storm_seat_seconds
    assert b.fanout_events_per_s >= a.fanout_events_per_s


def test_a_measured_non_service_account_client_keeps_its_own_identity():
    kubelets = _agent("node").model_copy(update={"user": "system:node:n1", "groups": ["system:nodes"]})
    assert priority_level_of(kubelets) == "system"
    admin = _agent("node").model_copy(update={"user": "alice", "groups": ["system:masters"]})
    assert priority_level_of(admin) == "exempt"


def test_one_scope_divisor_for_objects_events_and_watchers():
    from waveguard.model.cost import events_per_watcher, objects_returned, scope_divisor

    cluster = Cluster(name="c", nodes=400, objects={"namespaces": 40, "configmaps": 800})
    assert [scope_divisor(s, cluster, "configmaps") for s in ("cluster", "namespace", "node", "object")] == \
        [1, 40, 400, 800]
    empty = Cluster(name="e", nodes=0, objects={"namespaces": 0, "configmaps": 0})
    assert [scope_divisor(s, empty, "configmaps") for s in ("cluster", "namespace", "node", "object")] == [1, 1, 1, 1]
    for scope in ("cluster", "namespace", "node", "object"):
        rc = RequestClass(verb="watch", resource="configmaps", scope=scope, trigger="start", component="t")
        assert events_per_watcher(rc, cluster) == cluster.write_rate("configmaps") / scope_divisor(
            scope, cluster, "configmaps")
    listing = RequestClass(verb="list", resource="configmaps", scope="namespace", trigger="start", component="t")
    assert objects_returned(listing, cluster) == 800 / 40


def test_max_seats_per_request_follows_apf_controller_and_the_list_cap_of_the_version():
    """apf_controller.go: a queuing level's max seats are max(1, min(ceil(0.15 × nominalCL),
    nominalCL / handSize)); a level without queues (catch-all: Reject) sets none, so the work
    estimator's own cap applies. list_work_estimator.go caps a LIST at MaximumListSeatsLimit: 10,
    100 with SizeBasedListCostEstimate (kubernetes PR #133034, 1.34)."""
    assert DEFAULT_APF.max_seats_per_request("workload-low", 1200) == 10  # nominal 490: min(ceil(73.5), 81) = 74
    assert DEFAULT_APF.max_seats_per_request("workload-low", 1200, C.APF_MAX_LIST_SEATS_SIZE_BASED) == 74
    # 120 seats: workload-high nominal ceil(120 × 40 / 245) = 20 → min(ceil(3.0), 20 // 6 = 3) = 3
    assert DEFAULT_APF.max_seats_per_request("workload-high", 120) == 3
    # 60 seats: leader-election nominal ceil(60 × 10 / 245) = 3 → min(1, 3 // 4 = 0) → at least 1
    assert DEFAULT_APF.max_seats_per_request("leader-election", 60) == 1
    assert DEFAULT_APF.max_seats_per_request("catch-all") == C.APF_MAX_SEATS_LIMIT  # not ceil(0.15 × 13) = 2
    assert list_seats_limit(Cluster(name="a", nodes=1, kubernetes_version="1.33")) == 10
    assert list_seats_limit(Cluster(name="b", nodes=1, kubernetes_version="1.34")) == 100
    # workload-high nominal 98 on 600 seats: a LIST of every pod from etcd with a selector costs
    # max(limit, count / 2) × stored size / 100 kB seats — up to its level's 15 from 1.34, 10 before
    lst = RequestClass(verb="list", resource="pods", scope="cluster", trigger="start", resource_version="exact",
                       selector=True, limit=500)
    for version, seats in (("1.33", 10), ("1.34", 15)):
        cluster = Cluster(name="c", nodes=5000, kubernetes_version=version)
        cap = DEFAULT_APF.max_seats_per_request("workload-high", cluster.server_seats, list_seats_limit(cluster))
        assert request_cost(lst, cluster, cap).seats == seats
