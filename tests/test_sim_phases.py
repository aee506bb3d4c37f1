"""Each phase of a simulator step driven alone on a tiny state: one 100-node cluster (three
apiserver replicas, Kubernetes 1.30) with a node agent whose pod LIST is served from etcd. The
state is built by the simulator, then set by hand; each test calls one phase and checks a figure
that follows from the Kubernetes rule the phase models."""

from __future__ import annotations

import math

import numpy as np
import pytest

from waveguard.model import constants as C
from waveguard.model.fleet import Cluster, Fleet
from waveguard.model.requests import RequestProfile
from waveguard.sim import FleetSimulator
from waveguard.sim.phases import apf_borrowing, apf_dispatch, dns, etcd, informers, latency, recording, replicas

AGENT = RequestProfile.model_validate({
    "client": "DaemonSet/networking/node-agent", "agent": "node-agent", "per_node": True, "namespace": "networking",
    "service_account": "node-agent",
    "classes": [{"verb": "list", "resource": "pods", "scope": "cluster", "trigger": "start", "resource_version": ""},
                {"verb": "watch", "resource": "pods", "scope": "cluster", "trigger": "held"}]})


def tiny(step_s: float = 1.0) -> FleetSimulator:
    return FleetSimulator(Fleet(clusters=[Cluster(name="c", nodes=100)]), [AGENT], step_s=step_s, expected_steps=10)


def flow(sim: FleetSimulator, name: str) -> int:
    return sim.flows.names.index(name)


def level_pos(sim: FleetSimulator, level: str) -> int:
    return int(np.flatnonzero(sim.params.used_levels == sim.params.level_names.index(level))[0])


WORKLOADS = "workloads/workload-low"
AGENT_RELIST = "DaemonSet/networking/node-agent/workload-low/relist"


def _arrivals(sim: FleetSimulator, per_flow: dict[str, float], seats: float) -> None:
    """Requests arriving on replica 0 only, each holding one seat; ``seats`` free in workload-low there."""
    state = sim.state
    state.arrivals_per_replica = np.zeros_like(state.executing)
    for name, n in per_flow.items():
        state.arrivals_per_replica[flow(sim, name), 0, 0] = n
    state.seat_occupancy = np.ones_like(state.executing)
    state.used_seat_limits[level_pos(sim, "workload-low"), 0, 0] = seats


def test_apf_dispatch_is_max_min_fair_between_flows_of_a_level():
    # 10 free seats; fair queuing serves non-empty queues equally (queueset.go). The workloads
    # (many ServiceAccounts, ByUser: many flows over all 128 queues) have 30 requests in 30
    # queues; the agent (one ServiceAccount: one flow, a hand of 6 queues) 4 requests in 4.
    # Each of the 34 queues gets 10/34 seats: the agent 40/34, the workloads 300/34; the rest
    # waits in its queue (no 429: it is not full).
    sim = tiny()
    _arrivals(sim, {WORKLOADS: 30.0, AGENT_RELIST: 4.0}, seats=10.0)
    apf_dispatch.dispatch(sim.state, sim.params, sim.dt)
    state, workloads, agent = sim.state, flow(sim, WORKLOADS), flow(sim, AGENT_RELIST)
    assert state.dispatched[agent, 0, 0] == pytest.approx(40.0 / 34.0)
    assert state.dispatched[workloads, 0, 0] == pytest.approx(300.0 / 34.0)
    assert state.queued[workloads, 0, 0] == pytest.approx(30.0 - 300.0 / 34.0)
    assert state.rejected.sum() == 0.0


