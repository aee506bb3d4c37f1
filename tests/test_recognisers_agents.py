"""Node agents (issue 13): the truth.yaml verdict on the real published manifests, and each
documented switch on small hand-written manifests.

Real manifests: ../shared/inputs/realworld/<agent>, analysed as ``waveguard analyse DIR --format
json`` on the default fleet. o_nodes2 → a WG101 error; node_local → no WG101 and no error.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.conftest import INPUTS, require_shared
from waveguard.analysis import analyse, build_profiles, load_change
from waveguard.cli.main import app
from waveguard.model.yamlio import safe_load

REALWORLD = INPUTS / "realworld"
AGENTS = ("fluentd", "vector-agent", "beyla", "splunk-otel", "kured", "filebeat", "otel-daemonset-cluster-metrics")


def _truth() -> dict:
    return safe_load(require_shared(REALWORLD / "truth.yaml").read_text())["agents"]


def _cli_findings(runner, folder: str) -> list[dict]:
    result = runner.invoke(app, ["analyse", str(require_shared(REALWORLD / folder)), "-o", "json"])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.output)["findings"]


@pytest.mark.parametrize("folder", AGENTS)
def test_real_manifest_gets_the_truth_verdict(runner, folder):
    verdict = _truth()[folder]["verdict"]
    findings = _cli_findings(runner, folder)
    rules = {(f["rule"], f["severity"]) for f in findings}
    assert not any(f["rule"] == "WG107" and f["workload"].startswith("DaemonSet/") for f in findings), \
        "the per-node agent must be recognised, not bounded from RBAC"
    if verdict == "o_nodes2":
        assert ("WG101", "error") in rules
    else:
        assert verdict == "node_local"
        errors = {f["rule"] for f in findings if f["severity"] == "error"}
        assert "WG101" not in {r for r, _ in rules} and not errors, findings


def _write(tmp_path, image: str, *, env: str = "", config: dict[str, str] | None = None, args: str = "",
           kind: str = "DaemonSet", name: str = "agent") -> str:
    """A one-workload change in namespace ``agents``: the workload, and a ConfigMap with ``config``
    files mounted when given. Returns the file's path."""
    docs = []
    if config:
        data = "".join(f"  {file}: |\n" + textwrap.indent(textwrap.dedent(text), "    ") for file, text in config.items())
        docs.append(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: agents}}\ndata:\n{data}")
    volumes = (f"      volumes: [{{name: conf, configMap: {{name: {name}}}}}]\n"
               f"      containers:\n        - name: {name}\n          volumeMounts: [{{name: conf, mountPath: /conf}}]\n"
               if config else f"      containers:\n        - name: {name}\n")
    spec_line = "replicas: 1" if kind == "Deployment" else "minReadySeconds: 0"
    docs.append(textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: {kind}
        metadata: {{name: {name}, namespace: agents}}
        spec:
          {spec_line}
          selector: {{matchLabels: {{app: {name}}}}}
          template:
            metadata: {{labels: {{app: {name}}}}}
            spec:
              serviceAccountName: {name}
        """) + volumes + f"          image: {image}\n          env: [{env}]\n          args: [{args}]\n")
    path = tmp_path / f"{name}.yaml"
    path.write_text("---\n".join(docs))
    return str(path)


def _classes(path: str) -> set[tuple[str, str, str]]:
    return {(rc.verb, rc.resource, rc.scope) for p in build_profiles(load_change([path])) for rc in p.classes}


def _rules(path: str) -> set[tuple[str, str]]:
    return {(f.rule, f.severity) for f in analyse([path]).findings}


NODE_NAME_ENV = "{name: %s, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}"


def test_fluentd_daemonset_image_with_k8s_node_name_watches_its_node(tmp_path):
    path = _write(tmp_path, "fluent/fluentd-kubernetes-daemonset:v1-debian-forward", env=NODE_NAME_ENV % "K8S_NODE_NAME")
    assert ("watch", "pods", "node") in _classes(path)
    assert ("watch", "namespaces", "cluster") in _classes(path)
    assert "WG101" not in {r for r, _ in _rules(path)}


def test_fluentd_without_k8s_node_name_watches_every_pod(tmp_path):
    path = _write(tmp_path, "fluent/fluentd-kubernetes-daemonset:v1-debian-forward")
    assert ("watch", "pods", "cluster") in _classes(path)
    wg101 = next(f for f in analyse([path]).findings if f.rule == "WG101")
    assert "K8S_NODE_NAME" in wg101.fix


def test_fluentd_config_with_watch_false_gets_pods_one_by_one(tmp_path):
    conf = """\
        <filter kubernetes.**>
          @type kubernetes_metadata
          watch false
        </filter>
        """
    path = _write(tmp_path, "registry.example/logging/fluentd:1.16", config={"fluent.conf": conf})
    assert _classes(path) == {("get", "pods", "object")}


def test_vector_kubernetes_logs_in_toml_is_node_local(tmp_path):
    conf = """\
        [sources.k8s]
        type = "kubernetes_logs"
        [sinks.out]
        type = "console"
        inputs = ["k8s"]
        """
    path = _write(tmp_path, "registry.example/mirror/vector-agent:0.40", config={"vector.toml": conf},
                  env=NODE_NAME_ENV % "VECTOR_SELF_NODE_NAME", args='"--config-dir", "/conf"')
    assert {("watch", "pods", "node"), ("watch", "namespaces", "cluster"), ("watch", "nodes", "object")} <= \
        _classes(path)
    assert not {r for r, s in _rules(path) if s == "error"}


PROMTAIL = """\
    server: {http_listen_port: 3101}
    clients: [{url: "http://loki:3100/loki/api/v1/push"}]
    scrape_configs:
      - job_name: kubernetes-pods
        kubernetes_sd_configs:
          - role: pod
    """


def test_promtail_without_node_selector_watches_every_pod(tmp_path):
    path = _write(tmp_path, "grafana/promtail:3.0.0", config={"promtail.yaml": PROMTAIL})
    assert ("watch", "pods", "cluster") in _classes(path)
    assert ("WG101", "error") in _rules(path)


def test_promtail_with_node_selector_watches_its_node(tmp_path):
    # PROMTAIL ends in the closing quotes' 4-space indent: 8 more put the key beside "role".
    conf = PROMTAIL + "        selectors: [{role: pod, field: 'spec.nodeName=${HOSTNAME}'}]\n"
    path = _write(tmp_path, "grafana/promtail:3.0.0", config={"promtail.yaml": conf},
                  env=NODE_NAME_ENV % "HOSTNAME", args='"-config.expand-env=true"')
    assert ("watch", "pods", "node") in _classes(path)
    assert "WG101" not in {r for r, _ in _rules(path)}


def test_beyla_restricted_to_its_node(tmp_path):
    env = '{name: BEYLA_KUBE_METADATA_ENABLE, value: "true"}, {name: BEYLA_KUBE_META_RESTRICT_LOCAL_NODE, value: "true"}'
    path = _write(tmp_path, "grafana/beyla:2.1.0", env=env)
    classes = _classes(path)
    assert ("watch", "pods", "node") in classes and ("watch", "nodes", "object") in classes
    assert "WG101" not in {r for r, _ in _rules(path)}


def test_beyla_restriction_in_its_config_file(tmp_path):
    conf = "attributes:\n  kubernetes:\n    enable: true\n    meta_restrict_local_node: true\n" \
           "    disable_informers: [service]\n"
    path = _write(tmp_path, "grafana/beyla:2.1.0", config={"beyla-config.yml": conf})
    assert _classes(path) == {("list", "pods", "node"), ("watch", "pods", "node"),
                              ("list", "nodes", "object"), ("watch", "nodes", "object")}


def test_beyla_with_the_k8s_cache_opens_no_informer_and_the_cache_watches_once(tmp_path):
    agent = _write(tmp_path, "grafana/beyla:2.1.0",
                   env='{name: BEYLA_KUBE_META_CACHE_ADDRESS, value: "beyla-k8s-cache:50055"}')
    assert _classes(agent) == set()
    cache = _write(tmp_path, "grafana/beyla-k8s-cache:2.1.0", kind="Deployment", name="cache")
    assert ("watch", "pods", "cluster") in _classes(cache)
    assert "WG101" not in {r for r, _ in _rules(cache)}


def test_beyla_default_is_cluster_wide_per_replica(tmp_path):
    path = _write(tmp_path, "grafana/beyla:2.1.0")
    assert ("watch", "pods", "cluster") in _classes(path)
    wg101 = next(f for f in analyse([path]).findings if f.rule == "WG101")
    assert "meta_restrict_local_node" in wg101.fix


def test_datadog_node_agent_in_cluster_agent_mode_sends_nothing(tmp_path):
    without = _write(tmp_path, "gcr.io/datadoghq/agent:7.50.0")
    assert ("list", "endpoints", "cluster") in _classes(without)
    dca = _write(tmp_path, "gcr.io/datadoghq/agent:7.50.0", name="dca-mode",
                 env='{name: DD_CLUSTER_AGENT_ENABLED, value: "true"}')
    assert _classes(dca) == set()


def test_datadog_cluster_agent_watches_once_for_the_cluster(tmp_path):
    path = _write(tmp_path, "gcr.io/datadoghq/cluster-agent:7.50.0", kind="Deployment")
    assert ("watch", "endpoints", "cluster") in _classes(path)
    assert "WG101" not in {r for r, _ in _rules(path)}


def test_otel_distribution_recognised_by_config_shape_and_flag(tmp_path):
    conf = """\
        receivers: {otlp: {protocols: {grpc: {}}}}
        processors:
          k8sattributes:
            filter: {node_from_env_var: K8S_NODE_NAME}
            extract: {metadata: [k8s.pod.name]}
        exporters: {debug: {}}
        service:
          pipelines:
            traces: {receivers: [otlp], processors: [k8sattributes], exporters: [debug]}
        """
    path = _write(tmp_path, "registry.example/vendor/telemetry-agent:1.2", config={"relay.yaml": conf},
                  env=NODE_NAME_ENV % "K8S_NODE_NAME", args='"--config=/conf/relay.yaml"')
    assert _classes(path) == {("list", "pods", "node"), ("watch", "pods", "node")}


@pytest.mark.parametrize("image", ["public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0",
                                   "quay.io/signalfx/splunk-otel-collector:0.158.0"])
def test_otel_distribution_images_are_collectors(tmp_path, image):
    conf = """\
        receivers: {otlp: {protocols: {grpc: {}}}}
        processors: {k8sattributes: {}}
        exporters: {debug: {}}
        service:
          pipelines:
            traces: {receivers: [otlp], processors: [k8sattributes], exporters: [debug]}
        """
    path = _write(tmp_path, image, config={"config.yaml": conf})
    assert ("watch", "pods", "cluster") in _classes(path)
    assert ("WG101", "error") in _rules(path)


def test_node_problem_detector_touches_only_its_own_node(tmp_path):
    path = _write(tmp_path, "registry.k8s.io/node-problem-detector/node-problem-detector:v0.8.19")
    assert _classes(path) == {("get", "nodes", "object"), ("patch", "nodes", "object")}
    assert not {r for r, s in _rules(path) if s == "error"}


def test_kured_lists_only_its_own_nodes_pods(tmp_path):
    path = _write(tmp_path, "ghcr.io/kubereboot/kured:1.23.0", args='"/usr/bin/kured", "--period=30m"')
    assert _classes(path) == {("get", "daemonsets", "object"), ("list", "pods", "node")}
    drain = [rc for p in build_profiles(load_change([path])) for rc in p.classes if rc.verb == "list"]
    assert [rc.leader_only for rc in drain] == [True]  # the lock holder drains, one node at a time
    assert "WG101" not in {r for r, _ in _rules(path)}


def test_kured_checks_blocking_pods_on_every_pending_node_only_when_asked(tmp_path):
    path = _write(tmp_path, "ghcr.io/kubereboot/kured:1.23.0",
                  args='"/usr/bin/kured", "--blocking-pod-selector=runtime=long"')
    lists = [rc for p in build_profiles(load_change([path])) for rc in p.classes if rc.verb == "list"]
    assert sorted(rc.leader_only for rc in lists) == [False, True]
    assert {rc.config_key for rc in lists} == {"--concurrency", "--blocking-pod-selector"}


KINDLING_CONFIG = """\
    processors:
      k8smetadataprocessor:
        enable: true
        kube_auth_type: serviceAccount
        enable_fetch_replicaset: {replicasets}
        metadata_provider_config:
          enable: {provider}
    """


@pytest.mark.parametrize(("replicasets", "provider", "expected"), [
    ("false", "false", {"nodes", "services", "pods"}),
    ("true", "false", {"nodes", "services", "pods", "replicasets"}),
    ("true", "true", set()),  # the agents watch Kindling's metadata-provider instead
])
def test_kindling_informers_follow_its_metadata_processor(tmp_path, replicasets, provider, expected):
    config = {"kindling-collector-config.yml": KINDLING_CONFIG.format(replicasets=replicasets, provider=provider)}
    path = _write(tmp_path, "kindlingproject/kindling-agent:latest", config=config)
    classes = _classes(path)
    assert {r for _, r, _ in classes} == expected
    assert all(scope == "cluster" for _, _, scope in classes)
    assert ("WG101", "error") in _rules(path) if expected else "WG101" not in {r for r, _ in _rules(path)}


def test_csi_node_plugin_talks_to_the_kubelet_and_the_controller_watches(tmp_path):
    node = _write(tmp_path, "registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.10.0",
                  args='"--csi-address=/csi/csi.sock", "--kubelet-registration-path=/var/lib/kubelet/plugins/x/csi.sock"')
    assert _classes(node) == set()
    controller = _write(tmp_path, "registry.k8s.io/sig-storage/csi-provisioner:v4.0.0", kind="Deployment",
                        name="controller", args='"--leader-election"')
    assert ("watch", "persistentvolumeclaims", "cluster") in _classes(controller)
    assert "WG101" not in {r for r, _ in _rules(controller)}


def test_csi_node_plugin_of_an_unknown_driver_that_may_watch_stays_an_rbac_bound(tmp_path):
    path = _write(tmp_path, "registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.10.0")
    with open(path, "a") as manifest:
        manifest.write(textwrap.dedent("""\
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRole
            metadata: {name: agent}
            rules: [{apiGroups: [""], resources: [pods], verbs: [list, watch]}]
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRoleBinding
            metadata: {name: agent}
            roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: agent}
            subjects: [{kind: ServiceAccount, name: agent, namespace: agents}]
            """))
    assert all(p.upper_bound for p in build_profiles(load_change([path])))
    assert "WG107" in {r for r, _ in _rules(path)}


@pytest.mark.parametrize(("image", "cache", "from_etcd"), [
    ("timberio/vector:0.57.0-distroless-libc", "false", True),
    ("timberio/vector:0.57.0-distroless-libc", "true", False),
    ("timberio/vector:0.46.1-debian", "true", True),  # before 0.47.0 the paginated LIST dropped resourceVersion=0
])
def test_vector_use_apiserver_cache_decides_where_lists_are_served(tmp_path, image, cache, from_etcd):
    conf = f"sources:\n  k8s: {{type: kubernetes_logs, use_apiserver_cache: {cache}}}\n"
    path = _write(tmp_path, image, config={"vector.yaml": conf}, env=NODE_NAME_ENV % "VECTOR_SELF_NODE_NAME")
    lists = [rc for p in build_profiles(load_change([path])) for rc in p.classes if rc.verb == "list"]
    assert lists and all((rc.resource_version == "") == from_etcd for rc in lists)


def test_kured_reads_its_period_as_a_go_duration(tmp_path):
    """kured's --period is a Go duration: ``1h30m`` (flag defaults print as ``1h0m0s``)."""
    path = _write(tmp_path, "ghcr.io/kubereboot/kured:1.23.0", args='"/usr/bin/kured", "--period=1h30m"')
    rates = {rc.rate_per_s for p in build_profiles(load_change([path])) for rc in p.classes}
    assert rates == {1 / 5400}
