"""Properties of the simulator's model, each asserted on simulator output."""

from __future__ import annotations

import math

import numpy as np
import pytest

from waveguard.model import constants as C
from waveguard.model.cost import writer_extra_seat_seconds
from waveguard.model.fleet import Cluster, Fleet
from waveguard.model.requests import RequestProfile, informer
from waveguard.sim import METRICS, FleetSimulator, load_builtin, scenario_from_data, simulate
from waveguard.sim.engine import mmc_p99_wait
from waveguard.sim.flows import writer_extra_seat_seconds_vec
from waveguard.sim.run import shard_clusters


def agent_scenario(namespace: str, name: str = "apf") -> dict:
    """One 5,000-node cluster with memory to spare (no OOM: APF alone decides) and a pod-watching
    DaemonSet created fast (100 pods/s): its LISTs saturate their priority level."""
    return {
        "name": name, "duration_s": 600, "seed": 3,
        "fleet": {"clusters": [{"name": "big", "nodes": 5000, "apiserver_memory_bytes": 128 << 30}]},
        "change": {"profile": {
            "client": "DaemonSet/x/agent", "agent": "telemetry", "per_node": True, "namespace": namespace,
            "service_account": "agent",
            "classes": [{"verb": "list", "resource": "pods", "scope": "cluster", "trigger": "start",
                         "resource_version": "0"},
                        {"verb": "watch", "resource": "pods", "scope": "cluster", "trigger": "held"}]}},
        "schedule": [{"cluster": "big", "at_s": 60, "pods_per_s": 100}],
    }


def level_view(result, level: str):
    rejected = result.rate("apiserver_flowcontrol_rejected_requests_total", "big", priority_level=level)
    wait = result.series("apiserver_flowcontrol_request_wait_duration_seconds", "big", priority_level=level,
                         quantile="0.99")
    dispatched = result.rate("apiserver_flowcontrol_dispatched_requests_total", "big", priority_level=level)
    return rejected, wait, dispatched


@pytest.fixture(scope="module")
def default_sa():
    return simulate(scenario_from_data(agent_scenario("telemetry")), workers=1)


@pytest.fixture(scope="module")
def kube_system_sa():
    return simulate(scenario_from_data(agent_scenario("kube-system")), workers=1)


def test_kubelet_levels_served_while_workload_low_saturates(default_sa):
    rej_low, _, _ = level_view(default_sa, "workload-low")
    saturated = rej_low >= 1.0
    assert saturated.sum() >= 60, "workload-low should answer 429s for minutes"
    assert default_sa.summary()[0].oom_kills == 0
    for level in ("system", "node-high"):
        rejected, wait, dispatched = level_view(default_sa, level)
        assert rejected[saturated].max() < 0.01, level
        assert wait[saturated].max() < C.SLO_SINGLE_OBJECT_S, level
        assert dispatched[saturated].min() > 0, level  # leases and status keep flowing
    # The control plane's own level is untouched too.
    rejected, wait, _ = level_view(default_sa, "workload-high")
    assert rejected[saturated].max() < 0.01 and wait[saturated].max() < C.SLO_SINGLE_OBJECT_S


def test_kube_system_service_account_moves_the_storm_onto_the_control_plane_level(kube_system_sa):
    """A kube-system ServiceAccount lands in workload-high (default FlowSchemas), the level of
    kube-controller-manager, kube-scheduler and CoreDNS: they queue and are rejected with the
    agent, while workload-low stays idle. The kubelets' own levels still hold."""
    rej_high, wait_high, _ = level_view(kube_system_sa, "workload-high")
    rej_low, _, _ = level_view(kube_system_sa, "workload-low")
    saturated = rej_high >= 1.0
    assert saturated.sum() >= 60
    assert rej_low.max() < 0.01
    assert np.median(wait_high[saturated]) > C.SLO_SINGLE_OBJECT_S
    for level in ("system", "node-high"):
        rejected, wait, _ = level_view(kube_system_sa, level)
        assert rejected[saturated].max() < 0.01


def storm_seconds(result, cluster: str, after_s: float) -> float:
    """Seconds from ``after_s`` to the last step the control plane is saturated."""
    mask = result.saturated_mask(cluster)
    idx = np.flatnonzero(mask & (result.times > after_s))
    return float(result.times[idx[-1]] - after_s) if len(idx) else 0.0


