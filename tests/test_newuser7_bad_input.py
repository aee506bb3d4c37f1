"""Bad input found by session 7's new-user trial: each case is one clear line, exit 2, nothing
written — and a gate that cannot judge what it reads fails closed, never open."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from waveguard.cli.main import app

CHANGE = Path("examples/incident-telemetry")


def _plan(runner, tmp_path: Path) -> dict:
    out = tmp_path / "plan.yaml"
    assert runner.invoke(app, ["plan", str(CHANGE), "--output-file", str(out)]).exit_code == 0
    return yaml.safe_load(out.read_text())


@pytest.mark.parametrize(("threshold", "why"), [(".nan", "finite"), ("-1", "greater than or equal to 0")])
def test_a_gate_threshold_that_is_nan_or_negative_is_refused(runner, tmp_path, threshold, why):
    """``value > nan`` is never true: a NaN threshold made a gate pass whatever it read (and
    ``export`` wrote ``result[0] <= nan`` into the AnalysisTemplate). plan --check, export and
    rollout start read plans through the same loader: each refuses it, naming file and line."""
    plan = _plan(runner, tmp_path)
    plan["change"] = str(CHANGE.resolve())
    text = yaml.safe_dump(plan).replace("failures_to_halt: 1\n  kind: apiserver_p99_latency\n",
                                        f"failures_to_halt: 1\n  kind: apiserver_p99_latency\n  threshold: {threshold}\n", 1)
    assert f"threshold: {threshold}" in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    state = tmp_path / "state.db"
    for args in (["plan", "--check", str(bad)], ["export", "argo", "--plan", str(bad)],
                 ["rollout", "start", str(bad), "--state", str(state)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stdout == ""
        assert f"{bad}:" in result.stderr and "gates.0.threshold" in result.stderr and why in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not state.exists()


def test_a_negative_sample_from_prometheus_is_no_data_never_a_pass():
    """A Prometheus (or a proxy in front of it) answering -1 for p99 latency: the gate passed
    (-1 s ≤ 1 s). Every figure a gate reads is ≥ 0, so a negative sample is no data (the
    rollout pauses, ``gate check`` exits 2), and the reason quotes what was answered."""
    import time

    from tests.test_prometheus_signals import StubPrometheus
    from waveguard.rollout.gates import evaluate
    from waveguard.rollout.plan import GateSpec
    from waveguard.signals.prometheus import PrometheusConfig, PrometheusSignals

    answered = [{"metric": {"cluster": "a"}, "value": [time.time(), "-1"]},
                {"metric": {"cluster": "b"}, "value": [time.time(), "0.25"]}]
    p = StubPrometheus(vector=answered)
    try:
        s = PrometheusSignals(PrometheusConfig(url=p.url, scrape_interval_s=30), 30.0)
        assert s.value("apiserver_request_duration_seconds", "a", quantile="0.99", scope="resource") is None
        assert "answered '-1'" in s.explain("a") and "not a reading" in s.explain("a")
        assert s.value("apiserver_request_duration_seconds", "b", quantile="0.99", scope="resource") == 0.25
        result = evaluate(GateSpec(kind="apiserver_p99_latency"), s, "a")
        assert result.status == "no-data"
    finally:
        p.close()


def _isolation(runner, tmp_path: Path) -> list[dict]:
    out = tmp_path / "bg.yaml"
    assert runner.invoke(app, ["breakglass", "generate", str(CHANGE), "--output-file", str(out)]).exit_code == 0
    return [d for d in yaml.safe_load_all(out.read_text()) if d]


def _named(docs: list[dict], kind: str, name: str) -> dict:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


@pytest.mark.parametrize(("mutate", "needle"), [
    (lambda docs: _named(docs, "FlowSchema", "waveguard-break-glass")["spec"].update(matchingPrecedence=-5),
     "spec.matchingPrecedence: -5 is not in [1, 10000]"),
    (lambda docs: _named(docs, "PriorityLevelConfiguration", "waveguard-break-glass")["spec"].update(
        type="Exempt", limited=None), "type must be 'Exempt' if and only if name is 'exempt'"),
    (lambda docs: _named(docs, "PriorityLevelConfiguration", "waveguard-break-glass")["spec"]["limited"][
        "limitResponse"]["queuing"].update(handSize=999), "handSize: must be ≤ queues"),
])
def test_breakglass_check_refuses_objects_the_apiserver_refuses(runner, tmp_path, mutate, needle):
    """An object kube-apiserver refuses is never applied, so it protects nothing: ``check``
    read a break-glass FlowSchema at precedence -5 (winning over everything), a second Exempt
    level or handSize 999 of 1 queue as applied and said 'protected', exit 0. Now: one line
    naming file, line and the apiserver's rule (pkg/apis/flowcontrol/validation), exit 2."""
    docs = _isolation(runner, tmp_path)
    mutate(docs)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump_all(docs))
    result = runner.invoke(app, ["breakglass", "check", "--manifests", str(bad)])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert f"{bad}:" in result.stderr and "kube-apiserver refuses it" in result.stderr and needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_flowschema_at_precedence_0_is_read_at_the_apiservers_default_1000(runner, tmp_path):
    """kube-apiserver stores matchingPrecedence 0 as 1000 (v1 defaults.go): a cap written at 0
    lands behind kube-system-service-accounts (900), so a kube-system agent is not capped —
    check said 'capped' (it read 0 as winning over every default)."""
    from tests.conftest import INPUTS, require_shared

    kube_system_change = require_shared(INPUTS / "realworld" / "kube-router")
    out = tmp_path / "bg.yaml"
    assert runner.invoke(app, ["breakglass", "generate", str(kube_system_change), "--output-file", str(out)]).exit_code == 0
    docs = [d for d in yaml.safe_load_all(out.read_text()) if d]
    caps = [d for d in docs if d["kind"] == "FlowSchema" and d["metadata"]["name"].startswith("waveguard-cap.kube-system.")]
    assert caps
    args = ["breakglass", "check", "--manifests", str(out), "--change", str(kube_system_change)]
    assert runner.invoke(app, args).exit_code == 0
    for cap in caps:
        cap["spec"]["matchingPrecedence"] = 0
    out.write_text(yaml.safe_dump_all(docs))
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "kube-system-service-accounts" in result.stdout


