"""etcd as a shared resource and admission before APF (fidelity issue 7), asserted on the cost
model, the etcd phase and the simulator's output."""

from __future__ import annotations

import numpy as np
import pytest

from waveguard.model import constants as C
from waveguard.model.cost import project, request_cost
from waveguard.model.fleet import Cluster
from waveguard.model.requests import RequestClass, RequestProfile
from waveguard.sim import scenario_from_data, simulate
from waveguard.sim.etcd import EtcdPhase
from waveguard.sim.maxinflight import before_apf

FULL_LIST = RequestClass(verb="list", resource="pods", scope="cluster", trigger="start", resource_version="")
CACHED_LIST = FULL_LIST.model_copy(update={"resource_version": "0"})


def test_constants_add_up():
    assert C.ETCD_READ_BYTES_PER_S == C.ETCD_MEMBERS * C.ETCD_RANGE_BYTES_PER_S
    assert C.ETCD_DECODE_S_PER_BYTE < C.ENCODE_S_PER_BYTE  # protobuf decode is cheaper than JSON encode


def test_request_cost_exposes_the_bytes_read_from_etcd():
    cluster = Cluster(name="c", nodes=700, kubernetes_version="1.18")
    etcd, cache = request_cost(FULL_LIST, cluster), request_cost(CACHED_LIST, cluster)
    pods = cluster.object_count("pods") * C.OBJECT_BYTES["pods"] * C.PROTOBUF_BYTES_PER_JSON_BYTE  # as stored
    assert etcd.served_from == "etcd" and etcd.etcd_bytes == pods
    assert etcd.etcd_s == pytest.approx(pods / C.ETCD_RANGE_BYTES_PER_S)
    assert etcd.apiserver_s == pytest.approx(etcd.service_s - etcd.etcd_s)
    assert cache.served_from == "cache" and cache.etcd_bytes == 0 and cache.etcd_s == 0
    # from 1.31 an unpaginated consistent LIST is served from the cache: nothing read from etcd
    assert request_cost(FULL_LIST, Cluster(name="n", nodes=700, kubernetes_version="1.31")).etcd_bytes == 0


def test_the_projection_knows_the_clusters_etcd():
    """Calico's storm (projectcalico/node#1200): 700 full pod LISTs from etcd need minutes of the
    cluster's etcd, past the client timeout — overload for that reason alone; from the cache, none."""
    agent = RequestProfile(client="DaemonSet/kube-system/calico-node", agent="calico", per_node=True,
                           namespace="kube-system", service_account="calico-node", classes=[FULL_LIST])
    cluster = Cluster(name="c", nodes=700, apiserver_replicas=2, kubernetes_version="1.18")
    load = project(agent, cluster)
    expected = 700 * cluster.object_count("pods") * C.OBJECT_BYTES["pods"] * C.PROTOBUF_BYTES_PER_JSON_BYTE
    assert load.storm_etcd_bytes == expected
    assert load.storm_etcd_s == pytest.approx(expected / C.ETCD_READ_BYTES_PER_S)
    assert load.etcd_utilisation > 1.0 and load.verdict == "overload"
    assert any("etcd" in r for r in load.reasons)
    cached = project(agent.model_copy(update={"classes": [CACHED_LIST]}), cluster)
    assert cached.storm_etcd_bytes == 0 and cached.etcd_utilisation == 0.0


def _phase(n_bytes: float, replicas: int = 1) -> EtcdPhase:
    return EtcdPhase(np.array([[n_bytes]]), np.array([[1.0]]), replicas, 1.0)


def test_requests_share_the_clusters_etcd_and_finish_together():
    """Processor sharing: 10 requests of one second of the whole etcd each take 10 s together."""
    phase = _phase(C.ETCD_READ_BYTES_PER_S)
    tau = np.full((1, 1, 1), 0.1)
    slow = np.ones((1, 1))
    phase.admit(1.0, np.full((1, 1, 1), 10.0), 0.0)
    arrived = []
    for t in range(1, 12):
        out = phase.advance(float(t), tau, slow)
        arrived.append(0.0 if out is None else float(out[0].sum()))
    assert arrived[:9] == [0.0] * 9 and arrived[9] == pytest.approx(10.0) and not phase.busy


