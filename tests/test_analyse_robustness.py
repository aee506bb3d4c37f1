"""Cases found by trying to break `waveguard analyse` as a new user would: silent passes that must
not be silent, wrong values that must give one line and exit 2."""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.conftest import EXAMPLES
from waveguard.analysis import analyse
from waveguard.cli.main import app

INCIDENT = EXAMPLES / "incident-telemetry" / "telemetry-agent.yaml"


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_missing_configmap_falls_back_to_the_rbac_bound(manifests, tmp_path):
    otel = manifests / "otel-collector-agent"
    bundle = "\n---\n".join((otel / f).read_text() for f in
                            ("daemonset.yaml", "clusterrole.yaml", "clusterrolebinding.yaml", "serviceaccount.yaml"))
    path = _write(tmp_path, "partial.yaml", bundle)
    result = analyse([str(path)])
    rules = {f.rule for f in result.findings}
    assert "WG115" in rules  # the ConfigMap is named as missing
    assert "WG107" in rules  # and the load is bounded from RBAC instead of "no requests"
    assert result.profiles and result.profiles[0].upper_bound


def test_alloy_operator_is_not_mistaken_for_alloy(manifests):
    result = analyse([str(manifests / "host-metrics-node-exporter-kepler-alloy-cr-k8s-monitoring-3.8.yaml")])
    operator = [p for p in result.profiles if "alloy-operator" in p.client]
    assert operator and operator[0].upper_bound  # unknown to the recognisers: RBAC upper bound


def test_opentelemetry_operator_collector_is_analysed(tmp_path):
    path = _write(tmp_path, "cr.yaml", """\
        apiVersion: opentelemetry.io/v1beta1
        kind: OpenTelemetryCollector
        metadata: {name: agent, namespace: obs}
        spec:
          mode: daemonset
          config:
            receivers: {otlp: {protocols: {grpc: {}}}}
            processors: {k8sattributes: {}}
            exporters: {debug: {}}
            service:
              pipelines:
                traces: {receivers: [otlp], processors: [k8sattributes], exporters: [debug]}
        """)
    result = analyse([str(path)])
    wg101 = next(f for f in result.findings if f.rule == "WG101")
    assert wg101.severity == "error" and wg101.workload == "OpenTelemetryCollector/obs/agent"


def test_loads_of_workloads_sharing_a_level_add_up(tmp_path):
    text = INCIDENT.read_text()
    twin = text.replace("name: telemetry-agent\n", "name: telemetry-agent-b\n")
    # memory large enough that only the shared seats decide
    fleet = _write(tmp_path, "fleet.yaml", "clusters:\n  - {name: mid, nodes: 2500, apiserver_memory_bytes: 1099511627776}\n")
    from waveguard.model.fleet import load_fleet

    one = analyse([str(_write(tmp_path, "one.yaml", text))], load_fleet(fleet))
    two = analyse([str(_write(tmp_path, "one.yaml", text)), str(_write(tmp_path, "two.yaml", twin))], load_fleet(fleet))
    assert len(two.profiles) == 2
    (p1,), (p2,) = one.projections, two.projections
    assert p2.utilisation == pytest.approx(2 * p1.utilisation)
    assert p1.verdict == "warning" and p2.verdict == "overload"


def test_node_filter_from_an_env_var_the_container_does_not_set(tmp_path):
    text = (EXAMPLES / "incident-telemetry-node-filtered" / "telemetry-agent.yaml").read_text()
    broken = text.replace("node_from_env_var: K8S_NODE_NAME", "node_from_env_var: NOT_SET_ANYWHERE")
    result = analyse([str(_write(tmp_path, "x.yaml", broken))])
    wg101 = next(f for f in result.findings if f.rule == "WG101")
    assert "NOT_SET_ANYWHERE" in wg101.message and "spec.nodeName" in wg101.fix


def test_absolute_max_unavailable_counts(tmp_path):
    text = INCIDENT.read_text().replace("maxUnavailable: 1", "maxUnavailable: 500")
    result = analyse([str(_write(tmp_path, "x.yaml", text))])
    wg106 = next(f for f in result.findings if f.rule == "WG106")
    assert "staging" in wg106.message  # 50 of 50 nodes at once on the smallest cluster