def test_apf_dispatch_gives_one_flow_no_more_than_its_hand_of_queues():
    # Shuffle sharding: the agent's one flow covers handSize = 6 queues however much it sends.
    # 600 agent requests against 30 workload requests, 36 free seats: 6 + 30 non-empty queues,
    # one seat each — the agent cannot crowd out the many flows.
    sim = tiny()
    _arrivals(sim, {WORKLOADS: 30.0, AGENT_RELIST: 600.0}, seats=36.0)
    apf_dispatch.dispatch(sim.state, sim.params, sim.dt)
    state, workloads, agent = sim.state, flow(sim, WORKLOADS), flow(sim, AGENT_RELIST)
    assert sim.params.queue_weight[agent, 0, 0] == 6.0
    assert sim.params.queue_weight[workloads, 0, 0] == 128.0
    assert state.dispatched[agent, 0, 0] == pytest.approx(6.0)
    assert state.dispatched[workloads, 0, 0] == pytest.approx(30.0)


def test_apf_dispatch_rejects_beyond_the_queue_capacity_and_the_wait_limit():
    # The agent's flow queues handSize × queueLengthLimit = 6 × 50 = 300 requests per replica:
    # of 400, 10 dispatched, 90 rejected at once (queue full); of the 300 queued, those that
    # would wait past 15 s (300 − 10 × 15 = 150) leave at 1/15 per second: 10 more 429s.
    sim = tiny()
    agent = flow(sim, AGENT_RELIST)
    assert sim.params.queue_capacity[agent, 0, 0] == 300.0
    _arrivals(sim, {AGENT_RELIST: 400.0}, seats=10.0)
    apf_dispatch.dispatch(sim.state, sim.params, sim.dt)
    assert sim.state.dispatched[agent, 0, 0] == pytest.approx(10.0)
    assert sim.state.rejected[agent, 0, 0] == pytest.approx(90.0 + 150.0 / C.APF_QUEUE_WAIT_LIMIT_S)
    assert sim.state.queued[agent, 0, 0] == pytest.approx(300.0 - 150.0 / C.APF_QUEUE_WAIT_LIMIT_S)


def test_apf_borrowing_idle_levels_lend_down_to_nominal_minus_lendable():
    # Only workload-low demands seats (1,000 of them): every other limited level falls to its
    # lower bound nominal − lendable, and workload-low borrows the rest of the server's seats.
    sim = tiny()
    state, params = sim.state, sim.params
    state.used_demand_high_watermark[:] = 0.0
    state.used_demand_high_watermark[level_pos(sim, "workload-low")] = 1000.0
    state.demand_sum = np.zeros_like(state.used_demand_high_watermark)
    state.demand_sq_sum = np.zeros_like(state.used_demand_high_watermark)
    state.demand_sum[level_pos(sim, "workload-low")] = 1000.0
    state.demand_sq_sum[level_pos(sim, "workload-low")] = 1000.0 ** 2
    state.demand_steps = 1
    apf_borrowing.readjust(state, params)
    low = params.level_names.index("workload-low")
    others = [i for i in np.flatnonzero(params.limited) if i != low]
    assert state.seat_limits[others, 0, 0] == pytest.approx(params.min_seats[others, 0, 0])
    assert state.seat_limits[low, 0, 0] == pytest.approx(params.server_seats[0, 0] - params.min_seats[others, 0, 0].sum())
    assert state.seat_limits[params.limited, 0, 0].sum() == pytest.approx(params.server_seats[0, 0])


