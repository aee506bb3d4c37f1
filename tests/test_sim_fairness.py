"""Issue 12, fairness, clients and writes: APF flow identity and shuffle sharding, borrowing's
seat-demand smoothing (tests/test_sim_phases.py), client-go's retries of 429s and APF's
Retry-After, writes through etcd's commit, crash-looping pods' Events, per-cluster apiserver
flags and etcd as a component. No kube-apiserver or etcd binary runs here: each rule is checked
against the figure the Kubernetes / client-go / etcd source gives (named in each test)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from waveguard.model import constants as C
from waveguard.model import etcd as etcd_model
from waveguard.model.apf import (
    DEFAULT_APF, Subject, flow_distinguisher, flows_of, queue_capacity, queues_touched,
)
from waveguard.model.errors import InputError
from waveguard.model.fleet import Cluster, Fleet
from waveguard.sim import FleetSimulator
from waveguard.sim.clients import crashloop_restarts, qps_per_instance, kubelet_client
from waveguard.sim.run import simulate
from waveguard.sim.scenario import load_builtin, scenario_from_data


# --- flow identity and shuffle sharding ------------------------------------------------------


def test_every_kube_system_service_account_shares_one_flow_per_namespace():
    # bootstrap/default.go: kube-system-service-accounts distinguishes ByNamespace.
    a, b = Subject.service_account("kube-system", "coredns"), Subject.service_account("kube-system", "agent")
    schema = DEFAULT_APF.classify(a, "list", "pods")
    assert schema.name == "kube-system-service-accounts" == DEFAULT_APF.classify(b, "list", "pods").name
    assert flow_distinguisher(schema, a, "") == flow_distinguisher(schema, b, "") == ""
    assert flow_distinguisher(schema, a, "apps") != flow_distinguisher(schema, a, "")
    users = DEFAULT_APF.classify(Subject.service_account("apps", "x"), "list", "pods")
    assert users.name == "service-accounts" and users.distinguisher == "ByUser"
    assert flow_distinguisher(users, Subject.service_account("apps", "x"), "") == "system:serviceaccount:apps:x"


def test_one_client_is_one_flow_unless_its_schema_tells_its_instances_or_namespaces_apart():
    """model.apf.flows_of, which the projection's start storm and the simulator's queue limit
    both use: a DaemonSet's one ServiceAccount is one flow (ByUser); kubelets are one each; a
    kube-system ServiceAccount's namespaced requests form a flow per namespace (ByNamespace),
    its cluster-wide ones one flow shared by every kube-system ServiceAccount."""
    agent = Subject.service_account("monitoring", "agent")
    by_user = DEFAULT_APF.classify(agent, "list", "pods")
    assert flows_of(by_user, agent, distinct_users=False, namespaced=True) == 1.0
    assert flows_of(by_user, agent, distinct_users=True, namespaced=False) == math.inf
    system = Subject.service_account("kube-system", "agent")
    by_namespace = DEFAULT_APF.classify(system, "list", "pods")
    assert flows_of(by_namespace, system, distinct_users=True, namespaced=False) == 1.0
    assert flows_of(by_namespace, system, distinct_users=False, namespaced=True) == math.inf
    exempt = Subject(user="admin", groups=["system:masters"])
    assert flows_of(DEFAULT_APF.classify(exempt), exempt, distinct_users=True, namespaced=True) == 1.0


#: Largest handSize the Dealer takes: "15 is the largest possible value of handSize" (k8s:
#: staging/src/k8s.io/apiserver/pkg/util/shufflesharding/shufflesharding.go, 1.18–1.35).
MAX_HAND_SIZE = 15


def deal_hand(hash_value: int, deck_size: int, hand_size: int) -> list[int]:
    """The reference the expected coverage is checked against: shufflesharding.go
    ``Dealer.Deal`` — the mixed-radix digits of the hash, each card skipping those dealt
    before it. The model does not deal hands (no flow has a hash in a fluid simulator): it uses
    their expected coverage, model.apf.queues_touched."""
    assert 1 <= hand_size <= min(deck_size, MAX_HAND_SIZE) and 0 <= hash_value < 1 << 64
    remainders = []
    for i in range(hand_size):
        hash_value, remainder = divmod(hash_value, deck_size - i)
        remainders.append(remainder)
    hand = []
    for i, card in enumerate(remainders):
        for j in range(i, 0, -1):
            if card >= remainders[j - 1]:
                card += 1
        hand.append(card)
    return hand


def test_the_reference_dealer_deals_the_dealers_hand():
    # Deck 4, hand 2, hash 10: digits 10 % 4 = 2, then (10 // 4) % 3 = 2 → cards 2, 3.
    assert deal_hand(10, 4, 2) == [2, 3]
    for h in (0, 1, 12345678901234567, (1 << 64) - 1):
        hand = deal_hand(h, 128, 6)
        assert len(set(hand)) == 6 and all(0 <= q < 128 for q in hand)


def test_queue_capacity_is_the_queues_the_flows_hands_cover():
    # queueset.go: a request goes to its hand's shortest queue, 429 when that holds queueLengthLimit.
    low = DEFAULT_APF.level("workload-low")  # 128 queues, hand 6, 50 each
    assert queue_capacity(low, 1) == 6 * 50
    assert queue_capacity(low, math.inf) == 128 * 50
    assert queues_touched(low, 10) == pytest.approx(128 * (1 - (1 - 6 / 128) ** 10))
    assert queue_capacity(DEFAULT_APF.level("catch-all"), 5) == 0.0  # Reject
    # Monte Carlo with the real dealer agrees with the expectation.
    rng = np.random.default_rng(1)
    covered = [len({q for _ in range(10) for q in deal_hand(int(rng.integers(0, 2**63)), 128, 6)})
               for _ in range(300)]
    assert np.mean(covered) == pytest.approx(queues_touched(low, 10), rel=0.03)


# --- clients: retries, Retry-After, limits ------------------------------------------------------


def _counts(name: str) -> dict[str, float]:
    result = simulate(load_builtin(name), workers=1)
    series = lambda metric, **labels: float(result.series(metric, "small-cp", **labels)[-1])  # noqa: E731
    return {"429": series("apiserver_request_total", code="429"),
            "retries": series("waveguard_sim_client_retries_total"),
            "dispatched": series("apiserver_flowcontrol_dispatched_requests_total", priority_level="workload-low")}


@pytest.fixture(scope="module")
def retry_runs() -> dict[str, dict[str, float]]:
    return {name: _counts(name) for name in ("retry-429-client-go", "retry-429-no-backoff")}


def test_client_go_retries_show_as_extra_requests_and_stop_after_ten(retry_runs):
    """The shipped retry-429-client-go scenario: every retry is a request the apiserver answers
    again (counted in apiserver_request_total{code="429"}); client-go gives up after 10."""
    run = retry_runs["retry-429-client-go"]
    fresh = run["429"] - run["retries"]  # first answers; the rest are retries answered 429 again
    assert run["retries"] > 0.5 * fresh
    assert run["retries"] <= C.CLIENT_GO_MAX_RETRIES * fresh


def test_a_client_without_backoff_sends_more_than_client_go(retry_runs):
    """The shipped retry-429-no-backoff scenario: the naive loop ignores Retry-After, its rate
    limiter and the 10-attempt limit; the server still dispatches no more than its seats allow."""
    naive, client_go = retry_runs["retry-429-no-backoff"], retry_runs["retry-429-client-go"]
    assert naive["retries"] > client_go["retries"]
    assert naive["429"] > client_go["429"]
    assert naive["dispatched"] == pytest.approx(client_go["dispatched"], rel=0.02)


def test_apf_retry_after_doubles_under_drops_from_1_28_only():
    """dropped_requests_tracker.go: 1 s, doubled while ≥ 3 × Retry-After requests were dropped in
    the last Retry-After seconds, at most 32 s; before 1.28 always 1 s (the tracker came with
    kubernetes PR #117547, opened after 1.27.0 was released)."""
    scenario = load_builtin("retry-429-client-go")
    for version, expected_max in (("1.28", C.APF_RETRY_AFTER_MAX_S), ("1.27", C.APF_RETRY_AFTER_MIN_S)):
        fleet = Fleet(clusters=[scenario.fleet_model.clusters[0].model_copy(update={"kubernetes_version": version})])
        sim = FleetSimulator(fleet, scenario.profiles, **scenario.simulator_options().kwargs())
        sim.set_rollout("small-cp", 1.0, pods_per_s=1000.0)
        seen = 0.0
        for _ in range(240):
            sim.step()
            seen = max(seen, float(sim.state.retry_after_s.max()))
        assert seen == pytest.approx(expected_max)


def test_client_rate_limits_are_the_components_flag_defaults():
    kubelet = kubelet_client(True)
    assert qps_per_instance(kubelet, Cluster(name="a", nodes=1, kubernetes_version="1.27")) == 50.0
    assert qps_per_instance(kubelet, Cluster(name="b", nodes=1, kubernetes_version="1.26")) == 5.0


# --- writes and crash-looping pods ----------------------------------------------------------------


def test_crashloop_restarts_follow_the_kubelets_back_off():
    # 10 s, doubling to 5 min (kubelet.go): restarts at 10, 30, 70, 150, 310, 610, 910 s.
    assert crashloop_restarts(np.array([10.0, 30.0, 70.0, 150.0, 310.0, 610.0, 910.0])) == \
        pytest.approx([1, 2, 3, 4, 5, 6, 7])


def test_a_write_holds_its_seat_for_etcds_commit():
    cluster = Cluster(name="c", nodes=100)
    assert etcd_model.commit_s(cluster) == pytest.approx(C.ETCD_PEER_RTT_S + C.ETCD_WAL_FSYNC_S)
    sim = FleetSimulator(Fleet(clusters=[cluster]), [], expected_steps=5)
    lease = sim.flows.names.index("kubelet/node-high")  # lease renewals and node status: writes
    assert sim.params.mutating_share[lease, 0] == pytest.approx(1.0)
    assert sim.params.service_s[lease, 0, 0] >= etcd_model.commit_s(cluster)


def test_crash_looping_daemonset_events_are_writes_of_the_kubelets():
    """The shipped crashloop-daemonset-events scenario: one Event write per restart of each of
    5,000 pods, in the system level (system-nodes FlowSchema), committed through etcd."""
    scenario = load_builtin("crashloop-daemonset-events")
    result = simulate(scenario, workers=1)
    quiet = scenario_from_data({"name": "quiet", "duration_s": scenario.duration_s, "seed": scenario.seed,
                                "fleet": {"clusters": [c.model_dump(exclude_none=True)
                                                       for c in scenario.fleet_model.clusters]}})
    baseline = simulate(quiet, workers=1)
    restarts = float(crashloop_restarts(scenario.duration_s - scenario.crashloop.at_s - 1.0))
    for cluster in ("apf-5000", "legacy-5000"):
        extra = result.series("waveguard_sim_etcd_commits_total", cluster)[-1] - \
            baseline.series("waveguard_sim_etcd_commits_total", cluster)[-1]
        assert extra == pytest.approx(5000 * restarts, rel=0.1)
    extra_system = result.series("apiserver_flowcontrol_dispatched_requests_total", "apf-5000",
                                 priority_level="system")[-1] - \
        baseline.series("apiserver_flowcontrol_dispatched_requests_total", "apf-5000", priority_level="system")[-1]
    assert extra_system == pytest.approx(5000 * restarts, rel=0.1)


# --- per-cluster flags and etcd -----------------------------------------------------------------------


def test_per_cluster_inflight_flags_set_the_servers_seats_and_the_legacy_filter():
    fleet = Fleet(clusters=[Cluster(name="big", nodes=100, max_requests_inflight=800, max_mutating_requests_inflight=400),
                            Cluster(name="old", nodes=100, kubernetes_version="1.18", max_requests_inflight=50)])
    sim = FleetSimulator(fleet, [], expected_steps=5)
    low = sim.params.level_names.index("workload-low")
    assert sim.params.nominal_seats[low, 0, 0] == math.ceil(1200 * 100 / 245)
    assert sim.params.server_seats[0, 0] == sum(DEFAULT_APF.nominal_seats(1200).values())
    assert sim.params.max_in_flight.read_only_limit.tolist() == [50.0]
    assert sim.params.max_in_flight.mutating_limit.tolist() == [C.MAX_MUTATING_REQUESTS_INFLIGHT]


def test_fleet_fields_have_sourced_defaults_and_reject_nonsense():
    c = Cluster(name="c", nodes=10)
    assert (c.server_seats, c.etcd_member_count) == (C.SEATS_PER_REPLICA, C.ETCD_MEMBERS)
    assert c.etcd_throughput_bytes_per_s == C.ETCD_MEMBERS * C.ETCD_RANGE_BYTES_PER_S
    assert c.etcd_member_memory_bytes == C.ETCD_MEMBER_MEMORY_BYTES
    with pytest.raises(ValueError):
        Cluster(name="c", nodes=10, etcd_members=0)
    with pytest.raises(InputError):
        scenario_from_data({"name": "x", "duration_s": 10, "crashloop": {"clusters": ["nope"]}})


@pytest.fixture(scope="module")
def etcd_run():
    return simulate(load_builtin("cluster-flags-etcd"), workers=1)


def test_etcd_runs_out_of_memory_under_large_ranges_and_loses_its_leader(etcd_run):
    """The shipped cluster-flags-etcd scenario: 3 members of 8 GiB OOM under the relist storm's
    full pod LISTs (each member holding its share of the responses), crash-loop and elect new
    leaders; 5 members of 32 GiB hold."""
    small, large = "small-etcd", "large-etcd"
    assert etcd_run.series("etcd_server_leader_changes_seen_total", small)[-1] >= 2
    assert etcd_run.series("etcd_server_leader_changes_seen_total", large)[-1] == 0
    assert etcd_run.series("waveguard_sim_etcd_memory_bytes", small).max() > 8 << 30
    # without a leader, writes wait (up to etcd's request timeout) holding their seats: the
    # kubelets' leases and status writes fill their levels and are answered 429
    assert etcd_run.series("apiserver_request_total", small, code="429")[-1] > \
        10 * etcd_run.series("apiserver_request_total", large, code="429")[-1]
    assert etcd_run.series("waveguard_sim_etcd_memory_bytes", large).max() < 32 << 30
    # etcd's metrics are there for the etcd gate: bytes sent, fsync, request p99
    assert etcd_run.series("etcd_network_client_grpc_sent_bytes_total", large)[-1] > 1e9
    assert etcd_run.series("etcd_disk_wal_fsync_duration_seconds", large, quantile="0.99").max() == \
        pytest.approx(C.ETCD_WAL_FSYNC_S)
    assert etcd_run.series("etcd_request_duration_seconds", small, quantile="0.99").max() > \
        C.ETCD_ELECTION_TIMEOUT_S


def test_fleet_file_gives_apiserver_flags_and_etcd_or_one_clear_error(tmp_path):
    from waveguard.model.fleet import load_fleet

    good = tmp_path / "fleet.yaml"
    good.write_text("clusters:\n  - name: a\n    nodes: 1300\n    max_requests_inflight: 800\n"
                    "    max_mutating_requests_inflight: 400\n    apiserver_cpu_cores: 16\n"
                    "    apiserver_baseline_memory_bytes: 3000000000\n    etcd_members: 5\n"
                    "    etcd_read_bytes_per_s: 1250000000\n    etcd_memory_bytes: 34359738368\n")
    cluster = load_fleet(good).clusters[0]
    assert (cluster.server_seats, cluster.etcd_member_count, cluster.etcd_throughput_bytes_per_s) == (1200, 5, 1.25e9)
    sim = FleetSimulator(Fleet(clusters=[cluster]), [], expected_steps=5)
    assert sim.params.cores[0] == 16.0 and sim.params.baseline_memory_bytes[0] == 3e9
    assert sim.state.etcd.throughput[0] == 1.25e9
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("etcd_members: 5", "etcd_members: 0"))
    with pytest.raises(InputError, match=r"bad.yaml:8: clusters.0.etcd_members"):
        load_fleet(bad)
