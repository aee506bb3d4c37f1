"""Fluent Bit's per-pod metadata GETs are costed (issue 13, item 4): the burst when the DaemonSet
starts (every pod on every node, plus each agent's own pod), the steady rate from pod churn and
from an expiring cache, and the Buffer_Size check (WG130).

The manifest follows the Fluent Bit Helm chart's DaemonSet and its default kubernetes filter
(fluent/helm-charts charts/fluent-bit values.yaml), trimmed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from waveguard.analysis import analyse
from waveguard.analysis.recognisers.fluentbit import (
    DEFAULT_BUFFER_BYTES, FLUENT_BIT_NEGATIVE_CACHE_TTL_S, size_bytes, time_seconds,
)
from waveguard.model import constants as C
from waveguard.model.cost import project
from waveguard.model.fleet import Cluster, Fleet
from waveguard.model.requests import RequestClass
from waveguard.model.work import request_cost

MANIFEST = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: fluent-bit, namespace: logging}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: fluent-bit}
rules:
  - apiGroups: [""]
    resources: [namespaces, pods]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: fluent-bit}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: fluent-bit}
subjects: [{kind: ServiceAccount, name: fluent-bit, namespace: logging}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: fluent-bit, namespace: logging}
data:
  fluent-bit.conf: |
    [SERVICE]
        Daemon Off
        Flush 1
        Parsers_File /fluent-bit/etc/parsers.conf
        HTTP_Server On
        HTTP_Port 2020

    [INPUT]
        Name tail
        Path /var/log/containers/*.log
        multiline.parser docker, cri
        Tag kube.*
        Mem_Buf_Limit 5MB
        Skip_Long_Lines On

    [FILTER]
        Name kubernetes
        Match kube.*
        Merge_Log On
        Keep_Log Off
        K8S-Logging.Parser On
        K8S-Logging.Exclude On
%(extra)s
    [OUTPUT]
        Name es
        Match kube.*
        Host elasticsearch-master
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: fluent-bit, namespace: logging}
spec:
  selector:
    matchLabels: {app.kubernetes.io/name: fluent-bit}
  template:
    metadata:
      labels: {app.kubernetes.io/name: fluent-bit}
    spec:
      serviceAccountName: fluent-bit
      containers:
        - name: fluent-bit
          image: cr.fluentbit.io/fluent/fluent-bit:3.1.9
          args: ["--workdir=/fluent-bit/etc", "--config=/fluent-bit/etc/conf/fluent-bit.conf"]
          volumeMounts:
            - {name: config, mountPath: /fluent-bit/etc/conf}
            - {name: varlog, mountPath: /var/log}
      volumes:
        - name: config
          configMap: {name: fluent-bit}
        - name: varlog
          hostPath: {path: /var/log}
"""

NODES = 5000


def _change(tmp_path: Path, *settings: str) -> Path:
    extra = "".join(f"        {s}\n" for s in settings)
    (tmp_path / "fluent-bit.yaml").write_text(MANIFEST % {"extra": extra})
    return tmp_path


def _fleet(**cluster) -> Fleet:
    return Fleet(clusters=[Cluster(name="prod-5000", nodes=NODES, **cluster)])


def _load(result):
    (projection,) = result.projections
    (load,) = projection.loads.values()
    return load


def _one_get() -> RequestClass:
    return RequestClass(verb="get", resource="pods", scope="object", trigger="start", resource_version="")


def test_start_burst_is_one_get_per_pod_on_every_node_plus_each_agents_own_pod(tmp_path):
    fleet = _fleet()
    cluster = fleet.clusters[0]
    result = analyse([str(_change(tmp_path))], fleet=fleet)
    load = _load(result)
    pods_per_node = cluster.pod_count / cluster.nodes
    get = request_cost(_one_get(), cluster)
    # every agent GETs each pod on its node (kube_meta.c, one after another) and its own pod at init
    gets = NODES * (pods_per_node + 1)
    assert load.replicas == NODES
    assert load.storm_seat_seconds == pytest.approx(gets * get.seat_seconds)
    assert load.storm_bytes == pytest.approx(gets * cluster.object_size("pods"), rel=1e-9)
    # the steady rate: one GET per new pod (pod writes / writes over a pod's life)
    new_pods_per_s = cluster.pod_writes_per_s / C.POD_WRITES_PER_POD_LIFETIME
    assert load.steady_seat_seconds_per_s == pytest.approx(new_pods_per_s * get.seat_seconds)
    # the burst is a start burst: it grows with the cluster, and it is in the verdict's demand
    assert load.level_utilisation == pytest.approx(
        load.steady_seat_seconds_per_s / load.level_capacity_seats
        + load.storm_seat_seconds / (load.level_capacity_seats * C.CLIENT_TIMEOUT_S))
    (wg103,) = [f for f in result.findings if f.rule == "WG103"]
    assert "Use_Kubelet On" in wg103.fix
    # WG103 names the burst: one GET per pod of the cluster (pods per node × nodes)
    assert f"sends {NODES * pods_per_node:,.0f} GETs at once on prod-5000" in wg103.message


def test_burst_grows_with_the_pods_on_each_node(tmp_path):
    dense = _fleet(pods=NODES * 100)
    sparse = _fleet(pods=NODES * 10)
    change = str(_change(tmp_path))
    dense_storm = _load(analyse([change], fleet=dense)).storm_seat_seconds
    sparse_storm = _load(analyse([change], fleet=sparse)).storm_seat_seconds
    assert dense_storm / sparse_storm == pytest.approx((100 + 1) / (10 + 1))


