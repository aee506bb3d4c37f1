"""analyse on the real manifests in ../shared/inputs/manifests: each decision from the agent's
documented behaviour (see the recogniser modules' docstrings)."""

from __future__ import annotations

import pytest

from waveguard.analysis import analyse
from waveguard.model.cost import scaling_class
from waveguard.model.fleet import default_fleet


def _run(path):
    return analyse([str(path)])


def _rules(result, workload=None):
    return {(f.rule, f.severity) for f in result.findings if workload is None or f.workload == workload}


def _verdicts(result):
    return {p.cluster: p.verdict for p in result.projections}


def test_alloy_reading_pod_logs_through_the_api_is_an_n_squared_error(manifests):
    result = _run(manifests / "alloy-pod-logs-via-kubernetes-api-daemonset-k8s-monitoring-2.0.46.yaml")
    ds = "DaemonSet/default/k8smon-alloy-logs"
    assert ("WG101", "error") in _rules(result, ds)
    wg101 = next(f for f in result.findings if f.rule == "WG101")
    assert "spec.nodeName" in wg101.fix and "selectors" in wg101.fix
    assert "nodes²" in wg101.message
    (profile,) = result.profiles
    assert scaling_class(profile) == "O(nodes²)"
    verdicts = _verdicts(result)
    assert verdicts["staging"] == "ok"
    assert verdicts["prod-24-7500"] == "overload"
    # the large clusters of the default fleet overload, the small ones do not
    sizes = {c.name: c.nodes for c in default_fleet().clusters}
    assert all(v == "overload" for name, v in verdicts.items() if sizes[name] >= 4000)
    assert all(v != "overload" for name, v in verdicts.items() if sizes[name] <= 500)
    # the log streams through the API are reported too
    assert any(f.rule == "WG112" for f in result.findings)


def test_alloy_reading_host_files_with_node_selector_is_not_an_error(manifests):
    result = _run(manifests / "alloy-pod-logs-daemonset-k8s-monitoring-2.0.46.yaml")
    assert not [f for f in result.findings if f.severity == "error"]
    (profile,) = result.profiles
    assert {(rc.verb, rc.resource, rc.scope) for rc in profile.classes} == {("list", "pods", "node"),
                                                                             ("watch", "pods", "node")}
    assert scaling_class(profile) == "O(nodes)"
    assert set(_verdicts(result).values()) == {"ok"}


def test_fluent_bit_kubernetes_filter_without_use_kubelet_is_reported(manifests):
    result = _run(manifests / "fluent-bit")
    wg103 = [f for f in result.findings if f.rule == "WG103"]
    assert len(wg103) == 1
    assert wg103[0].workload == "DaemonSet/logging/fluent-bit"
    assert "Use_Kubelet On" in wg103[0].fix
    # extensions/v1beta1 is analysed as apps/v1, and the missing selector is named
    assert any(f.rule == "WG108" and "extensions/v1beta1" in f.message for f in result.findings)
    assert any(f.rule == "WG109" and "selector" in f.message for f in result.findings)


def test_fluent_bit_with_use_kubelet_sends_nothing_to_the_apiserver(manifests, tmp_path):
    conf = (manifests / "fluent-bit" / "fluent-bit-configmap.yaml").read_text()
    patched = conf.replace("        Merge_Log           On\n", "        Merge_Log           On\n        Use_Kubelet         On\n")
    assert patched != conf
    (tmp_path / "cm.yaml").write_text(patched)
    (tmp_path / "ds.yaml").write_text((manifests / "fluent-bit" / "fluent-bit-ds.yaml").read_text())
    result = analyse([str(tmp_path)])
    assert not any(f.rule == "WG103" for f in result.findings)
    assert result.profiles == []


def test_otel_agent_node_filtered_pods_watch_is_not_wg101_but_cluster_wide_parts_are_reported(manifests):
    result = _run(manifests / "otel-collector-agent")
    ds = "DaemonSet/default/otel-collector-agent"
    rules = {f.rule for f in result.findings if f.workload == ds}
    assert "WG101" not in rules  # the k8sattributes pod watch is node-filtered
    (profile,) = result.profiles
    pods = [rc for rc in profile.classes if rc.resource == "pods" and not rc.leader_only]
    assert pods and all(rc.scope == "node" for rc in pods)
    # what still runs cluster-wide is reported truthfully
    wg113 = next(f for f in result.findings if f.rule == "WG113")
    assert "replicasets" in wg113.message and "k8s_attributes" in wg113.fix
    # the k8s_cluster receiver is leader-elected: only one collector watches the cluster...
    cluster_receiver = [rc for rc in profile.classes if "k8s_cluster" in rc.component and rc.verb == "watch"]
    assert cluster_receiver and all(rc.leader_only for rc in cluster_receiver)
    # ...but every collector polls the lease
    assert "WG104" in rules


