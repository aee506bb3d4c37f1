"""Issue 17 (items 1–3): the indexes and caches that make analyse linear give the answers the
scans gave; the simulator records what is asked (every 10 s, or a streaming window) with the
same figures on the recorded steps; measure reads the log once. No test depends on speed: the
figures are printed by benchmarks/bench_*.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.test_measure_audit import AGENT, _agent_log, ev, write
from waveguard.analysis import schema
from waveguard.analysis.loader import load_change
from waveguard.model.manifests import Binding, Change, ConfigMap, Document, Location, PolicyRule, Role
from waveguard.signals.audit import measure_audit_logs, sql
from waveguard.signals.audit.files import check_paths
from waveguard.sim import load_builtin
from waveguard.sim.phases.recording import RecordingPlan, record_with
from waveguard.sim.run import build_simulator

ROOT = Path(__file__).resolve().parents[1]


def _doc(kind: str, name: str, namespace: str | None) -> Document:
    return Document(api_version="v1", kind=kind, name=name, namespace=namespace, body={},
                    location=Location(file="x.yaml", line=1))


def test_configmap_lookup_by_namespace_then_unnamespaced_first_defined_wins():
    change = Change()
    change.configmaps += [ConfigMap(doc=_doc("ConfigMap", "cfg", None), data={"a": "unnamespaced"}),
                          ConfigMap(doc=_doc("ConfigMap", "cfg", "team"), data={"a": "team"}),
                          ConfigMap(doc=_doc("ConfigMap", "cfg", "team"), data={"a": "team-later"})]
    assert change.configmap("team", "cfg").data == {"a": "team"}
    assert change.configmap("default", "cfg").data == {"a": "unnamespaced"}  # no namespace: "default"
    assert change.configmap("other", "cfg").data == {"a": "unnamespaced"}  # matched by name
    assert change.configmap("team", "missing") is None
    change.configmaps.append(ConfigMap(doc=_doc("ConfigMap", "new", "team"), data={"b": "1"}))
    assert change.configmap("team", "new").data == {"b": "1"}  # the index follows a grown list


def test_grants_follow_subjects_roles_and_binding_scope():
    rule = PolicyRule(resources=["pods"], verbs=["list", "watch"])
    change = Change()
    change.roles += [Role(doc=_doc("ClusterRole", "reader", None), cluster_scoped=True, rules=[rule]),
                     Role(doc=_doc("Role", "reader", "team"), cluster_scoped=False,
                          rules=[PolicyRule(resources=["configmaps"], verbs=["get"])])]
    change.bindings += [
        # subject without a namespace: the binding's own
        Binding(doc=_doc("RoleBinding", "rb", "team"), cluster_scoped=False, role_kind="Role", role_name="reader",
                service_accounts=[("", "agent"), ("team", "agent")]),
        Binding(doc=_doc("ClusterRoleBinding", "crb", None), cluster_scoped=True, role_kind="ClusterRole",
                role_name="reader", service_accounts=[("team", "agent")]),
        Binding(doc=_doc("RoleBinding", "dangling", "team"), cluster_scoped=False, role_kind="Role",
                role_name="nothing", service_accounts=[("team", "agent")]),
    ]
    grants = change.grants("team", "agent")
    assert [(g.rule.resources, g.cluster_wide, g.source) for g in grants] == [
        (["configmaps"], False, "RoleBinding/team/rb"), (["pods"], True, "ClusterRoleBinding/-/crb")]
    assert change.grants("other", "agent") == []


def test_schema_answers_are_cached_by_shape_and_shapes_tell_types_and_kinds_apart():
    base = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"},
            "spec": {"selector": {"matchLabels": {"app": "a"}}, "replicas": 2,
                     "template": {"metadata": {"labels": {"app": "a"}},
                                  "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    renamed = {**base, "metadata": {"name": "b"}}
    assert schema.shape(base) == schema.shape(renamed)  # names do not matter to the schema
    assert schema.schema_problem(base) is None and schema.schema_problem(renamed) is None
    wrong = {**base, "spec": {**base["spec"], "replicas": "two"}}
    assert schema.shape(wrong) != schema.shape(base)
    assert schema.schema_problem(wrong) .startswith("spec.replicas: 'two' is not of type 'integer'")
    assert schema.shape({**base, "kind": "DaemonSet"}) != schema.shape(base)  # kind is an enumeration
    assert schema.shape(1.0) == schema.shape(1)  # JSON Schema's integer takes 1.0


def test_a_redefined_workload_is_replaced_once_with_a_note(tmp_path):
    ds = ("apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: agent, namespace: t}}\nspec:\n"
          "  selector: {{matchLabels: {{a: b}}}}\n  template:\n    metadata: {{labels: {{a: b}}}}\n"
          "    spec: {{containers: [{{name: c, image: {image}}}]}}\n")
    path = tmp_path / "m.yaml"
    path.write_text(ds.format(image="one") + "---\n" + ds.format(image="two") + "---\n" + ds.format(image="three"))
    change = load_change([str(path)])
    assert [w.images() for w in change.workloads] == [["three"]]
    assert [n[0] for n in change.parse_notes].count("WG120") == 2


def test_recording_every_10_s_keeps_the_figures_of_the_recorded_steps():
    scenario = load_builtin("incident-2024-12-11")
    full, coarse, stream = build_simulator(scenario), build_simulator(scenario), build_simulator(scenario)
    record_with(coarse, RecordingPlan(every_s=10))
    record_with(stream, RecordingPlan(every_s=10, window_s=60))
    seconds = 1200 * scenario.step_s
    for sim in (full, coarse, stream):
        sim.step(seconds)
    a, b = full.result(), coarse.result()
    assert len(b.times) == len(a.times) // 10 and b.step_s == 10 * a.step_s
    recorded = np.arange(9, len(a.times), 10)
    np.testing.assert_array_equal(a.times[recorded], b.times)
    for cluster in a.clusters:
        for gauge in ("process_resident_memory_bytes", "apiserver_request_duration_seconds",
                      "apiserver_flowcontrol_request_wait_duration_seconds", "waveguard_sim_workload_error_ratio"):
            np.testing.assert_array_equal(a.series(gauge, cluster)[recorded], b.series(gauge, cluster))
        for counter in ("apiserver_request_total", "apiserver_flowcontrol_dispatched_requests_total",
                        "coredns_dns_requests_total", "coredns_dns_responses_total"):
            np.testing.assert_allclose(a.series(counter, cluster)[recorded], b.series(counter, cluster), rtol=1e-5)
            assert stream.reader.last(counter, cluster) == pytest.approx(full.reader.last(counter, cluster))
    assert len(stream.reader.times) <= 12 and stream.reader.times[-1] == a.times[-1]  # the window only


@pytest.mark.parametrize("kwargs", [{"every_s": 0}, {"every_s": -10}, {"window_s": 0.0}])
def test_a_recording_plan_needs_positive_figures(kwargs):
    with pytest.raises(ValueError, match="must be > 0"):
        RecordingPlan(**kwargs)


def test_the_recording_is_chosen_before_the_first_step():
    sim = build_simulator(load_builtin("incident-2024-12-11"))
    sim.step()
    with pytest.raises(ValueError, match="before the first step"):
        record_with(sim, RecordingPlan(every_s=10))


def test_a_request_received_only_log_is_measured_in_one_pass(tmp_path, monkeypatch):
    events = [e for e in _agent_log() if e["stage"] == "ResponseComplete"]
    rr_only = write(tmp_path / "rr.log", [{**e, "stage": "RequestReceived"} for e in events])
    full = write(tmp_path / "full.log", _agent_log())
    con = sql.connect("256MB", 1, str(tmp_path))
    assert not sql.later_stages_seen(con, check_paths([rr_only]))
    assert sql.later_stages_seen(con, check_paths([full]))
    passes = []
    real = sql.aggregate
    monkeypatch.setattr(sql, "aggregate", lambda *a, **kw: passes.append(1) or real(*a, **kw))
    m = measure_audit_logs([rr_only])
    assert passes == [1]
    assert any(f"only stage RequestReceived (its policy omits the later stages): {len(events)} requests counted"
               in n for n in m.notes)
    assert ev  # the helpers of test_measure_audit build both logs
    assert AGENT in [c.user for c in m.clients]


def test_analyse_loads_only_its_own_command_and_output():
    """``python -X importtime``: a table from ``analyse`` imports no break-glass command, no
    rollout command and no SARIF writer."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "waveguard.cli.main", "analyse",
                          str(ROOT / "examples" / "incident-telemetry")], capture_output=True, text=True, cwd=ROOT)
    modules = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
    assert "waveguard.analysis.loader" in modules and out.returncode == 1  # analysed: the incident is an error
    for heavy in ("waveguard.cli.breakglass", "waveguard.cli.rollout", "waveguard.cli.simulate",
                  "waveguard.report.sarif", "sarif_pydantic"):
        assert heavy not in modules