def test_one_request_alone_is_limited_by_one_members_link():
    phase = _phase(C.ETCD_RANGE_BYTES_PER_S * 3)  # 3 s at one member's link, 1 s of the whole etcd
    phase.admit(1.0, np.ones((1, 1, 1)), 0.0)
    times = [t for t in range(1, 6) if (out := phase.advance(float(t), np.zeros((1, 1, 1)), np.ones((1, 1))))
             is not None and out[0].sum() > 0]
    assert times == [3]


def test_a_client_gives_up_after_its_timeout_and_the_request_leaves():
    """100 full LISTs that would need 100 s of etcd each at their share: every client times out
    at 60 s; the requests are cancelled (seats and etcd share freed), none arrives."""
    phase = _phase(C.ETCD_READ_BYTES_PER_S)
    phase.admit(1.0, np.full((1, 1, 1), 100.0), 0.0)
    cancelled = arrived = 0.0
    for t in range(1, 70):
        out = phase.advance(float(t), np.zeros((1, 1, 1)), np.ones((1, 1)))
        if out is not None:
            arrived += out[0].sum()
            cancelled += out[2].sum()
    assert arrived == 0.0 and cancelled == pytest.approx(100.0) and not phase.busy


def test_an_oversubscribed_replica_reads_etcd_slower():
    """Its etcd client's goroutines share the replica's cores: at twice the CPU it has, replica 1
    receives at half the rate (4 requests share 375 MB/s: 93.75 MB/s each, 46.9 on replica 1);
    once replica 0's requests are done, replica 1's get the larger share (125 MB/s, halved)."""
    phase = _phase(C.ETCD_READ_BYTES_PER_S, replicas=2)
    phase.admit(1.0, np.full((1, 2, 1), 2.0), 0.0)
    done_at = {}
    for t in range(1, 20):
        out = phase.advance(float(t), np.zeros((1, 2, 1)), np.array([[1.0], [2.0]]))
        if out is not None:
            for r in (0, 1):
                if out[0][0, r, 0] > 0:
                    done_at[r] = t
    assert done_at == {0: 4, 1: 7}  # 375 MB: 4 s at 93.75; 187.5 MB by then, + 3 s at 62.5


def _scenario(version: str, agents_per_s: float, resource_version: str, name: str) -> dict:
    return {
        "name": name, "duration_s": 240, "seed": 5,
        # etcd with memory to spare: these tests are about admission (etcd's own OOM under the
        # same storm: tests/test_sim_fairness.py)
        "fleet": {"clusters": [{"name": "c", "nodes": 2000, "apiserver_replicas": 1,
                                "apiserver_memory_bytes": 512 << 30, "kubernetes_version": version,
                                "etcd_memory_bytes": 256 << 30}]},
        "change": {"backoff": True, "profile": {
            "client": "DaemonSet/x/agent", "agent": "agent", "per_node": True, "namespace": "x",
            "service_account": "agent",
            "classes": [{"verb": "list", "resource": "pods", "scope": "cluster", "trigger": "start",
                         "resource_version": resource_version},
                        {"verb": "watch", "resource": "pods", "scope": "cluster", "trigger": "held"}]}},
        "schedule": [{"cluster": "c", "at_s": 10, "pods_per_s": agents_per_s}],
    }


@pytest.fixture(scope="module")
def legacy():
    return simulate(scenario_from_data(_scenario("1.18", 1000, "", "max-in-flight")), workers=1)


@pytest.fixture(scope="module")
def apf():
    return simulate(scenario_from_data(_scenario("1.30", 1000, "", "apf")), workers=1)