def test_relist_storm_without_backoff_lasts_longer():
    with_backoff = simulate(load_builtin("relist-storm"), workers=1)
    without = simulate(load_builtin("relist-storm-no-backoff"), workers=1)
    restart = 300.0
    d_with = storm_seconds(with_backoff, "prod-1300", restart)
    d_without = storm_seconds(without, "prod-1300", restart)
    assert 30 <= d_with < d_without
    # A storm indeed: the replica restarted (and, since etcd's range responses are counted as
    # stored — protobuf, half the JSON — the 260 LISTs arrive within the client timeout and their
    # decoding OOM-kills replicas: docs/simulator.md, relist-storm) and the others answered 429s.
    assert with_backoff.series("up", "prod-1300", job="apiserver").min() < 5
    assert without.rate("apiserver_request_total", "prod-1300", code="429").sum() > \
        with_backoff.rate("apiserver_request_total", "prod-1300", code="429").sum()


def small_run(seed: int):
    scenario = load_builtin("relist-storm")
    scenario = scenario.model_copy(update={"duration_s": 420.0})
    scenario._fleet, scenario._profiles = load_builtin("relist-storm").fleet_model, scenario.profiles
    return simulate(scenario, seed=seed, workers=1)


def test_same_seed_same_output_other_seed_other_noise():
    a, b, c = small_run(11), small_run(11), small_run(12)
    for metric, labels in (("process_resident_memory_bytes", {}), ("apiserver_request_total", {"code": "429"}),
                           ("apiserver_flowcontrol_current_executing_seats", {"priority_level": "workload-low"})):
        assert np.array_equal(a.series(metric, "prod-1300", **labels), b.series(metric, "prod-1300", **labels))
    assert a.to_json() == b.to_json()
    assert not np.array_equal(a.series("apiserver_flowcontrol_current_executing_seats", "prod-1300",
                                       priority_level="node-high"),
                              c.series("apiserver_flowcontrol_current_executing_seats", "prod-1300",
                                       priority_level="node-high"))


def test_parallel_shards_give_the_single_process_result():
    scenario = load_builtin("incident-2024-12-11-node-filtered").model_copy(update={"duration_s": 900.0})
    full = load_builtin("incident-2024-12-11-node-filtered")
    scenario._fleet, scenario._profiles = full.fleet_model, full.profiles
    one = simulate(scenario, workers=1)
    two = simulate(scenario, workers=2)
    assert one.to_json() == two.to_json()
    for cluster in ("staging", "prod-24-7500"):
        assert np.array_equal(one.series("apiserver_flowcontrol_dispatched_requests_total", cluster),
                              two.series("apiserver_flowcontrol_dispatched_requests_total", cluster))
    shards = shard_clusters([c.nodes for c in full.fleet_model.clusters], 2)
    assert sorted(i for s in shards for i in s) == list(range(25))


def test_latency_grows_without_bound_as_utilisation_approaches_one():
    rho = np.array([0.5, 0.9, 0.99, 0.999, 0.9999])
    wait = mmc_p99_wait(np.full(5, 1.0), np.full(5, 100.0), rho)
    assert np.all(np.diff(wait) > 0)
    assert wait[0] < 1e-3 and wait[-1] > 100 * wait[2]
    assert mmc_p99_wait(np.array(1.0), np.array(100.0), np.array(1 - 1e-9)) > 1e4


def test_writer_extra_seats_vectorised_like_the_cost_model():
    watchers = np.array([0, 5, 9, 10, 11, 99, 100, 7510, 12345.0])
    expected = [writer_extra_seat_seconds(w) for w in watchers]
    assert np.allclose(writer_extra_seat_seconds_vec(watchers), expected)


def test_cost_model_figures_reach_the_simulator():
    """Seats and service time of the change's LIST come from waveguard.model.cost."""
    from waveguard.model.cost import request_cost

    cluster = Cluster(name="c", nodes=2000)
    profile = RequestProfile(client="DaemonSet/x/a", agent="t", per_node=True, namespace="x", service_account="a",
                             classes=informer("pods", "cluster", component="t"))
    sim = FleetSimulator(Fleet(clusters=[cluster]), [profile], expected_steps=10)
    f = sim.flows.names.index("DaemonSet/x/a/workload-low/relist")
    lst = request_cost(profile.classes[0], cluster, sim.apf.max_seats_per_request("workload-low"))
    watch = request_cost(profile.classes[1], cluster)
    assert sim.flows.seats[0, f] == lst.seats == 10
    assert sim.flows.tau[0, f] == pytest.approx((lst.seat_seconds + watch.seat_seconds) / lst.seats)


