"""The Kubernetes target's whole path against a real cluster — skipped unless
``WAVEGUARD_TEST_KUBECONFIG`` names a kubeconfig (its current context, or
``WAVEGUARD_TEST_CONTEXT``). Use a disposable cluster (kind, k3d, minikube): the test creates a
namespace ``wg-live-<random>`` with a ServiceAccount and a DaemonSet of ``registry.k8s.io/pause``,
labels half of the nodes ``waveguard.io/wave``, then rolls back (deletes what it created and
removes the labels). The contract of every request is tested without a cluster in
``tests/test_k8s_target_contract.py``.
"""

from __future__ import annotations

import os
import secrets

import pytest
import yaml

KUBECONFIG = os.environ.get("WAVEGUARD_TEST_KUBECONFIG")
pytestmark = pytest.mark.skipif(not KUBECONFIG, reason="set WAVEGUARD_TEST_KUBECONFIG to run against a real cluster")


def _change(tmp_path, ns: str):
    docs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "agent", "namespace": ns}},
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": ns},
         "spec": {"selector": {"matchLabels": {"app": "wg-live"}},
                  "template": {"metadata": {"labels": {"app": "wg-live"}},
                               "spec": {"serviceAccountName": "agent",
                                        "tolerations": [{"operator": "Exists"}],
                                        "containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.9",
                                                        "resources": {"requests": {"cpu": "1m", "memory": "4Mi"}}}]}}}},
    ]
    path = tmp_path / "change.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return path


def test_apply_waves_and_rollback_on_a_real_cluster(tmp_path):
    from kubernetes import config as kconfig

    from waveguard.analysis import load_change
    from waveguard.model.fleet import Cluster, Fleet
    from waveguard.rollout.k8s_target import NODE_LABEL, KubernetesActuator, KubernetesConfig

    contexts, current = kconfig.list_kube_config_contexts(config_file=KUBECONFIG)
    context = os.environ.get("WAVEGUARD_TEST_CONTEXT") or current["name"]
    ns = f"wg-live-{secrets.token_hex(3)}"
    target = KubernetesActuator(
        Fleet(clusters=[Cluster(name="live", nodes=1)]), load_change([str(_change(tmp_path, ns))]),
        KubernetesConfig(kubeconfig=KUBECONFIG, contexts={"live": context}))
    c = target.client("live")
    ds_path = f"/apis/apps/v1/namespaces/{ns}/daemonsets/agent"
    try:
        previous = target.prepare("live", 0.5)["previous"]
        assert all(v is None for v in previous.values())
        target.apply("live", 0.5)
        _, ds = c.request("GET", ds_path)
        terms = ds["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert {"key": NODE_LABEL, "operator": "Exists"} in terms[0]["matchExpressions"]
        assert any(m["manager"] == "waveguard" and m["operation"] == "Apply" for m in ds["metadata"]["managedFields"])
        _, nodes = c.request("GET", "/api/v1/nodes")
        _, labelled = c.request("GET", "/api/v1/nodes", query={"labelSelector": NODE_LABEL})
        n = len(nodes["items"])
        assert len(labelled["items"]) == max(1, -(-n // 2))
        target.apply("live", 1.0)
        _, ds = c.request("GET", ds_path)
        assert "affinity" not in ds["spec"]["template"]["spec"]
        _, labelled = c.request("GET", "/api/v1/nodes", query={"labelSelector": NODE_LABEL})
        assert labelled["items"] == []
    finally:
        target.rollback("live")
        target.close()
    status, _ = c.request("GET", ds_path, ok=(200, 404))
    status_ns, obj = c.request("GET", f"/api/v1/namespaces/{ns}", ok=(200, 404))
    assert status == 404 or status_ns == 404 or obj["status"].get("phase") == "Terminating"
