"""The projection (``model.cost.project``) and the simulator agree, on random profiles and clusters.

Hypothesis draws a request profile (per node or fixed replicas; informers, periodic and
per-event requests of any scope, some sent by the elected leader only) and a cluster (50 to
3,000 nodes, Kubernetes 1.25 / 1.29 / 1.31), starts every replica of the change at once on the
simulated cluster (the storm the projection's peak describes: ``pods_per_s`` unbounded) and
compares, in both directions:

**Request rates — exactly.** The simulator's compiled request rate of the change equals the sum of
``model.load.request_rate`` over the profile's classes (one function, no factor).

**Steady state — simulated within [0.7, 1.1] × projected.** Seat-seconds per second the change's
steady requests hold (time-averaged over 200 s after a 300 s warm-up) against the projection's
``steady_seat_seconds_per_s``. Both are rate × seats × service time τ of the same
``request_cost``; what differs is the simulator's time step dt: a request of τ > dt occupies its
seats for f + (1 − f) / f steps on average (f = dt / τ: the share that completes each step)
instead of 1 / f, a ratio f² − f + 1 that is never below 3/4 (at τ = 2 dt) and tends to 1 for
short and long requests; and its demand noise (coefficient of variation ``BASELINE_DEMAND_CV`` =
0.05 per second, ≈ 0.4 % over 200 s). 0.7 = 3/4 less room for the noise; 1.1 is the noise's room
many times over. Checked where the projection is below its warning level (nothing queues,
nothing is retried), every steady request is served within 30 s (so 300 s is a steady state) and
the simulated apiservers' CPU stays below 80 % (baseline included): above it, bursts stretch τ
(processor sharing) and seats are held longer — the projection has no CPU term (a known gap).

**Start-storm peak memory — simulated rise ≤ 2 × projected + 1 MiB and ≥ projected / (2 R) − 1 MiB**
(R: apiserver replicas). The rise is the fullest replica's peak above its baseline. Why these
bounds: the projection puts ⌈n / R⌉ of n starting clients on each replica and admits at once as
many as the level's seats allow; the simulator is fluid, so each replica gets n / R of them times
the load balancer's noise, and its seats can grow by borrowing. Spreading alone makes the
simulator lower by up to R (one client: 1 / R of its LIST on each replica); noise and borrowing
make it higher by well under 2; the second factor 2 and 1 MiB cover the rounding of seats (the
projection's unrounded seats against the simulator's rounded ones) and requests too small to
matter. Checked where the projection is not ``overload`` (an overloaded cluster's timeouts, 429s
and retries are the simulator's to model, not the projection's).

**etcd member memory peak — simulated rise ≤ 1.1 × projected + S, and ≥ projected / 2 − S**
(a second property: profiles of one or two LISTs read from etcd — resourceVersion="" before 1.31,
or paginated — start or periodic, on 500 to 5,000 nodes with 1, 3 or 5 etcd members, over 300 s).
The rise is one member's peak above its idle size; both sides come from
``model.etcd.member_memory_of`` (the projection: ``etcd_memory_fraction``). S is what etcd sends
in one simulator step, per member (throughput × dt / members × ``ETCD_RANGE_MEMORY_MULTIPLIER``):
a read that etcd finishes within the step it was admitted is gone before the simulator samples
its memory, and a step's arrivals are sampled whole. Upper bound: the projection admits every
starting client, or rate × wait by Little's law (the wait stretched by 1 / (1 − ρ) and at most the
client timeout per page), up to the level's seats — the simulator's seats and processor-sharing
etcd reach it at most (1.1: its demand noise) and less where a flow averages two classes' bytes.
Lower bound (one class read from etcd, etcd under half busy): the projection's wait is then at
most twice the link time the simulator's fluid etcd gives a read; the simulator sends the
projection's rate. Checked in all cases, overload included: the peak is what decides an OOM.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from waveguard.model import constants as C
from waveguard.model.cost import WARNING_UTILISATION, baseline_memory_bytes, project
from waveguard.model.fleet import Cluster, Fleet
from waveguard.model.load import request_rate, running_clients, sending_clients
from waveguard.model.requests import RequestClass, RequestProfile, informer
from waveguard.sim.engine import FleetSimulator

MIB = 2 ** 20
STEADY_BELOW, STEADY_ABOVE = 0.7, 1.1
PEAK_ABOVE = 2.0
PEAK_BELOW_PER_REPLICA = 2.0
WARM_UP_S, MEASURE_S = 300, 200
RESOURCES = ("pods", "nodes", "services", "configmaps")


@st.composite
def request_classes(draw) -> list[RequestClass]:
    kind = draw(st.sampled_from(["informer", "periodic", "per_event"]))
    resource = draw(st.sampled_from(RESOURCES))
    leader = draw(st.booleans())
    if kind == "informer":
        scope = draw(st.sampled_from(["cluster", "namespace", "node"]))
        return informer(resource, scope, component="drawn", leader_only=leader)
    rate = draw(st.sampled_from([0.01, 0.1, 1.0]))
    if kind == "periodic":
        return [RequestClass(verb=draw(st.sampled_from(["get", "list"])), resource=resource, trigger="periodic",
                             scope=draw(st.sampled_from(["object", "node", "namespace"])), rate_per_s=rate,
                             leader_only=leader)]
    return [RequestClass(verb=draw(st.sampled_from(["get", "patch"])), resource=resource, trigger="per_event",
                         scope=draw(st.sampled_from(["object", "node", "namespace", "cluster"])), rate_per_s=rate,
                         leader_only=leader)]


@st.composite
def profiles(draw) -> RequestProfile:
    per_node = draw(st.booleans())
    classes = [rc for group in draw(st.lists(request_classes(), min_size=1, max_size=3)) for rc in group]
    return RequestProfile(client="DaemonSet/drawn/agent" if per_node else "Deployment/drawn/agent", agent="drawn",
                          per_node=per_node, replicas=draw(st.integers(1, 5)),
                          namespace=draw(st.sampled_from(["monitoring", "kube-system"])), service_account="agent",
                          classes=classes)


clusters = st.builds(lambda nodes, version: Cluster(name="drawn", nodes=nodes, kubernetes_version=version),
                     st.sampled_from([50, 200, 500, 1000, 2000, 3000]), st.sampled_from(["1.25", "1.29", "1.31"]))


def _simulate(profile: RequestProfile, cluster: Cluster, share: float) -> tuple[FleetSimulator, float, float, float]:
    """Every replica of the change started at once; (simulator, peak memory rise of the fullest
    replica in bytes, mean seat-seconds per second of the change's steady flows, the busiest
    replica's highest CPU utilisation while they are measured)."""
    sim = FleetSimulator(Fleet(clusters=[cluster]), [profile], expected_steps=WARM_UP_S + MEASURE_S + 5)
    sim.set_rollout(cluster.name, share, pods_per_s=1e12)
    steady_flows = np.flatnonzero(sim.flows.is_change & ~sim.flows.relist)
    peak, held, cpu = 0.0, [], 0.0
    for t in range(WARM_UP_S + MEASURE_S):
        sim.step()
        peak = max(peak, float(sim.state.memory[:cluster.replicas, 0].max()))
        if t >= WARM_UP_S:
            seats = sim.state.busy[steady_flows, :, 0] * sim.params.seats[steady_flows, :, 0]
            held.append(float(seats.sum()))
            cpu = max(cpu, float(sim.state.cpu_utilisation[:cluster.replicas, 0].max()))
    return sim, peak - baseline_memory_bytes(cluster), float(np.mean(held)), cpu


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(profile=profiles(), cluster=clusters, share=st.sampled_from([0.01, 0.1, 1.0]))
def test_simulator_stays_within_a_stated_factor_of_the_projection(profile, cluster, share):
    share = share if profile.per_node else 1.0
    load = project(profile, cluster, node_share=share)
    sim, peak_rise, steady, cpu = _simulate(profile, cluster, share)

    # Rates: one function.
    running = running_clients(profile, cluster, share)
    expected = sum(request_rate(rc, profile, cluster, sending_clients(rc, running)) for rc in profile.classes)
    compiled = float(sim.state.arrivals_per_step[sim.flows.is_change].sum()) / sim.dt
    assert compiled == pytest.approx(expected, rel=1e-9, abs=1e-12)

    assume(load.verdict != "overload")
    projected_rise = load.storm_peak_memory_bytes - baseline_memory_bytes(cluster)
    assert peak_rise <= PEAK_ABOVE * projected_rise + MIB, (peak_rise, projected_rise)
    assert peak_rise >= projected_rise / (PEAK_BELOW_PER_REPLICA * cluster.replicas) - MIB, (peak_rise, projected_rise)

    quiet = load.level_utilisation < WARNING_UTILISATION and load.server_utilisation < WARNING_UTILISATION
    slowest = float(sim.params.service_s[sim.flows.is_change & ~sim.flows.relist].max(initial=0.0))
    if quiet and slowest <= 30.0 and cpu < 0.8:
        projected = load.steady_seat_seconds_per_s
        assert STEADY_BELOW * projected - 1e-6 <= steady <= STEADY_ABOVE * projected + 1e-6, (steady, projected)


ETCD_ABOVE, ETCD_BELOW = 1.1, 2.0
ETCD_RUN_S = 300


@st.composite
def etcd_profiles(draw) -> RequestProfile:
    """One or two LISTs read from etcd (resourceVersion=""; paginated or not), start or periodic."""
    classes = []
    for _ in range(draw(st.integers(1, 2))):
        trigger = draw(st.sampled_from(["start", "periodic"]))
        classes.append(RequestClass(
            verb="list", resource=draw(st.sampled_from(["pods", "configmaps", "services"])),
            scope=draw(st.sampled_from(["cluster", "namespace", "node"])), trigger=trigger,
            rate_per_s=draw(st.sampled_from([0.01, 0.1, 1.0])) if trigger == "periodic" else 0.0,
            resource_version="", limit=draw(st.sampled_from([None, 500]))))
    per_node = draw(st.booleans())
    return RequestProfile(client="DaemonSet/drawn/agent" if per_node else "Deployment/drawn/agent", agent="drawn",
                          per_node=per_node, replicas=draw(st.integers(1, 5)), namespace="monitoring",
                          service_account="agent", classes=classes)


etcd_clusters = st.builds(
    lambda nodes, version, members: Cluster(name="drawn", nodes=nodes, kubernetes_version=version,
                                            etcd_members=members),
    st.sampled_from([500, 1000, 2000, 3000, 5000]), st.sampled_from(["1.25", "1.30", "1.31"]),
    st.sampled_from([1, 3, 5]))


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(profile=etcd_profiles(), cluster=etcd_clusters, share=st.sampled_from([0.01, 0.1, 1.0]))
def test_the_simulated_etcd_member_memory_peak_stays_within_a_stated_factor_of_the_projection(profile, cluster,
                                                                                                share):
    share = share if profile.per_node else 1.0
    load = project(profile, cluster, node_share=share)
    sim = FleetSimulator(Fleet(clusters=[cluster]), [profile], expected_steps=ETCD_RUN_S + 5)
    sim.set_rollout(cluster.name, share, pods_per_s=1e12)
    peak = 0.0
    for _ in range(ETCD_RUN_S):
        sim.step()
        peak = max(peak, float(sim.state.etcd_memory[0]))
    projected = load.etcd_memory_fraction * cluster.etcd_member_memory_bytes - C.ETCD_BASE_MEMORY_BYTES
    simulated = peak - C.ETCD_BASE_MEMORY_BYTES
    step = cluster.etcd_throughput_bytes_per_s * sim.dt / cluster.etcd_member_count * C.ETCD_RANGE_MEMORY_MULTIPLIER
    assert simulated <= ETCD_ABOVE * projected + step, (simulated, projected)
    if len(profile.classes) == 1 and load.etcd_utilisation < 0.5:
        assert simulated >= projected / ETCD_BELOW - step, (simulated, projected)
