"""``waveguard export``: every target validates against its project's published schema — the
CRDs of Argo Rollouts v1.9.1, Flagger v1.44.0 and Prometheus Operator v0.93.0 (tests/data/crds,
SOURCE.md), Grafana's dashboard kind (tests/data/grafana) — strictly: a field the CRD does not
define is an error here (the apiserver would prune it silently). The PrometheusRule's rules pass
``promtool check rules``; thresholds, limits and intervals come from the registry or the plan.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from waveguard.export import EXPORTERS
from waveguard.export.gateset import GateSet, gate_set
from waveguard.model.fleet import default_fleet
from waveguard.rollout.gates import GATES
from waveguard.rollout.plan import load_plan

DATA = Path(__file__).parent / "data"
CRDS = DATA / "crds"
DNS_1123 = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
#: The registry's default-on control-plane gates: what is exported without a plan.
DEFAULT_GATES = [g.name for g in GATES.values() if g.control_plane and g.default_on and not g.before_apply]


def strict(schema: dict) -> dict:
    """``schema`` with ``additionalProperties: false`` on every object that lists its properties
    and keeps no unknown fields (a structural CRD schema prunes what it does not list)."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if ("properties" in node and "additionalProperties" not in node
                    and not node.get("x-kubernetes-preserve-unknown-fields")):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(schema)
    return schema


def crd_schema(file: str, kind: str) -> tuple[dict, str]:
    """The strict openAPIV3Schema of ``kind``'s served version in ``file``, and that version."""
    for doc in yaml.safe_load_all((CRDS / file).read_text()):
        if doc and doc["spec"]["names"]["kind"] == kind:
            version = next(v for v in doc["spec"]["versions"] if v.get("served"))
            return strict(version["schema"]["openAPIV3Schema"]), f'{doc["spec"]["group"]}/{version["name"]}'
    raise AssertionError(f"{kind} not in {file}")


def check_object(obj: dict, file: str, kind: str, namespace: str) -> None:
    schema, api_version = crd_schema(file, kind)
    assert obj["apiVersion"] == api_version and obj["kind"] == kind
    # Not jsonschema.validate: it checks the schema first, and Python's re refuses a Go regular
    # expression in the PrometheusRule CRD ((?i) after ^, in partial_response_strategy).
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in jsonschema.Draft7Validator(schema).iter_errors(obj)]
    assert not errors, errors
    meta = obj["metadata"]
    assert set(meta) <= {"name", "namespace", "labels", "annotations"}
    jsonschema.validate(meta["name"], {"type": "string", "pattern": DNS_1123, "maxLength": 253})
    assert meta.get("namespace") == namespace


@pytest.fixture(scope="module")
def defaults() -> GateSet:
    return gate_set(None)


@pytest.fixture(scope="module")
def planned(tmp_path_factory) -> GateSet:
    """A plan with its own thresholds, failures before a halt, interval and no-data timeout."""
    path = tmp_path_factory.mktemp("plan") / "plan.yaml"
    path.write_text(yaml.safe_dump({
        "change": "examples/incident-telemetry",
        "waves": [{"name": "staging", "clusters": {"names": ["staging"]}, "bake_s": 600}],
        "gates": [{"kind": "apiserver_p99_latency", "threshold": 0.5, "failures_to_halt": 3},
                  {"kind": "etcd_p99_latency"}, {"kind": "projection"}, {"kind": "dns_probe"}],
        "gate_interval_s": 60, "no_data_timeout_s": 300}))
    return gate_set(load_plan(path, default_fleet()))


def test_without_a_plan_the_default_control_plane_gates_are_exported(defaults):
    assert [g.name for g in defaults.gates] == DEFAULT_GATES
    assert all(g.threshold == GATES[g.name].default_threshold and g.failures_to_halt == 1 for g in defaults.gates)


def test_a_plan_gives_its_gates_thresholds_and_interval_and_leaves_out_gates_without_promql(planned):
    # projection (before apply) and dns_probe (DNS probes) have no one PromQL.
    assert [(g.name, g.threshold, g.failures_to_halt) for g in planned.gates] == [
        ("apiserver_p99_latency", 0.5, 3), ("etcd_p99_latency", 0.5, 1)]
    assert planned.interval == "60s" and planned.no_data_evaluations == 5
    assert planned.not_exported == ("projection", "dns_probe")


def test_cli_export_says_which_gates_of_the_plan_it_leaves_out(runner, tmp_path):
    """The exported objects are not the whole plan: the gates no PromQL reads are named on stderr
    (two lines within 80 columns), and stdout stays the object alone."""
    from waveguard.cli.main import app

    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({
        "change": "examples/incident-telemetry",
        "waves": [{"name": "staging", "clusters": {"names": ["staging"]}, "bake_s": 600}],
        "gates": [{"kind": "apiserver_p99_latency"}, {"kind": "dns_probe"}, {"kind": "projection"}]}))
    r = runner.invoke(app, ["export", "argo", "--plan", str(plan)])
    assert r.exit_code == 0, r.output
    assert yaml.safe_load(r.stdout)["kind"] == "AnalysisTemplate"
    note = r.stderr.splitlines()
    assert note[0] == "not exported (no PromQL reads them): dns_probe, projection"
    assert all(len(line) <= 80 for line in note)
    assert "not exported" not in runner.invoke(app, ["export", "argo"]).stderr  # the defaults: all PromQL


