"""The projection counts etcd (issue 12, item 9 and "one model"): the range responses a change's
LISTs from etcd have etcd build at the change's peak, one etcd member's memory then — with the
simulator's functions (``waveguard.model.etcd``) — its verdict in ``analyse``, and the projection
gate blocking a wave that would OOM-kill etcd in the simulator.

No etcd runs here: the simulator stands in for it, so the rollout tests check the contract
between the one cost model's projection and the simulator that shares its functions."""

from __future__ import annotations

import math
import os
import tempfile

import pytest

from waveguard.analysis import build_profiles, load_change
from waveguard.analysis.projection import project_fleet
from waveguard.demo.strategies import HIDDEN_COST_CHANGE, hidden_cost_profiles
from waveguard.model import constants as C
from waveguard.model import etcd
from waveguard.model.cost import combined_etcd_memory_fraction, project, request_cost
from waveguard.model.fleet import Cluster, Fleet
from waveguard.model.requests import RequestClass, RequestProfile
from waveguard.rollout.engine import Engine
from waveguard.rollout.eventlog import EventLog
from waveguard.rollout.gates.projection import project_wave
from waveguard.rollout.plan import propose_plan
from waveguard.rollout.simtarget import SimTarget
from waveguard.sim.scenario import find_project_path, load_builtin

FULL_LIST = RequestClass(verb="list", resource="pods", scope="cluster", trigger="start", resource_version="")


def _agent(*classes: RequestClass, per_node: bool = True) -> RequestProfile:
    return RequestProfile(client="DaemonSet/monitoring/agent", agent="agent", per_node=per_node,
                          namespace="monitoring", service_account="agent", classes=list(classes))


def test_one_member_holds_its_share_of_the_ranges_in_flight():
    cluster = Cluster(name="c", nodes=100, etcd_members=5, etcd_memory_bytes=10 << 30)
    held = 5 * (1 << 30)
    assert etcd.member_memory_bytes(cluster, held) == C.ETCD_BASE_MEMORY_BYTES + C.ETCD_RANGE_MEMORY_MULTIPLIER * (1 << 30)
    assert etcd.member_memory_fraction(cluster, held) == pytest.approx(etcd.member_memory_bytes(cluster, held) / (10 << 30))
    # the OOM point is where the fraction reaches 1, as the simulator checks it
    assert etcd.member_memory_fraction(cluster, etcd.range_bytes_to_oom(cluster)) == pytest.approx(1.0)


def test_a_range_waits_its_link_time_stretched_by_a_busy_etcd_up_to_the_timeout():
    one_second = C.ETCD_RANGE_BYTES_PER_S
    assert etcd.range_wait_s(one_second, 1, 0.0) == pytest.approx(1.0)
    assert etcd.range_wait_s(one_second, 1, 0.5) == pytest.approx(2.0)  # processor sharing: x / (1 - rho)
    assert etcd.range_wait_s(one_second, 1, 0.999) == C.CLIENT_TIMEOUT_S  # capped by the client timeout
    assert etcd.range_wait_s(one_second, 3, 1.5) == 3 * C.CLIENT_TIMEOUT_S  # saturated: every page's timeout


def test_a_start_storm_from_etcd_holds_every_admitted_clients_response():
    """50 full pod LISTs from etcd (1.25: resourceVersion="" is read from etcd) start at once:
    all are admitted (the level has the seats), each holds its whole range response in etcd."""
    cluster = Cluster(name="c", nodes=50, kubernetes_version="1.25")
    load = project(_agent(FULL_LIST), cluster)
    cost = request_cost(FULL_LIST, cluster)
    assert cost.etcd_bytes > 0 and 50 * cost.seats < load.level_capacity_seats
    assert load.etcd_range_bytes == 50 * cost.etcd_bytes
    assert load.etcd_memory_fraction == pytest.approx(etcd.member_memory_fraction(cluster, 50 * cost.etcd_bytes))
    # from the watch cache: nothing in flight in etcd, the idle member
    cached = project(_agent(FULL_LIST.model_copy(update={"resource_version": "0"})), cluster)
    assert cached.etcd_range_bytes == 0
    assert cached.etcd_memory_fraction == pytest.approx(C.ETCD_BASE_MEMORY_BYTES / cluster.etcd_member_memory_bytes)


def test_a_steady_list_from_etcd_is_in_flight_by_littles_law():
    """One replica re-listing pods from etcd every 10 s on 500 nodes: rate × wait (Little's law),
    the wait being the link time stretched by how busy the change keeps etcd."""
    relist = FULL_LIST.model_copy(update={"trigger": "periodic", "rate_per_s": 0.1})
    cluster = Cluster(name="c", nodes=500, kubernetes_version="1.29")
    load = project(_agent(relist, per_node=False), cluster)
    cost = request_cost(relist, cluster)
    expected = 0.1 * etcd.range_wait_s(cost.etcd_bytes, cost.pages, load.etcd_utilisation) * cost.etcd_bytes
    assert 0 < load.etcd_utilisation < 1 and load.etcd_range_bytes == int(expected)


