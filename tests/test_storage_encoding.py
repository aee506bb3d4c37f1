"""What etcd holds for an object (model.storage): protobuf for built-in resources, JSON for custom
resources — and every etcd byte of the model, analyse's projection and the simulator alike, goes
through that one function.

No kube-apiserver or etcd runs here: the contract is checked against the figures the sources give
(kube-apiserver's --storage-media-type default, apiextensions-apiserver's JSON codec for custom
resources, the protobuf proposal's 2× size reduction)."""

from __future__ import annotations

import numpy as np
import pytest

from waveguard.model import constants as C
from waveguard.model.cost import project
from waveguard.model.fleet import Cluster, Fleet
from waveguard.model.requests import RequestClass, RequestProfile
from waveguard.model.etcd import cache_fill_speed
from waveguard.model.storage import (decode_s_per_json_byte, etcd_read_s, stored_as_protobuf, stored_bytes_per_json_byte,
                                     stored_object_bytes, watch_cache_fill_s_of)
from waveguard.model.work import request_cost
from waveguard.sim.engine import FleetSimulator
from waveguard.sim.phases.replicas import fill_caches

POD_LIST = RequestClass(verb="list", resource="pods", scope="cluster", trigger="start", resource_version="")
CR_LIST = RequestClass(verb="list", resource="ippools", api_group="crd.projectcalico.org", scope="cluster",
                       trigger="start", resource_version="")


@pytest.mark.parametrize("group", ["", "apps", "batch", "coordination.k8s.io", "discovery.k8s.io",
                                   "networking.k8s.io", "rbac.authorization.k8s.io", "storage.k8s.io"])
def test_built_in_groups_are_stored_as_protobuf(group):
    assert stored_as_protobuf(group)
    assert stored_bytes_per_json_byte(group) == C.PROTOBUF_BYTES_PER_JSON_BYTE == 0.5


@pytest.mark.parametrize("group", ["crd.projectcalico.org", "monitoring.coreos.com", "cilium.io",
                                   "gateway.networking.k8s.io", "snapshot.storage.k8s.io", "apiextensions.k8s.io"])
def test_custom_resources_are_stored_as_json(group):
    """A group outside kube-apiserver's own storage providers, even one under *.k8s.io (approved
    CRDs such as the Gateway API's), is served by apiextensions-apiserver: JSON."""
    assert not stored_as_protobuf(group)
    assert stored_bytes_per_json_byte(group) == 1.0


def test_stored_object_bytes_follow_the_clusters_measured_json_size():
    cluster = Cluster(name="c", nodes=100, object_bytes={"pods": 6000, "ippools": 900})
    assert stored_object_bytes(cluster, "pods") == 3000
    assert stored_object_bytes(cluster, "ippools", "crd.projectcalico.org") == 900
    assert stored_object_bytes(Cluster(name="d", nodes=100), "pods") == C.OBJECT_BYTES["pods"] / 2


def test_a_list_from_etcd_reads_stored_bytes_and_decodes_json_ones():
    """RequestCost.etcd_bytes is what etcd sends (stored); the apiserver decodes per JSON byte."""
    cluster = Cluster(name="c", nodes=700, kubernetes_version="1.18", objects={"ippools": 400})
    pods = request_cost(POD_LIST, cluster)
    n, json_size = cluster.object_count("pods"), cluster.object_size("pods")
    assert pods.etcd_bytes == int(n * stored_object_bytes(cluster, "pods"))
    assert pods.etcd_s == pytest.approx(n * json_size * 0.5 / C.ETCD_RANGE_BYTES_PER_S)
    assert pods.response_bytes == n * json_size  # served as JSON
    decode_and_encode = n * json_size * (C.ETCD_DECODE_S_PER_BYTE + C.ENCODE_S_PER_BYTE)
    assert pods.service_s == pytest.approx(C.REQUEST_BASE_S + pods.etcd_s + decode_and_encode)
    crs = request_cost(CR_LIST, cluster)
    assert crs.etcd_bytes == 400 * cluster.object_size("ippools")  # JSON: as large as served


def test_the_etcd_memory_of_a_list_counts_etcds_response_as_stored():
    """LIST_FROM_ETCD_MEMORY_MULTIPLIER's first term is etcd's response: stored bytes."""
    cluster = Cluster(name="c", nodes=700, kubernetes_version="1.18")
    cost = request_cost(POD_LIST, cluster)
    json_bytes = cost.response_bytes
    expected = cost.etcd_bytes + (C.LIST_FROM_ETCD_MEMORY_MULTIPLIER - 1.0) * json_bytes
    assert cost.memory_bytes == int(expected)


def test_the_projection_counts_stored_bytes_for_etcd():
    agent = RequestProfile(client="DaemonSet/kube-system/calico-node", agent="calico", per_node=True,
                           namespace="kube-system", service_account="calico-node", classes=[POD_LIST, CR_LIST])
    cluster = Cluster(name="c", nodes=700, apiserver_replicas=2, kubernetes_version="1.18", objects={"ippools": 400})
    load = project(agent, cluster)
    per_agent = request_cost(POD_LIST, cluster).etcd_bytes + request_cost(CR_LIST, cluster).etcd_bytes
    assert load.storm_etcd_bytes == 700 * per_agent


def test_the_watch_cache_fills_from_stored_bytes():
    cluster = Cluster(name="c", nodes=1000)
    n = cluster.object_count("pods")
    assert watch_cache_fill_s_of("pods", cluster) == pytest.approx(
        etcd_read_s(n * C.OBJECT_BYTES["pods"] / 2, n * C.OBJECT_BYTES["pods"]))
    assert watch_cache_fill_s_of("ippools", cluster, "crd.projectcalico.org") == pytest.approx(
        etcd_read_s(cluster.object_count("ippools") * C.DEFAULT_OBJECT_BYTES,
                    cluster.object_count("ippools") * C.DEFAULT_OBJECT_BYTES, C.ETCD_JSON_DECODE_S_PER_BYTE))


