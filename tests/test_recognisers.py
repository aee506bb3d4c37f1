"""Recognisers on small synthetic changes: each documented switch changes the request classes."""

from __future__ import annotations

import textwrap

from waveguard.analysis import analyse, build_profiles, load_change
from waveguard.model.cost import scaling_class


def _change(tmp_path, image: str, config: str, *, kind: str = "DaemonSet", namespace: str = "agents",
            env: str = "", rbac: str = "", file_name: str = "config.yaml") -> list:
    """Write a one-workload change (workload + ConfigMap mounted at /conf) and return profiles."""
    spec_line = "replicas: 2" if kind == "Deployment" else "minReadySeconds: 0"
    manifest = textwrap.dedent(f"""\
        apiVersion: v1
        kind: ConfigMap
        metadata: {{name: agent, namespace: {namespace}}}
        data:
          {file_name}: |
        """) + textwrap.indent(textwrap.dedent(config), "    ") + textwrap.dedent(f"""\
        ---
        apiVersion: apps/v1
        kind: {kind}
        metadata: {{name: agent, namespace: {namespace}}}
        spec:
          {spec_line}
          selector: {{matchLabels: {{app: agent}}}}
          template:
            metadata: {{labels: {{app: agent}}}}
            spec:
              serviceAccountName: agent
              containers:
                - name: agent
                  image: {image}
                  env: [{env}]
                  volumeMounts: [{{name: conf, mountPath: /conf}}]
              volumes:
                - name: conf
                  configMap: {{name: agent}}
        """) + rbac
    path = tmp_path / "change.yaml"
    path.write_text(manifest)
    return build_profiles(load_change([str(path)]))


def _classes(profiles):
    return {(rc.verb, rc.resource, rc.scope, rc.trigger, rc.leader_only) for p in profiles for rc in p.classes}


OTEL = "otel/opentelemetry-collector-contrib:0.115.0"


def test_otel_k8s_cluster_receiver_without_leader_election_in_a_daemonset(tmp_path):
    profiles = _change(tmp_path, OTEL, """\
        receivers:
          k8s_cluster: {collection_interval: 10s}
        exporters: {debug: {}}
        service:
          pipelines:
            metrics: {receivers: [k8s_cluster], exporters: [debug]}
        """)
    assert ("watch", "pods", "cluster", "held", False) in _classes(profiles)
    assert scaling_class(profiles[0]) == "O(nodes²)"
    result = analyse([str(tmp_path / "change.yaml")])
    wg101 = next(f for f in result.findings if f.rule == "WG101")
    assert wg101.severity == "error" and "k8s_leader_elector" in wg101.fix


def test_otel_unused_components_send_nothing(tmp_path):
    profiles = _change(tmp_path, OTEL, """\
        receivers:
          k8s_cluster: {}
          otlp: {protocols: {grpc: {}}}
        processors:
          k8sattributes: {}
        exporters: {debug: {}}
        service:
          pipelines:
            traces: {receivers: [otlp], exporters: [debug]}
        """)
    assert profiles == []  # configured but in no pipeline


def test_otel_k8sobjects_pull_and_watch(tmp_path):
    profiles = _change(tmp_path, OTEL, """\
        receivers:
          k8sobjects:
            objects:
              - {name: pods, mode: pull, interval: 15m}
              - {name: events, mode: watch, namespaces: [default]}
        exporters: {debug: {}}
        service:
          pipelines:
            logs: {receivers: [k8sobjects], exporters: [debug]}
        """, kind="Deployment")
    (profile,) = profiles
    pull = next(rc for rc in profile.classes if rc.resource == "pods")
    assert pull.trigger == "periodic" and abs(pull.rate_per_s - 1 / 900) < 1e-12 and pull.resource_version == ""
    assert ("watch", "events", "namespace", "held", False) in _classes(profiles)
    assert scaling_class(profile) == "O(nodes)"


def test_otel_k8sattributes_namespace_filter_and_node_labels(tmp_path):
    profiles = _change(tmp_path, OTEL, """\
        receivers: {otlp: {protocols: {grpc: {}}}}
        processors:
          k8sattributes:
            filter: {namespace: shop}
            extract:
              metadata: [k8s.pod.name]
              labels: [{tag_name: team, key: team, from: node}]
        exporters: {debug: {}}
        service:
          pipelines:
            traces: {receivers: [otlp], processors: [k8sattributes], exporters: [debug]}
        """)
    classes = _classes(profiles)
    assert ("watch", "pods", "namespace", "held", False) in classes
    assert ("watch", "nodes", "cluster", "held", False) in classes
    assert not any(c[1] == "replicasets" for c in classes)  # no deployment metadata requested


def test_prometheus_sd_role_and_node_selector(tmp_path):
    config = """\
        scrape_configs:
          - job_name: pods
            kubernetes_sd_configs:
              - role: pod
                selectors:
                  - {role: pod, field: "spec.nodeName=$(NODE_NAME)"}
          - job_name: endpoints
            kubernetes_sd_configs:
              - role: endpoints
                namespaces: {names: [shop]}
        """
    profiles = _change(tmp_path, "prom/prometheus:v2.53.0", config, file_name="prometheus.yml")
    classes = _classes(profiles)
    assert ("watch", "pods", "node", "held", False) in classes
    assert ("watch", "endpoints", "namespace", "held", False) in classes
    assert ("watch", "pods", "namespace", "held", False) in classes