def test_a_small_etcd_is_an_overload_of_its_own():
    """The same storm on a cluster whose three etcd members have 64 MiB over their idle size
    (room for 192 MiB of ranges; the 50 LISTs read ~300 MB): etcd keeps up with the bytes (well
    under its throughput) but cannot hold the responses: overload, the reason names etcd memory."""
    cluster = Cluster(name="c", nodes=50, kubernetes_version="1.25", etcd_memory_bytes=C.ETCD_BASE_MEMORY_BYTES + (64 << 20))
    load = project(_agent(FULL_LIST), cluster)
    assert load.etcd_utilisation < 0.5 and load.memory_share < 1.0
    assert load.etcd_memory_fraction >= 1.0 and load.verdict == "overload"
    assert "etcd member's memory" in load.reasons[0] and "OOM" in load.reasons[0]
    projection = project_fleet([_agent(FULL_LIST)], Fleet(clusters=[cluster]))[0]
    assert projection.etcd_memory_fraction == pytest.approx(load.etcd_memory_fraction)
    assert projection.verdict == "overload"


def test_workloads_of_one_change_share_the_clusters_etcd():
    cluster = Cluster(name="c", nodes=50, kubernetes_version="1.25")
    loads = [project(_agent(FULL_LIST), cluster)] * 2
    both = combined_etcd_memory_fraction(loads, cluster)
    assert both == pytest.approx(etcd.member_memory_fraction(cluster, 2 * loads[0].etcd_range_bytes))
    assert both > loads[0].etcd_memory_fraction


def _relisting_everywhere() -> list[RequestProfile]:
    """The demo's production-traffic change (the node-filtered agent that re-lists pods from etcd,
    paginated, every 10 s per agent), here relisting on every cluster — staging included, so the
    canary measures it and the projection knows it."""
    analysed = build_profiles(load_change([str(find_project_path(HIDDEN_COST_CHANGE))]), silent=True)
    *agent, traffic = hidden_cost_profiles(analysed)
    return [*agent, traffic.model_copy(update={"clusters": {}, "client": f"{agent[0].client}-relister"})]


def _roll_out(with_projection: bool):
    """``waveguard plan`` + ``rollout start`` of the relisting change on the incident scenario's
    fleet (the projection gate on, or removed from the plan)."""
    scenario = load_builtin("incident-2024-12-11")
    fleet, profiles = scenario.fleet_model, _relisting_everywhere()
    plan = propose_plan(HIDDEN_COST_CHANGE, fleet, per_node=True)
    if not with_projection:
        plan = plan.model_copy(update={"gates": [g for g in plan.gates if g.kind != "projection"]})
    target = SimTarget.for_scenario(scenario, None, profiles=profiles)
    with tempfile.TemporaryDirectory() as tmp:
        log = EventLog(os.path.join(tmp, "state.db"), create=True)
        Engine(plan=plan, fleet=fleet, target=target, log=log, analysed_profiles=profiles).run()
        events = log.events()
        log.close()
    sim = target.sim
    etcd_lost = {name for i, name in enumerate(sim.cluster_names) if sim.state.etcd_crashes[i] > 0}
    applied = {(e.wave, e.cluster) for e in events if e.kind == "applied" and e.data["share"] > 0}
    return events, applied, etcd_lost


def test_the_projection_blocks_the_wave_that_would_oom_etcd():
    """Without the projection gate the first production wave (1 %) OOM-kills etcd on the
    clusters of 4,000 nodes or more (the demo's production-traffic case, docs/rollout.md); with
    it, the gate fails each of them on its etcd member memory before the wave, the change never
    reaches them and no etcd is lost anywhere."""
    _, applied_blind, lost_blind = _roll_out(with_projection=False)
    assert {"prod-18-4000", "prod-24-7500"} <= lost_blind
    assert all((1, name) in applied_blind for name in lost_blind)  # lost in the 1 % wave

    events, applied, lost = _roll_out(with_projection=True)
    failed = {e.cluster: e.data["detail"] for e in events
              if e.kind == "gate" and e.data["gate"] == "projection" and e.data["status"] == "fail"}
    for name in lost_blind:
        assert "projected etcd member memory" in failed[name], failed.get(name)
        assert not any(cluster == name for _, cluster in applied), f"{name} got the change past the projection"
    assert not lost, f"etcd OOM-killed on {lost} although the projection passed them"


def test_the_gate_passes_where_etcd_keeps_up():
    """The same change on the clusters under 1,500 nodes at 1 %: etcd member memory well under
    the threshold, the gate passes (its figure is the one nearest its threshold)."""
    fleet = load_builtin("incident-2024-12-11").fleet_model
    small = [c for c in fleet.clusters if c.nodes < 1500]
    results = project_wave(_relisting_everywhere(), small, {c.name: 0.01 for c in small}, 0.5)
    assert [r.status for r in results] == ["pass"] * len(small)
    assert all(math.isfinite(r.value) for r in results)