def test_apf_borrowing_smooths_seat_demand_as_apf_controller_does():
    # seatDemandStats.update: envelope = average + standard deviation of the period's demand;
    # smoothed = max(envelope, 0.977 × smoothed + 0.023 × envelope). A demand alternating 0 and
    # 100 seats has average 50, deviation 50: envelope 100 (a high watermark would also give
    # 100, but a steady 50 gives 50 where the high watermark of a single 100-seat spike gives 100).
    sim = tiny()
    state, params = sim.state, sim.params
    low = params.level_names.index("workload-low")
    pos = level_pos(sim, "workload-low")
    shape = state.used_demand_high_watermark.shape

    def period(values: list[float]) -> None:
        state.demand_sum, state.demand_sq_sum = np.zeros(shape), np.zeros(shape)
        for v in values:
            state.demand_sum[pos] += v
            state.demand_sq_sum[pos] += v * v
        state.demand_steps = len(values)
        apf_borrowing.smooth_seat_demand(state, params)

    state.smoothed_demand[:] = 0.0
    period([0.0, 100.0] * 5)
    assert state.smoothed_demand[low, 0, 0] == pytest.approx(100.0)
    period([50.0] * 9 + [50.0])
    assert state.smoothed_demand[low, 0, 0] == pytest.approx(0.977 * 100.0 + 0.023 * 50.0)
    period([0.0] * 10)  # idle: it decays with a half-life of 30 periods (5 minutes)
    assert state.smoothed_demand[low, 0, 0] == pytest.approx(0.977 * (0.977 * 100.0 + 0.023 * 50.0))
    assert C.APF_SEAT_DEMAND_SMOOTHING ** 30 == pytest.approx(0.5, abs=0.01)


def test_replicas_oom_kills_wait_the_kubelets_crash_loop_back_off():
    # An OOM-killed replica returns after startup and the crash-loop back-off (its watch caches
    # fill while it serves): 10 s, doubled by a second kill within 10 minutes of running. Its
    # watches break and are re-established on the other two replicas without a LIST
    # (reflector.go): nothing waits to relist (the node agent, which would, has not started).
    sim = tiny()
    state, params = sim.state, sim.params
    watches = state.synced_watches[:, :, 0].sum(axis=1)
    replicas.crash(state, params, 0, 0, oom=True)
    restart = C.APISERVER_STARTUP_S
    assert state.down_until[0, 0] == pytest.approx(restart + C.CRASHLOOP_BACKOFF_INITIAL_S)
    assert state.backoff[1, :, 0] == pytest.approx(np.zeros_like(watches))
    assert state.synced_watches[:, 0, 0] == pytest.approx(np.zeros_like(watches))
    assert state.synced_watches[:, 1:, 0].sum(axis=1) == pytest.approx(watches)
    assert not state.up[0, 0] and state.oom_kills[0] == 1
    state.time_s, state.up[0, 0], state.up_since[0, 0] = 100.0, True, 90.0
    replicas.crash(state, params, 0, 0, oom=True)
    assert state.down_until[0, 0] == pytest.approx(100.0 + restart + 2 * C.CRASHLOOP_BACKOFF_INITIAL_S)


def test_replicas_memory_is_the_baseline_on_an_idle_replica_and_nothing_on_a_dead_one():
    sim = tiny()
    state, params = sim.state, sim.params
    state.entering = np.zeros_like(state.executing)
    state.executing[:] = 0.0
    state.arrivals, state.replica_share = np.zeros((params.n_flows, 1)), state.up_float / 3
    state.up_float[2, 0] = 0.0
    replicas.memory_and_cpu(state, params, sim.dt)
    assert state.memory[:2, 0] == pytest.approx(params.baseline_memory_bytes[0])
    assert state.memory[2, 0] == 0.0


def test_clients_back_off_like_client_go():
    # 100 informers wait at back-off level 1 (0.8 s, jitter 1.0: 1.2 s on average): in a 1 s
    # step 1 − e^(−1/1.2) of them re-send; if those fail they wait one level longer.
    sim = tiny()
    state, params = sim.state, sim.params
    group = list(params.group_flow).index(flow(sim, AGENT_RELIST))
    state.backoff[:] = 0.0
    state.backoff[1, group, 0] = 100.0
    informers.release_backoff(state, params, sim.dt)
    mean_wait = C.CLIENT_BACKOFF_INITIAL_S * (1 + C.CLIENT_BACKOFF_JITTER / 2)
    resent = 100.0 * (1.0 - math.exp(-sim.dt / mean_wait))
    assert state.resending[group, 0] == pytest.approx(resent)
    assert state.backoff[1, group, 0] == pytest.approx(100.0 - resent)
    informers.back_off(state, state.resending.copy())
    assert state.backoff[2, group, 0] == pytest.approx(resent)


