"""The read path version by version (issue 12): the feature-gate table against the Kubernetes
source's versioned tables, the LIST work estimate before and from 1.34, where a LIST goes when
a watch cache is not ready, streaming memory, WatchList, the recogniser's env-var reading, and
the simulator's phases for a filling cache and a broken watch. No kube-apiserver runs here: each
figure is checked against the rule of the source file named in the test."""

from __future__ import annotations

import math

import numpy as np
import pytest

from waveguard.model import constants as C
from waveguard.model.fleet import Cluster, Fleet
from waveguard.model.requests import RequestClass, RequestProfile, informer
from waveguard.model.versions import GATE_PERIODS, client_gate_from_env, features_for, gate_on, parse_version
from waveguard.model.work import list_seats, not_ready_cache_outcome, request_cost, uses_watch_list
from waveguard.sim import FleetSimulator
from waveguard.sim.phases import informers, replicas


def cluster(version: str, nodes: int = 1000, **kw) -> Cluster:
    return Cluster(name="c", nodes=nodes, kubernetes_version=version, **kw)


def lst(**kw) -> RequestClass:
    base = dict(verb="list", resource="pods", scope="cluster", trigger="start")
    return RequestClass(**{**base, **kw})


# --- the gate table (kube_features.go / client-go known_features.go) ----------------------------

@pytest.mark.parametrize(("gate", "on", "off"), [
    ("ResilientWatchCacheInitialization", ["1.31", "1.34", "1.35"], ["1.18", "1.30"]),
    ("ConsistentListFromCache", ["1.31", "1.35"], ["1.28", "1.30"]),
    ("WatchList", ["1.32", "1.34", "1.35"], ["1.27", "1.31", "1.33"]),
    ("WatchListClient", ["1.35"], ["1.30", "1.34"]),
    ("StreamingCollectionEncodingToJSON", ["1.33", "1.34"], ["1.32"]),
    ("StreamingCollectionEncodingToProtobuf", ["1.33"], ["1.32"]),
    ("SizeBasedListCostEstimate", ["1.34", "1.35"], ["1.33"]),
    ("ListFromCacheSnapshot", ["1.34", "1.35"], ["1.32", "1.33"]),
    ("APIPriorityAndFairness", ["1.20", "1.29"], ["1.18", "1.19"]),
])
def test_each_gate_is_on_by_default_in_the_versions_of_its_source_table(gate, on, off):
    assert all(gate_on(gate, parse_version(v)) for v in on)
    assert not any(gate_on(gate, parse_version(v)) for v in off)


def test_every_gate_of_the_table_is_read_by_features_for():
    assert set(GATE_PERIODS) >= {"WatchList", "WatchListClient", "SizeBasedListCostEstimate"}
    f = features_for("v1.35.2")
    assert f.version == (1, 35) and f.uses_watch_list and f.size_based_list_cost
    assert not features_for((1, 33)).uses_watch_list  # client off, and the server's WatchList too


@pytest.mark.parametrize(("value", "expected"), [
    *[(v, True) for v in ("1", "t", "T", "TRUE", "true", "True")],
    *[(v, False) for v in ("0", "f", "F", "FALSE", "false", "False")],
    # strconv.ParseBool accepts nothing else and trims nothing: client-go keeps the default
    *[(v, None) for v in ("maybe", "yes", "on", "tRuE", " true", "", None)],
])
def test_the_env_var_is_read_as_client_go_reads_it(value, expected):
    """client-go features/envvar.go: strconv.ParseBool, an unparsable value is ignored."""
    assert client_gate_from_env(value) is expected


def test_a_version_that_is_not_one_is_refused():
    with pytest.raises(ValueError, match="1.31"):
        parse_version("latest")


# --- LIST work estimation (list_work_estimator.go) -----------------------------------------------

def test_count_based_seats_before_1_34_and_size_based_from_1_34():
    # 300 namespaces of 512 B (JSON) from the cache: count-based ceil(300/100) = 3 seats; size-based
    # on the sizes etcd stores (etcd3/stats.go: protobuf, 256 B): ceil(300 × 256 / 100,000) = 1 seat.
    rc = lst(resource="namespaces")
    objs = {"namespaces": 300}
    assert list_seats(rc, cluster("1.33", objects=objs), "cache", 10) == (3, 300)
    stored = 512 * C.PROTOBUF_BYTES_PER_JSON_BYTE
    assert list_seats(rc, cluster("1.34", objects=objs), "cache", 10) == (math.ceil(300 * stored / 1e5), 300)