def test_argo_analysis_template_validates_and_maps_waveguard_semantics(defaults, planned):
    for gates in (defaults, planned):
        [template] = EXPORTERS["argo"].render(gates, "rollouts")
        check_object(template, "argo-rollouts-analysis-template-crd.yaml", "AnalysisTemplate", "rollouts")
        assert template["spec"]["args"] == [{"name": "cluster"}]
        metrics = {m["name"]: m for m in template["spec"]["metrics"]}
        assert list(metrics) == ["apiserver-up", *(g.slug for g in gates.gates)]
        for g in gates.gates:
            m = metrics[g.slug]
            t = f"{g.threshold:g}"
            assert m["successCondition"] == f"len(result) == 1 && result[0] <= {t}"
            assert m["failureCondition"] == f"len(result) == 1 && result[0] > {t}"
            assert m["failureLimit"] == g.failures_to_halt - 1
            assert m["inconclusiveLimit"] == 0  # no data pauses at once
            assert m["consecutiveErrorLimit"] == gates.no_data_evaluations  # unreachable past the timeout: abort
            assert m["interval"] == gates.interval
            q = m["provider"]["prometheus"]["query"]
            assert q == gates.figure(g, "{{args.cluster}}") and 'cluster="{{args.cluster}}"' in q
    [template] = EXPORTERS["argo"].render(planned, "rollouts")
    m = {m["name"]: m for m in template["spec"]["metrics"]}["apiserver-p99-latency"]
    assert (m["failureLimit"], m["consecutiveErrorLimit"], m["interval"]) == (2, 5, "60s")


def test_flagger_metric_templates_validate_and_carry_thresholds(planned):
    templates = EXPORTERS["flagger"].render(planned, "flagger")
    assert [t["metadata"]["name"] for t in templates] == ["waveguard-apiserver-p99-latency",
                                                          "waveguard-etcd-p99-latency"]
    for t, g in zip(templates, planned.gates, strict=True):
        check_object(t, "flagger-crd.yaml", "MetricTemplate", "flagger")
        assert t["spec"]["provider"] == {"type": "prometheus", "address": planned.prometheus_url}
        assert t["spec"]["query"] == planned.figure(g, "{{ variables.cluster }}")
        assert t["metadata"]["annotations"]["waveguard.io/threshold"] == f"{g.threshold:g}"
    text = EXPORTERS["flagger"].text(planned, "flagger")
    header = "\n".join(line[2:] for line in text.splitlines() if line.startswith("# "))
    analysis = yaml.safe_load(header.split("\n", 2)[2])["analysis"]
    assert analysis["threshold"] == 3 and analysis["interval"] == "60s"
    assert [m["thresholdRange"]["max"] for m in analysis["metrics"]] == [0.5, 0.5]
    canary_schema, _ = crd_schema("flagger-crd.yaml", "Canary")
    metric_schema = canary_schema["properties"]["spec"]["properties"]["analysis"]["properties"]["metrics"]["items"]
    for m in analysis["metrics"]:
        jsonschema.validate(m, metric_schema)


def test_prometheus_rule_validates_and_passes_promtool(planned, tmp_path):
    [rule] = EXPORTERS["prometheus-rule"].render(planned, "monitoring")
    check_object(rule, "prometheus-operator-prometheusrules-crd.yaml", "PrometheusRule", "monitoring")
    [group] = rule["spec"]["groups"]
    assert group["interval"] == "60s"
    alerts = {r["alert"]: r for r in group["rules"]}
    assert list(alerts) == ["WaveguardNoApiserverUp", "WaveguardApiserverP99Latency", "WaveguardEtcdP99Latency"]
    p99 = alerts["WaveguardApiserverP99Latency"]
    assert p99["expr"] == planned.figure(planned.gates[0], None, by_cluster=True) + " > 0.5"
    assert p99["for"] == "120s"  # (3 − 1) × 60 s
    assert "for" not in alerts["WaveguardEtcdP99Latency"]
    assert all(r["annotations"]["runbook_url"].startswith(
        "https://github.com/waveguard/waveguard/blob/main/docs/integrations.md#gate-") for r in group["rules"])
    promtool = shutil.which("promtool")
    if promtool is None:  # as tests/prometheus_server.py: required in CI (.ci/run installs prometheus)
        msg = "promtool not installed (Debian package prometheus)"
        pytest.fail(msg + ": required in CI") if os.environ.get("CI", "").lower() == "true" else pytest.skip(msg)
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(rule["spec"]))
    out = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 3 rules found" in out.stdout


def test_runbook_anchors_exist_in_docs_integrations():
    """Every gate that can be exported (it has a PromQL reading) has its runbook section."""
    doc = (Path(__file__).parents[1] / "docs" / "integrations.md").read_text()
    anchors = {f'<a id="gate-{g.name.replace("_", "-")}"></a>' for g in GATES.values() if g.reading is not None}
    anchors.add('<a id="gate-apiserver-up"></a>')
    assert all(a in doc for a in anchors), anchors - {a for a in anchors if a in doc}