def test_etcd_a_list_waits_its_bytes_at_the_range_throughput_holding_its_seat():
    # One pod LIST with resourceVersion="" (1.30: from etcd) alone on the cluster's etcd gets a
    # member's range throughput: it enters the apiserver phase after bytes / 125 MB/s.
    sim = tiny(step_s=0.01)
    state, params = sim.state, sim.params
    agent = flow(sim, AGENT_RELIST)
    # the agent's relist, and (1.30) every group's twin for a filling watch cache
    assert agent in params.etcd_flows
    assert all(sim.flows.names[f].endswith("relist-cold-cache") for f in params.etcd_flows if f != agent)
    row = list(params.etcd_flows).index(agent)
    expected_steps = math.ceil(state.etcd.bytes[row, 0] / C.ETCD_RANGE_BYTES_PER_S / sim.dt - 1e-9)
    state.dispatched[:] = 0.0
    state.dispatched[agent, 0, 0] = 1.0
    steps = 0
    while steps < 100:
        steps += 1
        state.time_s += sim.dt
        etcd.through_etcd(state, params, sim.dt)
        state.dispatched[:] = 0.0
        if state.entering[agent, 0, 0] > 0:
            break
        assert state.awaiting_etcd[agent, 0, 0] == pytest.approx(1.0)  # it holds its seat meanwhile
    assert steps == expected_steps
    assert state.entering[agent, 0, 0] == pytest.approx(1.0)


def test_dns_coredns_pods_without_a_copy_fail_but_caches_hide_it_at_first():
    # Informer design: a CoreDNS pod without its copy of Services answers SERVFAIL, so half the
    # pods without one fail half the answers; the workloads' caches still answer (nearly) everything.
    sim = tiny()
    state, params = sim.state, sim.params
    state.coredns_without_copy[0] = params.coredns_instances[0] / 2
    state.completed_by_group = np.zeros_like(state.synced_watches)
    state.coredns_synced_before, state.queueing, state.lost = None, False, None
    dns.resolve(state, params, sim.dt)
    assert state.dns_failure[0] == pytest.approx(0.5)
    assert state.client_dns_failure[0] < 1e-5 and state.workload_error[0] < 1e-5  # vs 0.5 at CoreDNS


def test_latency_mm1_p99_wait_and_the_apf_wait_limit():
    # M/M/1 at ρ = 0.5 with a 1 s holding time: mean wait 1 s, exponential tail → p99 ln(100).
    assert latency.mmc_p99_wait(np.array(1.0), np.array(1.0), np.array(0.5)) == pytest.approx(math.log(100.0))
    # A backlog of 1,000 requests dispatched at 1/s would wait 1,000 s: APF rejects after 15 s,
    # so no request waits longer than that.
    sim = tiny()
    state, params = sim.state, sim.params
    workloads = flow(sim, WORKLOADS)
    state.used_seats = np.zeros_like(state.used_seat_limits)
    state.queueing = True
    state.queued[workloads, 0, 0], state.dispatched[workloads, 0, 0] = 1000.0, 1.0
    latency.measure(state, params, sim.dt)
    assert state.level_wait_s[level_pos(sim, "workload-low"), 0] == C.APF_QUEUE_WAIT_LIMIT_S
    assert state.scope_p99_s[0, 0] >= C.APF_QUEUE_WAIT_LIMIT_S  # single-object scope: wait + service