def test_use_kubelet_sends_no_gets_to_the_apiserver(tmp_path):
    result = analyse([str(_change(tmp_path, "Use_Kubelet On", "Kubelet_Port 10250"))], fleet=_fleet())
    assert result.profiles == []
    assert all(not p.loads for p in result.projections)
    assert not [f for f in result.findings if f.rule in ("WG103", "WG130")]


def test_an_expiring_metadata_cache_refetches_every_pod_each_ttl(tmp_path):
    fleet = _fleet()
    cluster = fleet.clusters[0]
    base = _load(analyse([str(_change(_dir(tmp_path, "base")))], fleet=fleet))
    ttl = _load(analyse([str(_change(_dir(tmp_path, "ttl"), "Kube_Meta_Cache_TTL 300s"))], fleet=fleet))
    get = request_cost(_one_get(), cluster)
    assert ttl.steady_seat_seconds_per_s - base.steady_seat_seconds_per_s == pytest.approx(
        cluster.pod_count / 300 * get.seat_seconds)
    assert ttl.storm_seat_seconds == base.storm_seat_seconds


def test_buffer_smaller_than_a_measured_pod_is_wg130(tmp_path):
    big_pods = _fleet(object_bytes={"pods": 40_000})
    result = analyse([str(_change(tmp_path))], fleet=big_pods)
    (wg130,) = [f for f in result.findings if f.rule == "WG130"]
    assert wg130.severity == "warning" and wg130.workload == "DaemonSet/logging/fluent-bit"
    assert f"{DEFAULT_BUFFER_BYTES:,} bytes" in wg130.message and "40,000 bytes, measured" in wg130.message
    assert "Buffer_Size 0" in wg130.fix
    # the repeat rate: every pod of the cluster once per negative-cache TTL at least, costed
    # against the agent's priority level
    cluster = big_pods.clusters[0]
    rate = cluster.pod_count / FLUENT_BIT_NEGATIVE_CACHE_TTL_S
    share = rate * request_cost(_one_get(), cluster).seat_seconds / _load(result).level_capacity_seats
    assert f"{rate:,.0f} GET/s on prod-5000, {share:.0%} of its priority level's seats" in wg130.message


def test_no_wg130_when_the_buffer_holds_the_pod_or_is_unlimited(tmp_path):
    default_pods = _fleet()  # 4,096-byte pods (constants.OBJECT_BYTES) < 32,000
    assert not [f for f in analyse([str(_change(_dir(tmp_path, "a")))], fleet=default_pods).findings
                if f.rule == "WG130"]
    unlimited = analyse([str(_change(_dir(tmp_path, "b"), "Buffer_Size 0"))], fleet=_fleet(object_bytes={"pods": 40_000}))
    assert not [f for f in unlimited.findings if f.rule == "WG130"]
    small = analyse([str(_change(_dir(tmp_path, "c"), "Buffer_Size 2k"))], fleet=default_pods)
    (wg130,) = [f for f in small.findings if f.rule == "WG130"]
    assert "2,000 bytes" in wg130.message and "the default size" in wg130.message


def test_fluent_bit_sizes_and_times_parse_as_fluent_bit_does():
    assert size_bytes(None) == DEFAULT_BUFFER_BYTES == 32_000
    assert (size_bytes("32k"), size_bytes("1MB"), size_bytes("512000"), size_bytes("0"), size_bytes("false")) == \
        (32_000, 1_000_000, 512_000, None, None)
    assert (time_seconds("60"), time_seconds("60s"), time_seconds("5m"), time_seconds("1h"), time_seconds(None)) == \
        (60.0, 60.0, 300.0, 3600.0, 0.0)


def test_a_get_class_over_a_node_costs_one_get_per_pod_of_the_node():
    cluster = Cluster(name="c", nodes=100, pods=4000)
    one = request_cost(_one_get(), cluster)
    burst = request_cost(RequestClass(verb="get", resource="pods", scope="node", trigger="start"), cluster)
    assert burst.pages == 40 and burst.seats == 1 and burst.memory_bytes == one.memory_bytes
    assert burst.seat_seconds == pytest.approx(40 * one.seat_seconds)
    # the projection counts it per replica: nodes × pods per node GETs in all
    from waveguard.model.requests import RequestProfile

    profile = RequestProfile(client="DaemonSet/x/y", agent="x", per_node=True, namespace="x", service_account="y",
                             classes=[RequestClass(verb="get", resource="pods", scope="node", trigger="start")])
    assert project(profile, cluster).storm_seat_seconds == pytest.approx(4000 * one.seat_seconds)


def _dir(tmp_path: Path, name: str) -> Path:
    (tmp_path / name).mkdir()
    return tmp_path / name


def test_yaml_configuration_is_read_too(tmp_path):
    yaml_config = """\
  fluent-bit.yaml: |
    pipeline:
      inputs:
        - name: tail
          path: /var/log/containers/*.log
          tag: kube.*
      filters:
        - name: kubernetes
          match: kube.*
          buffer_size: 2k
          kube_meta_cache_ttl: 10m
"""
    manifest = MANIFEST % {"extra": ""}
    start = manifest.index("  fluent-bit.conf: |")
    end = manifest.index("---", start)
    (tmp_path / "fluent-bit.yaml").write_text(manifest[:start] + yaml_config + manifest[end:])
    result = analyse([str(tmp_path)], fleet=_fleet())
    (profile,) = result.profiles
    ttl = [rc for rc in profile.classes if rc.trigger == "periodic"]
    assert [(rc.scope, rc.rate_per_s) for rc in ttl] == [("node", 1 / 600)]
    assert [f.rule for f in result.findings if f.rule == "WG130"] == ["WG130"]