def test_the_value_keys_of_the_flat_pass_are_those_of_a_walk_of_the_whole_schema():
    found: set[str] = {"kind", "apiVersion"}

    def walk(node):
        if isinstance(node, list):
            for item in node:
                walk(item)
        if not isinstance(node, dict):
            return
        for name, prop in (node.get("properties") or {}).items():
            items = prop.get("items") if isinstance(prop, dict) else None
            if isinstance(prop, dict) and (schema._VALUE_KEYWORDS & prop.keys()
                                           or isinstance(items, dict) and schema._VALUE_KEYWORDS & items.keys()):
                found.add(name)
        for value in node.values():
            walk(value)

    walk(schema._definitions())
    assert schema._value_keys() == frozenset(found)


def test_a_kinds_first_document_is_validated_without_its_shape_and_the_next_ones_by_shape(monkeypatch):
    """Start-up: a kind's first document is answered without :func:`schema.shape` (nor the schema
    scan behind it); a second document of that kind is shaped and cached; answers are the same."""
    shaped = []
    real_shape = schema.shape
    monkeypatch.setattr(schema, "shape", lambda value, key="": shaped.append(value) or real_shape(value, key))
    monkeypatch.setattr(schema, "_KINDS_SEEN", set())
    monkeypatch.setattr(schema, "_PROBLEMS", {})
    bad = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": 3}}
    assert schema.schema_problem(bad).startswith("metadata.name: 3 is not of type 'string'")
    assert shaped == []
    assert schema.schema_problem({**bad, "metadata": {"name": 4}}).startswith("metadata.name: 4 is not of type")
    assert shaped and len(schema._PROBLEMS) == 1
    assert schema.schema_problem({**bad, "metadata": {"name": "ok"}}) is None