def test_recording_counts_429s_under_the_apiserver_metric_names():
    sim = tiny()
    state, params = sim.state, sim.params
    lu, c, r = params.n_used_levels, params.n_clusters, params.n_replicas
    state.used_by_cluster, state.inqueue_by_level, state.dispatched_by_level = (np.zeros((lu, c)) for _ in range(3))
    state.rejected_by_level = np.zeros((lu, c))
    state.rejected_by_level[level_pos(sim, "workload-low"), 0] = 7.0
    state.level_wait_s, state.scope_p99_s, state.memory = np.zeros((lu, c)), np.zeros((3, c)), np.zeros((r, c))
    state.dns_failure, state.client_dns_failure, state.workload_error = (np.zeros(c) for _ in range(3))
    state.time_s = 1.0
    recording.record(state, params, sim.dt, sim.recorder)
    assert sim.store.n == 1
    assert sim.reader.latest("apiserver_flowcontrol_rejected_requests_total", priority_level="workload-low")[0] == 7.0
    assert sim.reader.latest("apiserver_request_total", code="429")[0] == 7.0
    assert sim.reader.latest("up")[0] == 3.0  # every replica up


def test_client_go_retries_a_refused_request_ten_times_then_gives_up():
    # rest/with_retry.go: attempts > maxRetries (10) → stop. Every attempt refused: 100 requests
    # become 100 × (1 + 10) arrivals, spread by APF's Retry-After (1 s doubling to 32 s). An
    # informer's relist is not retried here (its reflector backs off instead).
    from waveguard.sim.phases import client_retries

    sim = tiny()
    state, params = sim.state, sim.params
    workloads, agent = flow(sim, WORKLOADS), flow(sim, AGENT_RELIST)
    assert params.retry_policy[workloads] == client_retries.CLIENT_GO
    assert params.retry_policy[agent] == client_retries.NONE
    state.replica_share = np.full(state.up.shape, 1.0 / 3.0)
    attempts = {workloads: 0.0, agent: 0.0}
    for step in range(3000):
        state.time_s = float(step)
        state.arrivals_per_replica = np.zeros_like(state.executing)
        state.arrivals = np.zeros((params.n_flows, params.n_clusters))
        if step == 0:
            state.arrivals_per_replica[[workloads, agent], 0, 0] = 100.0
        released = client_retries.release_retries(state, params, 1.0)
        want = state.arrivals_per_replica.copy()
        for f in attempts:
            attempts[f] += want[f].sum()
        if step == 1:  # the first retries: arrivals like any other (they cost admission CPU)
            assert 0 < state.arrivals[workloads].sum() == pytest.approx(want[workloads].sum())
        state.rejected, state.queueing = want.copy(), True  # every attempt refused
        client_retries.requeue_rejected(state, params, want, released, 1.0)
    assert attempts[workloads] == pytest.approx(100.0 * (1 + C.CLIENT_GO_MAX_RETRIES), rel=1e-3)
    assert attempts[agent] == pytest.approx(100.0)
    assert state.retry_after_s.max() == pytest.approx(C.APF_RETRY_AFTER_MIN_S)  # wound down again


def test_informer_relists_back_off_as_the_reflector_and_are_not_rest_client_retries():
    """client-go tools/cache/reflector.go: ``wait.NewExponentialBackoffManager(800*time.Millisecond,
    30*time.Second, 2*time.Minute, 2.0, 1.0, clock)`` — 0.8 s doubling to 30 s, jitter 1.0 (a wait
    of d lasts d × (1 + U[0, 1)), 1.5 d on average). Every relist flow (and its twin for a filling
    cache) goes back to that back-off; only the other flows are retried by the REST client."""
    from waveguard.sim.build import BACKOFF_DELAYS_S, release_fractions
    from waveguard.sim.phases import client_retries

    assert BACKOFF_DELAYS_S == (0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0)
    fractions = release_fractions(True, 1.0)
    assert fractions[0] == 1.0  # "send now"
    for d, f in zip(BACKOFF_DELAYS_S, fractions[1:], strict=True):
        assert f == pytest.approx(1.0 - math.exp(-1.0 / (1.5 * d)))
    sim = tiny()
    params = sim.params
    relists = np.flatnonzero(sim.flows.relist)
    assert len(relists) and (params.retry_policy[relists] == client_retries.NONE).all()
    assert (params.retry_policy[params.group_cold_flow] == client_retries.NONE).all()