def test_size_based_estimate_caps_a_cache_list_at_a_megabyte_but_not_an_etcd_one():
    # 1,000 pods of 4 KiB (JSON; 2 KiB as etcd stores them, the size the estimate reads) with limit
    # 500: cache: min(500 × 2048, 1 MB) / 100 kB = 10 seats; etcd without selector: 500 × 2048 /
    # 100 kB = 11 → within maxSeats 30 here: 11.
    rc = lst(limit=500)
    c = cluster("1.34", objects={"pods": 1000})
    assert list_seats(rc, c, "cache", 30)[0] == C.APF_CACHE_STREAMING_MAX_BYTES // C.APF_BYTES_PER_SEAT
    assert list_seats(rc, c, "etcd", 30)[0] == math.ceil(500 * 4096 * C.PROTOBUF_BYTES_PER_JSON_BYTE
                                                         / C.APF_BYTES_PER_SEAT)
    # with a selector etcd loads max(limit, stored / 2) objects
    assert list_seats(lst(limit=100, selector=True), c, "etcd", 30)[1] == 500


def test_a_list_of_one_named_object_costs_one_seat_on_every_version():
    # a metadata.name field selector sets the request's name (handlers/get.go): matchesSingle
    for v in ("1.25", "1.33", "1.34"):
        rc = lst(resource="nodes", scope="object")
        assert request_cost(rc, cluster(v, nodes=5000)).seats == 1


def test_a_watch_with_initial_events_is_costed_like_the_list_from_cache():
    c = cluster("1.34", nodes=3000)
    as_list = request_cost(lst(resource_version="0"), c)
    as_watch = request_cost(RequestClass(verb="watch", resource="pods", scope="cluster", trigger="start",
                                         watch_list="yes"), c)
    assert as_watch.seats == as_list.seats and as_watch.served_from == "cache"
    assert request_cost(RequestClass(verb="watch", resource="pods", scope="cluster", trigger="held"), c).seats == 1


# --- a watch cache that is not ready (cacher GetList, KEP-4568) ---------------------------------

def test_not_ready_cache_sends_rv0_to_etcd_up_to_1_30_then_429_unless_paginated_without_selector():
    assert not_ready_cache_outcome(lst(resource_version="0"), cluster("1.30")) == "etcd"
    assert not_ready_cache_outcome(lst(resource_version="0"), cluster("1.31")) == "429"
    assert not_ready_cache_outcome(lst(resource_version="0", selector=True, limit=500), cluster("1.31")) == "429"
    assert not_ready_cache_outcome(lst(resource_version="0", limit=500), cluster("1.31")) == "etcd"
    assert not_ready_cache_outcome(lst(resource_version=""), cluster("1.30")) == "etcd"  # etcd anyway
    assert not_ready_cache_outcome(RequestClass(verb="get", resource="pods", scope="object", trigger="periodic"),
                                   cluster("1.31")) == "cache"


# --- streaming encoding and WatchList ----------------------------------------------------------

def test_streaming_encoding_from_1_33_lowers_the_memory_of_a_list():
    rc = lst(resource_version="0")
    before, after = request_cost(rc, cluster("1.32", nodes=3000)), request_cost(rc, cluster("1.33", nodes=3000))
    assert after.memory_bytes == pytest.approx(before.memory_bytes * C.STREAMING_CACHE_LIST_MEMORY_MULTIPLIER
                                               / C.LIST_FROM_CACHE_MEMORY_MULTIPLIER, rel=1e-6)
    etcd_rc = lst(resource_version="", limit=500)
    assert request_cost(etcd_rc, cluster("1.33")).memory_bytes < request_cost(etcd_rc, cluster("1.32")).memory_bytes


def test_an_informer_uses_watch_list_by_client_go_default_only_from_1_35_and_by_env_from_1_34():
    start = informer("pods", "cluster", component="x")[0]
    assert [v for v in ("1.32", "1.33", "1.34", "1.35") if uses_watch_list(start, cluster(v))] == ["1.35"]
    on = start.model_copy(update={"watch_list": "yes"})
    assert [v for v in ("1.31", "1.32", "1.33", "1.34") if uses_watch_list(on, cluster(v))] == ["1.32", "1.34"]
    assert not uses_watch_list(lst(), cluster("1.35"))  # not an informer: keeps its LIST


K8SATTRIBUTES = """\
    receivers: {otlp: {protocols: {grpc: {}}}}
    processors:
      k8sattributes: {extract: {metadata: [k8s.pod.name]}}
    exporters: {debug: {}}
    service:
      pipelines:
        traces: {receivers: [otlp], processors: [k8sattributes], exporters: [debug]}
    """