def test_step_by_step_control_for_a_rollout_engine():
    """set_rollout / step / metrics: what the rollout engine drives."""
    fleet = Fleet(clusters=[Cluster(name="small", nodes=300), Cluster(name="large", nodes=6000)])
    profile = RequestProfile(client="DaemonSet/x/a", agent="t", per_node=True, namespace="x", service_account="a",
                             classes=informer("pods", "cluster", component="t"))
    sim = FleetSimulator(fleet, [profile], seed=5, expected_steps=900)
    sim.step(60)
    snap = sim.metrics()
    assert snap.time_s == pytest.approx(60)
    assert snap.value("waveguard_sim_rollout_share", "large") == 0.0
    assert snap.value("up", "large", job="apiserver") == 5
    sim.set_rollout("large", 0.5)
    sim.step(240)
    snap = sim.metrics()
    assert snap.value("waveguard_sim_rollout_share", "large") == pytest.approx(0.5)
    assert snap.value("waveguard_sim_rollout_share", "small") == 0.0
    assert snap.value("apiserver_flowcontrol_rejected_requests_total", "large") > 0  # counter: cumulative
    assert snap.value("process_resident_memory_bytes", "large") >= 0
    sim.set_rollout("large", 0.0)  # roll back
    sim.step(300)
    assert sim.metrics().value("waveguard_sim_rollout_share", "large") == 0.0
    result = sim.result("manual")
    assert len(result.times) == 600
    with pytest.raises(KeyError):
        sim.set_rollout("missing", 1.0)
    with pytest.raises(ValueError):
        sim.set_rollout("large", 1.5)


def test_metric_names_are_those_real_components_expose():
    real = {"apiserver_flowcontrol_current_executing_seats", "apiserver_flowcontrol_rejected_requests_total",
            "apiserver_request_duration_seconds", "process_resident_memory_bytes", "coredns_dns_responses_total",
            "apiserver_flowcontrol_current_inqueue_requests", "apiserver_request_total", "up"}
    assert real <= set(METRICS)
    assert all(name.startswith(("apiserver_", "process_", "coredns_", "up", "waveguard_sim_", "etcd_")) for name in METRICS)


def test_counters_are_cumulative_and_rates_per_second():
    result = small_run(11)
    total = result.series("apiserver_request_total", "prod-1300", code="429")
    rate = result.rate("apiserver_request_total", "prod-1300", code="429")
    assert np.all(np.diff(total) >= 0)
    assert total[-1] == pytest.approx(rate.sum() * result.step_s, rel=1e-4)
    with pytest.raises(KeyError):
        result.series("no_such_metric", "prod-1300")
    with pytest.raises(KeyError):
        result.series("apiserver_request_total", "prod-1300", code="503")  # 429, 409, 500 only


def test_backoff_levels_follow_client_go():
    delays = [min(C.CLIENT_BACKOFF_MAX_S, C.CLIENT_BACKOFF_INITIAL_S * 2 ** k) for k in range(7)]
    assert delays[0] == 0.8 and delays[-1] == 30.0
    assert math.isclose(C.APF_QUEUE_WAIT_LIMIT_S, 15.0)


def test_custom_flow_schema_confines_the_agent_to_its_own_level():
    """Custom PriorityLevelConfigurations / FlowSchemas (what break-glass isolation uses): the
    agent's ServiceAccount gets a small level of its own; workload-low stays clean."""
    from waveguard.model.apf import DEFAULT_FLOW_SCHEMAS, DEFAULT_PRIORITY_LEVELS

    data = agent_scenario("telemetry", name="custom-apf")
    levels = [l.model_dump() for l in DEFAULT_PRIORITY_LEVELS]
    levels.append({"name": "telemetry", "shares": 10, "lendable_percent": 0, "borrowing_limit_percent": 0,
                   "queues": 16, "hand_size": 4, "queue_length_limit": 50})
    schemas = [f.model_dump() for f in DEFAULT_FLOW_SCHEMAS]
    schemas.append({"name": "telemetry", "precedence": 500, "priority_level": "telemetry",
                    "service_accounts": [("telemetry", "*")]})
    data["apf"] = {"levels": levels, "flow_schemas": schemas}
    result = simulate(scenario_from_data(data), workers=1)
    own = result.rate("apiserver_flowcontrol_rejected_requests_total", "big", priority_level="telemetry")
    low = result.rate("apiserver_flowcontrol_rejected_requests_total", "big", priority_level="workload-low")
    assert own.max() >= 1.0  # the agent is throttled in its own level...
    assert low.max() < 0.01  # ...and nobody else's
    limit = result.series("apiserver_flowcontrol_current_limit_seats", "big", priority_level="telemetry")
    nominal = result.series("apiserver_flowcontrol_nominal_limit_seats", "big", priority_level="telemetry")
    assert limit.max() <= nominal[0] + 1e-6  # no borrowing