def test_before_1_20_max_in_flight_admits_400_and_rejects_the_rest_without_queueing(legacy):
    assert before_apf(Cluster(name="a", nodes=1, kubernetes_version="1.19"))
    assert not before_apf(Cluster(name="b", nodes=1, kubernetes_version="1.20"))
    inflight = legacy.series("apiserver_current_inflight_requests", "c")
    assert inflight.max() <= C.MAX_REQUESTS_INFLIGHT + 1e-6
    assert inflight.max() >= 0.95 * C.MAX_REQUESTS_INFLIGHT  # 2,000 agents start within 2 s: the filter is full
    assert legacy.rate("apiserver_request_total", "c", code="429").max() > 100  # rejected at once
    queued = sum(legacy.series("apiserver_flowcontrol_current_inqueue_requests", "c", priority_level=level)
                 for level in ("workload-low", "global-default", "workload-high"))
    assert queued.max() == 0.0  # no queues before APF
    nominal = legacy.series("apiserver_flowcontrol_nominal_limit_seats", "c", priority_level="workload-low")
    assert nominal.max() == 0.0  # no APF objects either


def test_with_apf_the_same_storm_queues_in_its_level(apf, legacy):
    queued = apf.series("apiserver_flowcontrol_current_inqueue_requests", "c", priority_level="workload-low")
    assert queued.max() > 0
    # 10 seats per LIST: fewer run at once than the 400 slots of max-in-flight
    assert apf.series("apiserver_current_inflight_requests", "c").max() < \
        legacy.series("apiserver_current_inflight_requests", "c").max()


def test_lists_waiting_for_etcd_hold_what_has_arrived_of_their_range_responses(legacy):
    """400 full pod LISTs (123 MB each as etcd stores them: protobuf, half their 245 MB of JSON)
    wait for etcd at once. grpc-go allocates each whole message at its header, but a fresh large
    Go allocation is not zeroed and Linux makes a page resident at its first write
    (model.etcd.receive_buffer_resident_bytes): the replica's memory rises as etcd's bytes arrive
    — its whole read throughput each second, once (filling the buffers makes no garbage for Go's
    heap growth) — not by the 400 whole responses at once (49 GB), nor by the decoded and encoded
    lists (LIST_FROM_ETCD_MEMORY_MULTIPLIER) they hold once etcd has answered; the LIST latency is
    the etcd wait."""
    mem = legacy.series("process_resident_memory_bytes", "c")
    inflight = legacy.series("apiserver_current_inflight_requests", "c")
    waiting = np.flatnonzero(inflight >= 0.95 * C.MAX_REQUESTS_INFLIGHT)
    first, last = waiting[0], waiting[0] + 20
    assert (inflight[first:last + 1] >= 0.95 * C.MAX_REQUESTS_INFLIGHT).all()  # all still waiting
    per_s = (mem[last] - mem[first]) / (last - first)
    assert per_s == pytest.approx(C.ETCD_READ_BYTES_PER_S, rel=0.02)
    response = 60_000 * C.OBJECT_BYTES["pods"] * C.PROTOBUF_BYTES_PER_JSON_BYTE
    assert mem[first] - mem[:5].max() < 0.01 * C.MAX_REQUESTS_INFLIGHT * response
    p99 = legacy.series("apiserver_request_duration_seconds", "c", scope="cluster", quantile="0.99")
    assert p99.max() > C.CLIENT_TIMEOUT_S  # 400 × 123 MB through 375 MB/s: minutes


def test_a_receive_buffer_is_resident_as_far_as_its_current_page_has_arrived():
    """model.etcd.receive_buffer_resident_bytes: the part of the current range response that has
    arrived (received mod page) — for floats, and for arrays with numpy's floor alike."""
    from waveguard.model.etcd import receive_buffer_resident_bytes

    assert receive_buffer_resident_bytes(30e6, 86e6) == 30e6  # one unpaginated response, 30 MB in
    assert receive_buffer_resident_bytes(250e6, 100e6) == pytest.approx(50e6)  # third page, half in
    received = np.array([0.0, 99e6, 100e6, 250e6])
    assert receive_buffer_resident_bytes(received, 100e6, np.floor) == pytest.approx(received % 100e6)