@pytest.mark.parametrize(("env", "expected"), [
    ("", "client-go-default"),
    ("{name: KUBE_FEATURE_WatchListClient, value: 'true'}", "yes"),
    ("{name: KUBE_FEATURE_WatchListClient, value: 'false'}", "off"),
    ("{name: KUBE_FEATURE_WatchListClient, value: 'sometimes'}", "client-go-default"),
    ("{name: KUBE_FEATURE_WatchListClient, value: '1'}", "yes"),
    ("{name: KUBE_FEATURE_WatchListClient, value: 'F'}", "off"),
])
def test_the_recognisers_read_the_watch_list_env_var_of_the_pod(tmp_path, env, expected):
    from tests.test_recognisers import OTEL, _change
    profiles = _change(tmp_path, OTEL, K8SATTRIBUTES, env=env)
    starts = [rc for p in profiles for rc in p.classes if rc.verb == "list" and rc.trigger == "start"]
    assert starts and {rc.watch_list for rc in starts} == {expected}


# --- the simulator: a filling cache, a broken watch --------------------------------------------

INFORMER_AGENT = RequestProfile.model_validate({
    "client": "DaemonSet/monitoring/agent", "agent": "agent", "per_node": True, "namespace": "monitoring",
    "service_account": "agent",
    "classes": [{"verb": "list", "resource": "pods", "scope": "cluster", "trigger": "start",
                 "resource_version": "0", "watch_list": "client-go-default"},
                {"verb": "watch", "resource": "pods", "scope": "cluster", "trigger": "held"}]})
PLAIN_AGENT = INFORMER_AGENT.model_copy(update={"classes": [
    rc.model_copy(update={"watch_list": "no"}) for rc in INFORMER_AGENT.classes]})


def sim_for(version: str, profile: RequestProfile = INFORMER_AGENT) -> FleetSimulator:
    return FleetSimulator(Fleet(clusters=[cluster(version, nodes=100)]), [profile], initial_share=1.0,
                          expected_steps=10)


def _agent_group(sim: FleetSimulator) -> int:
    return [sim.clients[i].role for i in sim.groups.client].index("change")


def test_a_broken_informer_watch_moves_to_the_replicas_up_and_a_plain_client_relists():
    for profile, relists in ((INFORMER_AGENT, False), (PLAIN_AGENT, True)):
        sim = sim_for("1.30", profile)
        g = _agent_group(sim)
        watching = sim.state.synced_watches[g, 0, 0]
        replicas.crash(sim.state, sim.params, 0, 0, oom=False)
        assert sim.state.synced_watches[g, 0, 0] == 0.0
        assert sim.state.backoff[1, g, 0] == pytest.approx(watching if relists else 0.0)
        moved = sim.state.synced_watches[g, 1:, 0].sum() - 2 * watching
        assert moved == pytest.approx(0.0 if relists else watching)
        assert sim.state.synced_watches[g, 1, 0] == pytest.approx(sim.state.synced_watches[g, 2, 0])
        if not relists:  # counted among the watches re-established without a LIST (all groups)
            assert sim.state.rewatches[0] >= watching


def test_a_watch_does_not_move_to_a_replica_whose_cache_is_filling():
    sim = sim_for("1.31")
    state, params = sim.state, sim.params
    g = _agent_group(sim)
    replicas.crash(state, params, 0, 1, oom=False)
    state.time_s = float(state.down_until[1, 0])
    replicas.recover(state, params, sim.dt)  # replica 1 is back, its caches filling
    assert replicas.cold_replicas(state, params)[g, 1, 0]
    on_2 = state.synced_watches[g, 2, 0]
    on_0 = state.synced_watches[g, 0, 0]
    on_1 = state.synced_watches[g, 1, 0]
    replicas.crash(state, params, 0, 0, oom=False)
    assert state.synced_watches[g, 1, 0] == pytest.approx(on_1)  # the filling replica gets none
    assert state.synced_watches[g, 2, 0] == pytest.approx(on_2 + on_0)


def test_with_every_replica_down_an_informer_relists_too():
    sim = sim_for("1.30")
    g = _agent_group(sim)
    total = sim.state.synced_watches[g, :, 0].sum()
    for r in range(3):
        replicas.crash(sim.state, sim.params, 0, r, oom=False)
    # the watches moved to replicas 1 and 2, then to 2, which held them all when it went down
    assert sim.state.backoff[1, g, 0] == pytest.approx(total)
    assert sim.state.synced_watches[g, :, 0].sum() == 0.0