def test_custom_flow_schemas_without_a_match_are_bad_input():
    from waveguard.model.errors import InputError

    data = agent_scenario("telemetry", name="no-catch-all")
    data["apf"] = {"flow_schemas": [{"name": "nodes", "precedence": 1, "priority_level": "system",
                                     "groups": ["system:nodes"]}]}
    with pytest.raises(InputError, match="apf.flow_schemas: no FlowSchema matches"):
        scenario_from_data(data)


def test_shards_with_different_replica_counts_give_the_same_result():
    """Shards of small (3 replicas) and large (5 replicas) clusters pad differently; a cluster's
    noise and result must not depend on that."""
    data = {"name": "mixed", "duration_s": 300, "seed": 9,
            "fleet": {"clusters": [{"name": f"s{i}", "nodes": 300} for i in range(3)]
                      + [{"name": "l0", "nodes": 3000}]}}
    scenario = scenario_from_data(data)
    one = simulate(scenario, workers=1)
    two = simulate(scenario, workers=2)
    for c in ("s0", "s2", "l0"):
        assert np.array_equal(one.series("apiserver_flowcontrol_dispatched_requests_total", c),
                              two.series("apiserver_flowcontrol_dispatched_requests_total", c))
        assert np.array_equal(one.series("process_resident_memory_bytes", c),
                              two.series("process_resident_memory_bytes", c))


def test_a_burst_of_lists_shares_the_cores_and_holds_its_memory_together():
    """40 agents' LISTs of 12,500 pods (0.5 CPU-s each) reach a 4-core apiserver in the same
    second; 1.18's max-in-flight admits them all. 20 CPU-s cannot finish within that second: the
    LISTs execute together (goroutines share the cores) and hold their memory together."""
    from waveguard.model.cost import request_cost

    data = {
        "name": "burst", "duration_s": 30, "seed": 1,
        "fleet": {"clusters": [{"name": "c", "nodes": 40, "pods": 12500, "apiserver_replicas": 1,
                                "apiserver_memory_bytes": 16 << 30, "kubernetes_version": "1.18"}]},
        "change": {"profile": {
            "client": "DaemonSet/x/agent", "agent": "t", "per_node": True, "namespace": "x",
            "service_account": "agent",
            "classes": [{"verb": "list", "resource": "pods", "scope": "cluster", "trigger": "start",
                         "resource_version": "0"}]}},
        "schedule": [{"cluster": "c", "at_s": 5, "pods_per_s": 1000}],
    }
    scenario = scenario_from_data(data)
    cluster = scenario.fleet.clusters[0]
    lst = request_cost(RequestProfile.model_validate(data["change"]["profile"]).classes[0], cluster)
    assert 0.3 < lst.service_s < 0.7  # lighter than one step alone
    memory = simulate(scenario, workers=1).series("process_resident_memory_bytes", "c")
    transient = memory.max() - memory[:5].max()
    assert transient >= 0.8 * 40 * lst.memory_bytes * C.GO_HEAP_GROWTH_FACTOR


@pytest.mark.parametrize("version, borrows", [("1.25", False), ("1.26", True)])
def test_priority_levels_borrow_seats_from_1_26(version, borrows):
    """Idle levels lend their seats from 1.26 (KEP-1040, flowcontrol v1beta3); before it every
    level keeps its nominal limit, so a burst in an idle workload-low meets all its seats."""
    data = agent_scenario("telemetry", name=f"borrow-{version}")
    data["duration_s"] = 60
    data["fleet"]["clusters"][0]["kubernetes_version"] = version
    result = simulate(scenario_from_data(data), workers=1)
    current = result.series("apiserver_flowcontrol_current_limit_seats", "big", priority_level="workload-low")
    nominal = result.series("apiserver_flowcontrol_nominal_limit_seats", "big", priority_level="workload-low")
    assert np.all(current[-30:] == nominal[-30:]) != borrows