def test_grafana_dashboard_loads_as_a_dashboard_model_with_a_row_per_gate(planned):
    [board] = EXPORTERS["grafana"].render(planned, "")
    schema = json.loads((DATA / "grafana" / "dashboard-kind-v0.schema.json").read_text())
    jsonschema.validate(board, schema, cls=jsonschema.Draft202012Validator)
    rows = [p for p in board["panels"] if p["type"] == "row"]
    graphs = [p for p in board["panels"] if p["type"] == "timeseries"]
    assert [r["title"].split(" ")[0] for r in rows] == [g.name for g in planned.gates]
    ids = [p["id"] for p in board["panels"]]
    assert len(set(ids)) == len(ids)
    for graph, gate in zip(graphs, planned.gates, strict=True):
        steps = graph["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert steps == [{"color": "green", "value": None}, {"color": "red", "value": gate.threshold}]
        assert graph["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "line+area"
        assert 'cluster=~"$cluster"' in graph["targets"][0]["expr"] and 'cluster="' not in graph["targets"][0]["expr"]
    names = [v["name"] for v in board["templating"]["list"]]
    assert names == ["datasource", "cluster"]
    # panels do not overlap: each starts below the one before
    ys = [(p["gridPos"]["y"], p["gridPos"]["h"]) for p in board["panels"]]
    assert all(y0 + h0 <= y1 for (y0, h0), (y1, _) in zip(ys, ys[1:], strict=False))


def test_grafana_schema_rejects_what_grafana_would(planned):
    """The schema is strict: it refuses a panel without fieldConfig, an unknown top-level key,
    a panel wider than the grid."""
    [board] = EXPORTERS["grafana"].render(planned, "")
    schema = json.loads((DATA / "grafana" / "dashboard-kind-v0.schema.json").read_text())
    for mutate in (lambda b: b["panels"][1].pop("fieldConfig"), lambda b: b.update(dashbord=1),
                   lambda b: b["panels"][1]["gridPos"].update(w=25), lambda b: b.pop("schemaVersion")):
        bad = copy.deepcopy(board)
        mutate(bad)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema, cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize("target", list(EXPORTERS))
def test_every_target_text_reads_back_as_its_objects(target, planned):
    t = EXPORTERS[target]
    text = t.text(planned, "ns")
    loaded = [json.loads(text)] if t.format == "json" else list(yaml.safe_load_all(text))
    assert loaded == t.render(planned, "ns")


def test_cli_export_all_writes_every_target_and_refuses_bad_input(runner, tmp_path):
    from waveguard.cli.main import app

    r = runner.invoke(app, ["export", "all", "--output-dir", str(tmp_path), "--namespace", "gates",
                            "--prometheus-url", "http://prometheus.monitoring:9090"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(t.filename for t in EXPORTERS.values())
    argo = yaml.safe_load((tmp_path / "argo-analysistemplate.yaml").read_text())
    assert argo["spec"]["metrics"][0]["provider"]["prometheus"]["address"] == "http://prometheus.monitoring:9090"
    r = runner.invoke(app, ["export", "argo"])
    assert r.exit_code == 0 and yaml.safe_load(r.stdout)["kind"] == "AnalysisTemplate"
    out = tmp_path / "new"
    out.mkdir()
    for args in (["export", "nope"], ["export", "all"], ["export", "argo", "--output-dir", str(out / "missing")],
                 ["export", "argo", "--output-file", str(out / "a"), "--output-dir", str(out)],
                 ["export", "argo", "--plan", str(out / "missing.yaml"), "--output-dir", str(out)],
                 ["export", "argo", "--prometheus-url", "ftp://x", "--output-dir", str(out)]):
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("error: "), r.stderr
    assert list(out.iterdir()) == []  # nothing partial written


def test_crd_validation_is_strict(defaults):
    """A misspelt field (the apiserver would prune it) or a wrong type fails the check."""
    [template] = EXPORTERS["argo"].render(defaults, "rollouts")
    for mutate in (lambda t: t["spec"]["metrics"][1].update(successCondtion="x"),
                   lambda t: t["spec"]["metrics"][1].update(interval=30),
                   lambda t: t["spec"]["metrics"][1]["provider"]["prometheus"].update(querry="x")):
        bad = copy.deepcopy(template)
        mutate(bad)
        with pytest.raises(AssertionError):
            check_object(bad, "argo-rollouts-analysis-template-crd.yaml", "AnalysisTemplate", "rollouts")


def test_a_plan_without_a_prometheus_gate_is_refused_naming_the_file(runner, tmp_path):
    from waveguard.cli.main import app

    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"change": "x", "waves": [{"name": "s", "clusters": {"names": ["staging"]},
                                                              "bake_s": 1260}], "gates": [{"kind": "projection"}]}))
    r = runner.invoke(app, ["export", "argo", "--plan", str(plan)])
    assert r.exit_code == 2 and r.stderr.startswith(f"error: {plan}: names no gate read from Prometheus"), r.stderr