@pytest.mark.parametrize(("version", "rejected"), [("1.30", False), ("1.31", True)])
def test_relists_reaching_a_filling_cache_go_to_etcd_up_to_1_30_and_are_answered_429_from_1_31(version, rejected):
    """cacher.go ``GetList``: up to 1.30 a resourceVersion="0" LIST on a cache that is not ready
    is forwarded to etcd (the group's twin flow, read from etcd); from 1.31 it is answered 429."""
    sim = sim_for(version)
    state, params = sim.state, sim.params
    g = _agent_group(sim)
    replicas.crash(state, params, 0, 0, oom=False)
    state.time_s = float(state.down_until[0, 0])
    replicas.recover(state, params, sim.dt)
    assert state.any_cold and replicas.cold_replicas(state, params)[g, 0, 0]
    state.backoff[0, g, 0] = 30.0
    state.demand_noise, state.lb_noise = state.noise.draw()
    informers.release_backoff(state, params, sim.dt)
    informers.arrive(state, params, sim.dt)
    sent_to_cold = float(state.cold_rejected[g, 0]) if state.cold_rejected is not None else 0.0
    assert state.arrivals_per_replica[params.group_flow[g], 0, 0] == pytest.approx(0.0)
    twin = int(params.group_cold_flow[g])
    if rejected:
        assert sent_to_cold > 0.0 and twin == params.group_flow[g]
    else:
        assert sent_to_cold == 0.0 and twin in set(params.etcd_flows) and state.arrivals_per_replica[twin, 0, 0] > 0.0
    replicas.recover(state, params, float(params.group_cache_fill_s[g, 0]) + 1.0)  # etcd idle: fills at full speed
    assert not replicas.cold_replicas(state, params).any()  # ready after the fill time
    assert params.group_cache_fill_s[g, 0] == pytest.approx(
        sim.clusters[0].object_count("pods") * C.OBJECT_BYTES["pods"]
        * (C.PROTOBUF_BYTES_PER_JSON_BYTE / C.ETCD_RANGE_BYTES_PER_S + C.ETCD_DECODE_S_PER_BYTE))
    assert np.isfinite(state.cache_filling_since[0, 0])


def test_from_1_31_a_paginated_informer_list_on_a_filling_cache_is_delegated_to_etcd():
    # shouldDelegateListOnNotReadyCache: limit set, no selector → its twin flow reads from etcd
    paginated = INFORMER_AGENT.model_copy(update={"classes": [
        INFORMER_AGENT.classes[0].model_copy(update={"limit": 500}), INFORMER_AGENT.classes[1]]})
    sim = sim_for("1.31", paginated)
    state, params = sim.state, sim.params
    g = _agent_group(sim)
    twin = int(params.group_cold_flow[g])
    assert twin != params.group_flow[g] and twin in set(params.etcd_flows)
    assert params.group_cold_to_etcd[g, 0] == 1.0 and params.group_cold_rejects[g, 0] == 0.0
    replicas.crash(state, params, 0, 0, oom=False)
    state.time_s = float(state.down_until[0, 0])
    replicas.recover(state, params, sim.dt)
    state.backoff[0, g, 0] = 30.0
    state.demand_noise, state.lb_noise = state.noise.draw()
    informers.release_backoff(state, params, sim.dt)
    informers.arrive(state, params, sim.dt)
    assert state.arrivals_per_replica[twin, 0, 0] > 0.0
    assert state.arrivals_per_replica[params.group_flow[g], 0, 0] == pytest.approx(0.0)
    assert state.arrivals_per_replica[twin, 1:, 0].sum() == pytest.approx(0.0)  # warm replicas: as usual
    assert float(state.cold_rejected[g, 0]) == 0.0


def test_without_delegated_lists_no_twin_flow_is_built():
    """Up to 1.30 every resourceVersion="0" relist a filling cache receives goes to etcd (cacher
    GetList), so every group has its etcd twin; from 1.31 only LISTs paginated without selector
    are delegated — the control plane's client-go informers (their pager's limit=500 with
    resourceVersion="0", reflector.go) are, the test agent's unpaginated LIST is not."""
    params = sim_for("1.30").params
    assert (params.group_cold_flow != params.group_flow).all()
    sim = sim_for("1.31")
    g = _agent_group(sim)
    assert sim.params.group_cold_flow[g] == sim.params.group_flow[g]
    controllers = [i for i, c in enumerate(sim.groups.client) if sim.clients[c].role == "controllers"]
    assert controllers and all(sim.params.group_cold_flow[i] != sim.params.group_flow[i] for i in controllers)


def test_the_simulators_apf_switch_agrees_with_the_gate_table():
    assert features_for(C.APF_DEFAULT_SINCE).apf
    assert not features_for((C.APF_DEFAULT_SINCE[0], C.APF_DEFAULT_SINCE[1] - 1)).apf