def test_otel_without_node_filter_is_an_error(tmp_path):
    from tests.conftest import EXAMPLES

    result = analyse([str(EXAMPLES / "incident-telemetry")])
    assert ("WG101", "error") in _rules(result)
    filtered = analyse([str(EXAMPLES / "incident-telemetry-node-filtered")])
    assert not filtered.findings
    assert set(_verdicts(filtered).values()) == {"ok"}


def test_filebeat_in_kube_system_shares_workload_high_with_controllers(manifests):
    result = _run(manifests / "filebeat-kubernetes.yaml")
    # Issue 13: WG105 is an error only when the agent's own load overloads workload-high; filebeat's
    # node-scoped watches do not, so it is a warning that says so.
    assert ("WG105", "warning") in _rules(result, "DaemonSet/kube-system/filebeat")
    assert ("WG105", "error") not in _rules(result, "DaemonSet/kube-system/filebeat")
    assert all(l.verdict != "overload" for p in result.projections for l in p.loads.values())
    (profile,) = result.profiles
    # add_kubernetes_metadata defaults to scope: node
    assert all(rc.scope == "node" for rc in profile.classes if rc.resource == "pods")
    assert result.projections[-1].loads[profile.client].priority_level == "workload-high"


def test_datadog_agent_without_cluster_agent_lists_endpoints_from_every_node(manifests):
    result = _run(manifests / "datadog-agent")
    ds = "DaemonSet/default/datadog"
    rules = _rules(result, ds)
    assert ("WG101", "warning") in rules or ("WG101", "error") in rules
    wg101 = next(f for f in result.findings if f.rule == "WG101")
    assert "DD_CLUSTER_AGENT_ENABLED=true" in wg101.fix
    assert any(f.rule == "WG106" and "10%" in f.message for f in result.findings)  # maxUnavailable 10%
    assert any(f.rule == "WG102" for f in result.findings)  # plain LIST: etcd before v1.31


def test_cluster_metrics_bundle(manifests):
    result = _run(manifests / "cluster-metrics-node-exporter-ksm-alloy-k8s-monitoring-2.0.46.yaml")
    by_workload = {p.client: p for p in result.profiles}
    # node-exporter and windows-exporter have no RBAC: they send nothing
    assert not any("node-exporter" in c or "windows-exporter" in c for c in by_workload)
    # kepler watches its own node's pods
    kepler = by_workload["DaemonSet/default/k8smon-kepler"]
    assert {rc.scope for rc in kepler.classes} == {"node"}
    # kube-state-metrics: one replica watching the cluster: O(nodes), info
    assert ("WG111", "info") in _rules(result, "Deployment/default/k8smon-kube-state-metrics")
    assert scaling_class(by_workload["Deployment/default/k8smon-kube-state-metrics"]) == "O(nodes)"
    # opencost is unknown: an RBAC upper bound, labelled as such
    opencost = next(f for f in result.findings if f.workload == "Deployment/default/k8smon-opencost")
    assert opencost.rule == "WG107" and "UPPER BOUND" in opencost.message
    assert not [f for f in result.findings if f.severity == "error"]


def test_custom_resource_that_runs_pods_gets_an_info_finding(manifests):
    result = _run(manifests / "host-metrics-node-exporter-kepler-alloy-cr-k8s-monitoring-3.8.yaml")
    wg110 = [f for f in result.findings if f.rule == "WG110"]
    assert wg110 and wg110[0].workload == "Alloy/default/k8smon-alloy-metrics"
    assert wg110[0].severity == "info"
    assert wg110[0].line == 1234  # the document's first line in the file


@pytest.mark.parametrize("name", [
    "alloy-pod-logs-daemonset-k8s-monitoring-2.0.46.yaml",
    "alloy-pod-logs-via-kubernetes-api-daemonset-k8s-monitoring-2.0.46.yaml",
    "cluster-metrics-node-exporter-ksm-alloy-k8s-monitoring-2.0.46.yaml",
    "host-metrics-node-exporter-kepler-alloy-cr-k8s-monitoring-3.8.yaml",
    "filebeat-kubernetes.yaml", "datadog-agent", "fluent-bit", "otel-collector-agent",
])
def test_every_real_input_analyses_with_locations(manifests, name):
    result = _run(manifests / name)
    assert result.documents > 0
    for f in result.findings:
        assert f.line >= 1 and f.file.endswith((".yaml", ".yml"))
        assert f.message and f.fix