@pytest.mark.parametrize("old, new, expected", [
    ("      containers:\n", "      containers: 5\n      old_containers:\n", "containers"),
    ("  namespace: telemetry\nspec:\n  selector", "  namespace: [a]\nspec:\n  selector", "metadata.namespace"),
    ("      serviceAccountName: telemetry-agent\n", "      serviceAccountName: telemetry-agent\n      nodeSelector: linux\n",
     "nodeSelector"),
])
def test_wrongly_typed_fields_give_one_line_and_exit_2(runner, tmp_path, old, new, expected):
    text = INCIDENT.read_text()
    assert old in text
    path = _write(tmp_path, "x.yaml", text.replace(old, new, 1))
    result = runner.invoke(app, ["analyse", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and expected in lines[0], result.stderr


@pytest.mark.parametrize("content, expected", [
    ("# only a comment\n", "no Kubernetes objects found"),
    ("", "no Kubernetes objects found"),
    ("apiVersion: v1\nkind: List\nitems: 5\n", ":1: kind: List without an items list"),
    ("a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
     "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
     "g: [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n", "alias bomb"),
])
def test_documents_that_hold_nothing_or_too_much(runner, tmp_path, content, expected):
    path = _write(tmp_path, "x.yaml", content)
    result = runner.invoke(app, ["analyse", str(path)])
    assert result.exit_code == 2 and expected in result.stderr, result.stderr


def test_non_utf8_names_the_line(runner, tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: caf\xe9}\n")
    result = runner.invoke(app, ["analyse", str(path)])
    assert result.exit_code == 2 and f"{path}:3: not UTF-8" in result.stderr and "re-encode" in result.stderr


def test_chart_source_gets_a_helm_template_hint(runner, tmp_path):
    path = _write(tmp_path, "Chart.yaml", "name: mychart\nversion: 1.0.0\n")
    result = runner.invoke(app, ["analyse", str(path)])
    assert result.exit_code == 2 and "helm template" in result.stderr


def test_workload_without_pod_template_is_reported_not_dropped(tmp_path):
    path = _write(tmp_path, "x.yaml", "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x}\n")
    result = analyse([str(path)])
    assert any(f.rule == "WG109" and "pod template" in f.message for f in result.findings)


def test_same_file_twice_counts_once(runner, tmp_path):
    folder = tmp_path / "change"
    folder.mkdir()
    (folder / "a.yaml").write_text(INCIDENT.read_text())
    doc = json.loads(runner.invoke(app, ["analyse", str(folder), str(folder / "a.yaml"), "-o", "json"]).stdout)
    assert len(doc["agents"]) == 1


def test_a_misspelt_builtin_kind_is_reported_not_silently_skipped(tmp_path):
    """``kind: Daemonset`` (apps/v1) is no Kubernetes kind: kubectl apply rejects it, and skipping
    it printed "No findings" as if the agent were harmless."""
    text = INCIDENT.read_text().replace("kind: DaemonSet", "kind: Daemonset")
    result = analyse([str(_write(tmp_path, "x.yaml", text))])
    [note] = [f for f in result.findings if f.rule == "WG109"]
    assert "Daemonset" in note.message and "DaemonSet" in note.fix


@pytest.mark.parametrize("kind, api_version, hint", [("Banana", "v1", "kubectl api-resources"),
                                                     ("DeamonSet", "apps/v1", "kubectl api-resources"),
                                                     ("Affinity", "v1", "kubectl api-resources")])
def test_a_kind_kubernetes_does_not_have_in_its_own_group_is_reported(tmp_path, kind, api_version, hint):
    """Any kind that is not one of a built-in group version's kinds (by Kubernetes' own schemas,
    ``x-kubernetes-group-version-kind``) is a WG109 warning, not a silent skip (new-user trial:
    ``kind: Banana`` in v1 printed "No findings")."""
    text = f"apiVersion: {api_version}\nkind: {kind}\nmetadata: {{name: x, namespace: y}}\n"
    result = analyse([str(_write(tmp_path, "x.yaml", text))])
    [note] = [f for f in result.findings if f.rule == "WG109"]
    assert kind in note.message and hint in note.fix


def test_a_custom_resource_in_a_group_kubernetes_does_not_ship_is_no_wg109(tmp_path):
    text = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: x, namespace: y}\n"
    result = analyse([str(_write(tmp_path, "x.yaml", text))])
    assert not [f for f in result.findings if f.rule == "WG109"]
