"""Issue 12, one model: the request-rate functions the projection and the simulator share
(``model.load``), leader-only classes, and zero requests as a cost of zero — not missing data.

No kube-apiserver runs here: the checks are of the model's contract (what a class's scope and
trigger mean), each against a figure worked out by hand from the cluster's write rates."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from waveguard.analysis import build_profiles, load_change
from waveguard.model.cost import project
from waveguard.model.fleet import Cluster, Fleet
from waveguard.model.load import events_per_client, request_rate, running_clients, sending_clients
from waveguard.model.requests import RequestClass, RequestProfile, informer
from waveguard.rollout.gates import evaluate_projection
from waveguard.rollout.plan import GateSpec
from waveguard.sim.engine import FleetSimulator

CLUSTER = Cluster(name="c", nodes=7500)


def _per_event(scope: str) -> RequestClass:
    return RequestClass(verb="get", resource="pods", scope=scope, trigger="per_event", rate_per_s=1.0)


def _agent(*classes: RequestClass, per_node: bool = True) -> RequestProfile:
    return RequestProfile(client="DaemonSet/x/agent", agent="t", per_node=per_node, namespace="x",
                          service_account="agent", classes=list(classes))


def test_a_per_event_request_by_name_follows_the_events_of_the_agents_own_node():
    """Fluent Bit's GET per new pod: each agent sees its node's pod writes, so the fleet of
    agents sends one GET per write — not one per write per pod (the simulator's old reading,
    30× fewer) nor per write per agent."""
    writes = CLUSTER.write_rate("pods")
    agent = _agent(_per_event("object"))
    assert events_per_client(agent.classes[0], agent, CLUSTER) == pytest.approx(writes / CLUSTER.nodes)
    assert request_rate(agent.classes[0], agent, CLUSTER, CLUSTER.nodes) == pytest.approx(writes)


def test_a_cluster_scoped_per_event_class_is_every_write_for_every_agent():
    """'rate_per_s requests per write event of the resource in scope': cluster scope is every
    write, for each of the 7,500 agents (the projection's old reading divided it by the nodes)."""
    writes = CLUSTER.write_rate("pods")
    agent = _agent(_per_event("cluster"))
    assert request_rate(agent.classes[0], agent, CLUSTER, CLUSTER.nodes) == pytest.approx(writes * CLUSTER.nodes)
    deployment = _agent(_per_event("object"), per_node=False)
    assert events_per_client(deployment.classes[0], deployment, CLUSTER) == pytest.approx(writes)


def test_a_leader_only_class_is_sent_once_wherever_a_replica_runs():
    rc = RequestClass(verb="update", resource="leases", scope="object", trigger="periodic", rate_per_s=0.5,
                      leader_only=True)
    agent = _agent(rc)
    assert sending_clients(rc, running_clients(agent, CLUSTER, 0.01)) == 1.0
    assert sending_clients(rc, running_clients(agent, CLUSTER, 0.0)) == 0.0
    elsewhere = agent.model_copy(update={"clusters": {"env": "prod"}})
    assert running_clients(elsewhere, CLUSTER) == 0.0  # its selector matches nothing here


def test_the_simulator_sends_the_projections_rates_and_one_leader_list():
    """The compiled rates are the projection's, per class, and a leader-only informer is one
    relist bundle per cluster however many replicas run (the OpenTelemetry example's k8s_cluster
    receiver behind k8s_leader_elector)."""
    classes = [_per_event("object"), _per_event("cluster"),
               *informer("pods", "cluster", component="k8s_cluster", leader_only=True)]
    agent = _agent(*classes)
    cluster = Cluster(name="c", nodes=500)
    sim = FleetSimulator(Fleet(clusters=[cluster]), [agent], initial_share=0.1)
    change = sim.flows.is_change
    expected = sum(request_rate(rc, agent, cluster, 50.0) for rc in classes)
    assert sim.state.arrivals_per_step[change].sum() / sim.dt == pytest.approx(expected)
    leader = [g for g in range(len(sim.groups.client)) if sim.flows.names[sim.groups.flow[g]].endswith("leader/"
                                                                                                     "workload-low/relist")]
    assert len(leader) == 1 and sim.groups.instances[0, leader[0]] == 1.0
    assert np.isclose(sim.state.synced_watches[leader[0], :, 0].sum(), 1.0)  # one leader at 10 %
    load = project(agent, cluster, node_share=0.1)
    assert load.storm_peak_memory_bytes < project(agent.model_copy(update={"classes": [
        rc.model_copy(update={"leader_only": False}) for rc in classes]}), cluster, node_share=0.1).storm_peak_memory_bytes


def test_a_workload_that_sends_nothing_is_a_cost_of_zero(tmp_path):
    """node-exporter: analysed, no request to kube-apiserver → a profile without classes, and the
    projection gate passes it at 0 (it paused forever at wave 0 with 'no data')."""
    path = tmp_path / "ds.yaml"
    path.write_text(textwrap.dedent("""\
        apiVersion: apps/v1
        kind: DaemonSet
        metadata: {name: node-exporter, namespace: monitoring}
        spec:
          selector: {matchLabels: {app: ne}}
          template:
            metadata: {labels: {app: ne}}
            spec:
              automountServiceAccountToken: false
              containers: [{name: ne, image: quay.io/prometheus/node-exporter:v1.8.2}]
        """))
    profiles = build_profiles(load_change([str(path)]), silent=True)
    assert [(p.client, p.classes, p.per_node) for p in profiles] == [("DaemonSet/monitoring/node-exporter", [], True)]
    results = evaluate_projection(GateSpec(kind="projection"), profiles, [CLUSTER], {"c": 0.01})
    assert [(r.status, r.value) for r in results] == [("pass", 0.0)]


def test_a_change_whose_cost_is_unknown_still_has_no_data(tmp_path):
    """An OpenTelemetryCollector in sidecar mode runs inside pods the change does not hold (WG110):
    nothing is known of its requests, so the gate fails closed with no-data."""
    path = tmp_path / "otel.yaml"
    path.write_text(textwrap.dedent("""\
        apiVersion: opentelemetry.io/v1beta1
        kind: OpenTelemetryCollector
        metadata: {name: sidecar, namespace: x}
        spec:
          mode: sidecar
          config: {receivers: {otlp: {}}, exporters: {debug: {}},
                   service: {pipelines: {traces: {receivers: [otlp], exporters: [debug]}}}}
        """))
    profiles = build_profiles(load_change([str(path)]), silent=True)
    assert profiles == []
    results = evaluate_projection(GateSpec(kind="projection"), profiles, [CLUSTER], {"c": 0.01})
    assert [r.status for r in results] == ["no-data"]
    assert "unknown" in results[0].detail


def test_a_polling_list_holds_memory_in_the_projection_as_in_the_simulator():
    """A LIST sent periodically (no start storm) holds its memory while it executes, in the
    simulator as in every flow; the projection counts it by Little's law — requests/s × the
    apiserver seconds each holds memory × its bytes, per replica, times the heap growth."""
    from waveguard.model import constants as C
    from waveguard.model.cost import baseline_memory_bytes, request_cost

    poll = RequestClass(verb="list", resource="pods", scope="cluster", trigger="periodic", rate_per_s=0.05,
                        resource_version="0")
    profile = _agent(poll, per_node=False)
    load = project(profile, CLUSTER)
    cost = request_cost(poll, CLUSTER, 10)
    held = request_rate(poll, profile, CLUSTER, 1.0) * cost.apiserver_s * cost.memory_bytes / CLUSTER.replicas
    assert held > 0
    rise = load.storm_peak_memory_bytes - baseline_memory_bytes(CLUSTER)
    assert rise == int(held * C.GO_HEAP_GROWTH_FACTOR)
    faster = project(_agent(poll.model_copy(update={"rate_per_s": 0.1}), per_node=False), CLUSTER)
    assert faster.storm_peak_memory_bytes - baseline_memory_bytes(CLUSTER) == pytest.approx(2 * rise, rel=1e-6)


def test_the_projection_counts_the_seats_of_the_clusters_own_inflight_flags_as_the_simulator_does():
    """A cluster whose apiservers run --max-requests-inflight 800 / --max-mutating-requests-inflight
    400 has 1,200 seats a replica: APF's nominal seats of each level scale with them (ceil(1,200 ×
    shares / 245)) in the projection as in the simulator, and so does the server's utilisation."""
    lister = _agent(*informer("pods", "cluster", component="lister"), per_node=False)
    flags = dict(nodes=1000, max_requests_inflight=800, max_mutating_requests_inflight=400)
    big, plain = project(lister, Cluster(name="big", **flags)), project(lister, Cluster(name="plain", nodes=1000))
    sim = FleetSimulator(Fleet(clusters=[Cluster(name="big", **flags)]), [lister], expected_steps=5)
    level = sim.params.level_names.index(big.priority_level)
    assert big.level_seats == sim.params.nominal_seats[level, 0, 0] * big.apiserver_replicas
    assert big.level_seats > plain.level_seats
    assert big.server_utilisation == pytest.approx(plain.server_utilisation / 2, rel=0.01)