def test_the_simulators_etcd_bytes_for_a_pod_list_are_the_models():
    """One calico-node-like agent on a 1.18 cluster: the bytes each LIST waits for in the
    simulator's etcd phase, and etcd's sent-bytes counter once the LIST has been answered, are
    the model's stored bytes (stored_object_bytes × pods) — not the JSON size."""
    cluster = Cluster(name="c", nodes=10, apiserver_replicas=1, kubernetes_version="1.18")
    profile = RequestProfile(client="Deployment/x/lister", agent="lister", per_node=False, replicas=1,
                             namespace="x", service_account="lister", classes=[POD_LIST])
    sim = FleetSimulator(Fleet(clusters=[cluster]), [profile], seed=3)
    expected = cluster.object_count("pods") * stored_object_bytes(cluster, "pods")
    etcd = sim.state.etcd
    assert etcd.enabled
    change_rows = np.flatnonzero(sim.params.etcd_change_rows)
    assert etcd.bytes[change_rows, 0] == pytest.approx([expected])
    sim.set_rollout("c", 1.0)
    sim.step(30)
    sent = sim.result().series("etcd_network_client_grpc_sent_bytes_total", "c")[-1]
    relists = sim.relists_sent("c", "Deployment/x/lister")
    assert relists >= 1.0
    # the baseline's own reads of etcd are from the watch cache: etcd sent this LIST's bytes only
    assert sent == pytest.approx(relists * expected, rel=1e-6)


# --- custom resources are decoded from JSON (issue 12 audit) -------------------------------------


def test_custom_resources_are_decoded_at_the_json_rate_of_the_protobuf_proposal():
    """kubernetes/community design-proposals/api-machinery/protobuf.md timed etcd → decode at 50 µs
    for JSON against 5 µs for protobuf per object, with defaulting (5 µs) and conversion (15 µs)
    after either: 70 against 25 of the same 55 µs encode — 2.8× the built-in rate."""
    assert decode_s_per_json_byte("") == C.ETCD_DECODE_S_PER_BYTE
    assert decode_s_per_json_byte("crd.projectcalico.org") == C.ETCD_JSON_DECODE_S_PER_BYTE
    assert C.ETCD_JSON_DECODE_S_PER_BYTE / C.ETCD_DECODE_S_PER_BYTE == pytest.approx(70.0 / 25.0)
    cluster = Cluster(name="c", nodes=700, kubernetes_version="1.18", objects={"ippools": 400})
    crs = request_cost(CR_LIST, cluster)
    json_bytes = 400 * cluster.object_size("ippools")
    assert crs.service_s == pytest.approx(
        C.REQUEST_BASE_S + json_bytes / C.ETCD_RANGE_BYTES_PER_S
        + json_bytes * (C.ETCD_JSON_DECODE_S_PER_BYTE + C.ENCODE_S_PER_BYTE))
    assert crs.etcd_page_s == pytest.approx(
        C.REQUEST_BASE_S + json_bytes * (C.ETCD_JSON_DECODE_S_PER_BYTE + C.ENCODE_S_PER_BYTE))
    n = cluster.object_count("ippools")
    assert watch_cache_fill_s_of("ippools", cluster, "crd.projectcalico.org") == pytest.approx(
        n * C.DEFAULT_OBJECT_BYTES * (1.0 / C.ETCD_RANGE_BYTES_PER_S + C.ETCD_JSON_DECODE_S_PER_BYTE))


def test_a_custom_resources_cache_fills_at_its_own_speed_when_etcd_is_shared():
    """The simulator's fill of a restarted replica's caches: built-in resources at the speed of
    their protobuf bytes, custom resources at that of their JSON bytes (cache_fill_speed with each
    one's stored ratio and decode rate): with etcd shared they slow down differently."""
    cr_informer = RequestClass(verb="list", resource="ippools", api_group="crd.projectcalico.org", scope="cluster",
                               trigger="start", resource_version="0")
    cluster = Cluster(name="c", nodes=10, apiserver_replicas=1, kubernetes_version="1.30", objects={"ippools": 400})
    profile = RequestProfile(client="Deployment/x/lister", agent="lister", per_node=False, replicas=1,
                             namespace="x", service_account="lister", classes=[POD_LIST, cr_informer])
    sim = FleetSimulator(Fleet(clusters=[cluster]), [profile], seed=3)
    params, state = sim.params, sim.state
    assert state.etcd.enabled  # the pod LIST (resourceVersion="", 1.30) reads etcd
    g = int(params.change_groups[0])
    assert params.group_cache_fill_s[g, 0] == pytest.approx(watch_cache_fill_s_of("pods", cluster))
    assert params.group_cache_fill_json_s[g, 0] == pytest.approx(
        watch_cache_fill_s_of("ippools", cluster, "crd.projectcalico.org"))
    state.cache_fill_done_s[:] = 0.0
    state.cache_fill_done_json_s[:] = 0.0
    share = C.ETCD_RANGE_BYTES_PER_S / 10
    state.etcd.rate[:] = share
    fill_caches(state, params, 1.0)
    assert state.cache_fill_done_s[0, 0] == pytest.approx(cache_fill_speed(share, 1.0))
    json_speed = cache_fill_speed(share, 1.0, 1.0, C.ETCD_JSON_DECODE_S_PER_BYTE)
    assert state.cache_fill_done_json_s[0, 0] == pytest.approx(json_speed)
    assert json_speed > cache_fill_speed(share, 1.0) * 1.1  # its decode weighs more than the link