def test_alloy_discovery_without_selector_and_with_namespaces(tmp_path):
    config = """\
        discovery.kubernetes "nodes" {
          role = "node"
        }
        // discovery.kubernetes "commented" { role = "pod" }
        discovery.kubernetes "svc" {
          role = "service"
          namespaces {
            names = ["shop"]
          }
        }
        """
    profiles = _change(tmp_path, "grafana/alloy:v1.10.1", config, file_name="config.alloy")
    classes = _classes(profiles)
    assert ("watch", "nodes", "cluster", "held", False) in classes
    assert ("watch", "services", "namespace", "held", False) in classes
    assert not any(c[1] == "pods" for c in classes)  # the commented block does not count


def test_fluent_bit_yaml_config_with_use_kubelet(tmp_path):
    on = """\
        pipeline:
          filters:
            - name: kubernetes
              match: kube.*
              use_kubelet: true
        """
    assert _change(tmp_path, "fluent/fluent-bit:3.1", on, file_name="fluent-bit.yaml") == []
    off = on.replace("use_kubelet: true", "use_kubelet: false")
    (profile,) = _change(tmp_path, "fluent/fluent-bit:3.1", off, file_name="fluent-bit.yaml")
    assert profile.classes[0].trigger == "per_event"


def test_filebeat_cluster_scope_and_unique_autodiscover(tmp_path):
    config = """\
        filebeat.autodiscover:
          providers:
            - type: kubernetes
              scope: cluster
              unique: true
        processors:
          - add_kubernetes_metadata:
              scope: cluster
              add_resource_metadata:
                deployment: true
        """
    profiles = _change(tmp_path, "docker.elastic.co/beats/filebeat:8.15.0", config, file_name="filebeat.yml")
    classes = _classes(profiles)
    assert ("watch", "pods", "cluster", "held", False) in classes  # add_kubernetes_metadata, every replica
    assert ("watch", "pods", "cluster", "held", True) in classes  # unique autodiscover: the leader only
    assert ("watch", "replicasets", "cluster", "held", False) in classes
    assert any(rc.resource == "leases" and not rc.leader_only for rc in profiles[0].classes)


def test_datadog_with_cluster_agent_sends_nothing_from_nodes(tmp_path):
    env = "{name: DD_CLUSTER_AGENT_ENABLED, value: 'true'}"
    assert _change(tmp_path, "gcr.io/datadoghq/agent:7.60.0", "a: 1\n", env=env) == []
    env = "{name: DD_LEADER_ELECTION, value: 'true'}, {name: DD_COLLECT_KUBERNETES_EVENTS, value: 'true'}"
    (profile,) = _change(tmp_path, "gcr.io/datadoghq/agent:7.60.0", "a: 1\n", env=env)
    classes = _classes([profile])
    assert ("list", "endpoints", "cluster", "periodic", False) in classes
    assert ("watch", "events", "cluster", "held", True) in classes
    assert ("get", "leases", "object", "periodic", False) in classes


def test_unknown_agent_gets_an_rbac_upper_bound(tmp_path):
    rbac = textwrap.dedent("""\
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRole
        metadata: {name: agent}
        rules:
          - apiGroups: [""]
            resources: ["*"]
            verbs: ["list", "watch"]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRoleBinding
        metadata: {name: agent}
        roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: agent}
        subjects: [{kind: ServiceAccount, name: agent, namespace: agents}]
        """)
    profiles = _change(tmp_path, "example.com/mystery-agent:1.0", "a: 1\n", rbac=rbac)
    (profile,) = profiles
    assert profile.upper_bound and all(rc.upper_bound for rc in profile.classes)
    assert ("watch", "pods", "cluster", "held", False) in _classes(profiles)
    result = analyse([str(tmp_path / "change.yaml")])
    wg107 = next(f for f in result.findings if f.rule == "WG107")
    # Issue 13: an upper bound is an unverified question (warning), an error only with --strict.
    assert wg107.severity == "warning" and "UPPER BOUND" in wg107.message and "unverified" in wg107.message
    strict = next(f for f in analyse([str(tmp_path / "change.yaml")], strict=True).findings if f.rule == "WG107")
    assert strict.severity == "error"
    # without RBAC the same workload sends nothing
    assert _change(tmp_path, "example.com/mystery-agent:1.0", "a: 1\n") == []


def test_replica_count_comes_from_the_workload_kind(tmp_path):
    config = """\
        discovery.kubernetes "pods" {
          role = "pod"
        }
        """
    (ds,) = _change(tmp_path, "grafana/alloy:v1.10.1", config, file_name="config.alloy")
    (deploy,) = _change(tmp_path, "grafana/alloy:v1.10.1", config, file_name="config.alloy", kind="Deployment")
    assert ds.per_node and scaling_class(ds) == "O(nodes²)"
    assert not deploy.per_node and deploy.replicas == 2 and scaling_class(deploy) == "O(nodes)"