def test_help_never_names_minus_o_as_the_way_to_write_a_file(runner):
    """``-o`` is the output format since the kubectl convention (``--output-file`` writes a
    file); risk's help still said 'Plan file (waveguard plan -o)', which now fails with
    'not an output format'."""
    import re

    result = runner.invoke(app, ["risk", "--help"], env={"COLUMNS": "80"})
    assert "waveguard plan CHANGE --output-file plan.yaml" in result.stdout
    for source in Path("src/waveguard/cli").glob("*.py"):
        assert not re.search(r"waveguard \w+ -o\)", source.read_text()), source


def test_export_of_a_plan_naming_a_gate_twice(runner, tmp_path):
    """A plan listing its gates twice was exported with every metric, MetricTemplate and alert
    name twice (Flagger's second template replaces the first on apply; Argo Rollouts refuses
    duplicate metric names). The same gate twice is exported once; twice with different
    thresholds is a bad plan (the rollout would mix the two: tests/test_newuser10_bad_input.py),
    one line naming the plan, nothing written."""
    plan = _plan(runner, tmp_path)
    plan["change"] = str(CHANGE.resolve())
    same = tmp_path / "same.yaml"
    same.write_text(yaml.safe_dump({**plan, "gates": [dict(g) for g in plan["gates"]] * 2}))
    result = runner.invoke(app, ["export", "flagger", "--plan", str(same)])
    assert result.exit_code == 0, result.output
    names = [d["metadata"]["name"] for d in yaml.safe_load_all(result.stdout) if d]
    assert len(names) == len(set(names)) == 5
    other = [dict(g) for g in plan["gates"]] + [{"kind": "apiserver_p99_latency", "threshold": 2.0}]
    differ = tmp_path / "differ.yaml"
    differ.write_text(yaml.safe_dump({**plan, "gates": other}))
    out = tmp_path / "out"
    out.mkdir()
    result = runner.invoke(app, ["export", "all", "--plan", str(differ), "--output-dir", str(out)])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip() == (f"error: {differ}:4: gates: gates.7 names gate apiserver_p99_latency again, "
                                     "with other settings than gates.0: keep one entry per gate (the plan format: "
                                     "docs/rollout.md, its JSON Schema: waveguard schema plan)")
    assert list(out.iterdir()) == []


def test_the_published_json_schemas_keep_their_numeric_bounds():
    """docs/schemas/*.json wrote bounds of strictly typed fields under pydantic's names (``"ge":
    1``), which no JSON Schema validator reads: ``check-jsonschema --schemafile
    docs/schemas/fleet.json`` (as docs/schemas.md suggests) passed a cluster with 0 apiserver replicas
    or -5 pods that waveguard refuses. Bounds are JSON Schema's ``minimum``/``exclusiveMinimum``/…"""
    import json

    import jsonschema

    from waveguard.report.schemas import SCHEMA_NAMES, json_schema

    fleet = json.loads(Path("docs/schemas/fleet.json").read_text())
    assert fleet == json_schema("fleet")
    check = jsonschema.Draft202012Validator(fleet)
    assert check.is_valid({"clusters": [{"name": "a", "nodes": 10}]})
    assert not check.is_valid({"clusters": [{"name": "a", "nodes": 10, "apiserver_replicas": 0}]})
    assert not check.is_valid({"clusters": [{"name": "a", "nodes": 10, "pods": -5}]})

    def pydantic_bounds(node) -> list:
        if isinstance(node, dict):
            here = [k for k in ("ge", "gt", "le", "lt") if k in node and node.get("type") in ("number", "integer")]
            return here + [b for v in node.values() for b in pydantic_bounds(v)]
        return [b for v in node for b in pydantic_bounds(v)] if isinstance(node, list) else []

    assert {name: pydantic_bounds(json_schema(name)) for name in SCHEMA_NAMES} == {name: [] for name in SCHEMA_NAMES}
