"""Bad input found by session 8's new-user trial: each case is one clear line naming the file
(and line) and what to do, exit 2, nothing written — never a traceback, never silently accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from waveguard.cli.main import app


def _small(two_cluster_scenario, *, events: str = "") -> str:
    """Clusters a (100 nodes) and b (400), 120 s: the change reaches a at 10 s, b at 30 s."""
    return two_cluster_scenario(
        "small", "    - name: a\n      nodes: 100\n    - name: b\n      nodes: 400\n",
        "  - cluster: a\n    at_s: 10\n  - clusters: [b]\n    at_s: 30\n", duration_s=120, seed=1, events=events)


def _one_line_exit_2(result, path: Path, *keys: str) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert f"{path}:" in lines[0] and all(k in lines[0] for k in keys), lines[0]
    return lines[0]


def test_a_step_too_small_for_the_duration_is_one_line_not_a_memory_error(runner, tmp_path, two_cluster_scenario):
    """step_s: 0.0000001 over 120 s is 1.2e9 steps: the recorder preallocated a frame per step
    and numpy raised MemoryError (a traceback asking for TiB). The steps are bounded as the
    duration is: no more than a week of one-second steps."""
    path = tmp_path / "tiny.yaml"
    path.write_text(_small(two_cluster_scenario).replace("seed: 1", "seed: 1\nstep_s: 0.0000001"))
    line = _one_line_exit_2(runner.invoke(app, ["simulate", str(path)]), path, "step_s")
    assert "step" in line and "604,800" in line


def test_a_step_that_fits_the_bound_still_runs(runner, tmp_path, two_cluster_scenario):
    path = tmp_path / "fine.yaml"
    path.write_text(_small(two_cluster_scenario).replace("seed: 1", "seed: 1\nstep_s: 0.5"))
    result = runner.invoke(app, ["simulate", str(path)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("mutate", "key"), [
    (lambda s: s.replace("    at_s: 30", "    at_s: 500"), "schedule.1.at_s"),
    (lambda s: s, "events.0.at_s"),
])
def test_a_schedule_step_or_event_after_the_end_is_refused(runner, tmp_path, two_cluster_scenario, mutate, key):
    """An event or a schedule step at 500 s of a 120 s scenario never happens: the run read as
    if the apiserver restart (or the rollout to b) had been survived. It is refused, naming the
    key's line and the duration."""
    events = "  - at_s: 500\n    restart_apiserver: {cluster: a, replica: 0}\n" if key.startswith("events") else ""
    text = mutate(_small(two_cluster_scenario, events=events))
    path = tmp_path / "late.yaml"
    path.write_text(text)
    line = _one_line_exit_2(runner.invoke(app, ["simulate", str(path)]), path, key, "duration_s")
    wanted = text.splitlines().index("  - at_s: 500" if key.startswith("events") else "    at_s: 500") + 1
    assert f"{path}:{wanted}:" in line


_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: agent, namespace: obs}
spec:
  replicas: REPLICAS
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      serviceAccountName: agent
      containers: [{name: agent, image: example/agent:1}]
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
subjects: [{kind: ServiceAccount, name: agent, namespace: obs}]
"""


@pytest.mark.parametrize("replicas", ["-3", "100000000000000000000", "2147483648"])
def test_replicas_the_api_server_refuses_are_bad_input(runner, tmp_path, replicas):
    """replicas: -3 was analysed as -3 replicas (an 'info' finding), 1e20 projected
    8602914389799636992% of a level's seats: kube-apiserver refuses both (apps/v1 replicas is an
    int32 that validation requires ≥ 0), so analyse does, naming the file, line and field."""
    path = tmp_path / "agent.yaml"
    path.write_text(_DEPLOYMENT.replace("REPLICAS", replicas))
    out = tmp_path / "findings.json"
    result = runner.invoke(app, ["analyse", str(path), "-o", "json", "--output-file", str(out)])
    _one_line_exit_2(result, path, "Deployment/obs/agent", "spec.replicas", replicas)
    assert not out.exists()


@pytest.mark.parametrize("replicas", ["0", "2147483647"])
def test_replicas_within_int32_are_analysed(runner, tmp_path, replicas):
    path = tmp_path / "agent.yaml"
    path.write_text(_DEPLOYMENT.replace("REPLICAS", replicas))
    result = runner.invoke(app, ["analyse", str(path)])
    assert result.exit_code in (0, 1), result.output


def test_two_outputs_on_one_file_are_refused_before_any_work(runner, tmp_path, two_cluster_scenario):
    """--output-file X --metrics-out X (or --report X --metrics-out X) ran, wrote both, and the
    last write replaced the other without a word: one line, exit 2, neither written."""
    scenario = tmp_path / "small.yaml"
    scenario.write_text(_small(two_cluster_scenario))
    same = tmp_path / "same.txt"
    for first in ("--output-file", "--report"):
        result = runner.invoke(app, ["simulate", str(scenario), first, str(same), "--metrics-out", str(same)])
        line = _one_line_exit_2(result, same, first, "--metrics-out")
        assert "same file" in line and not same.exists()


def test_an_output_that_is_an_input_is_refused(runner, tmp_path):
    """analyse x.yaml --output-file x.yaml replaced the manifests with their findings; measure
    --audit-log a.log --output-file a.log the audit log with its profiles."""
    manifest = tmp_path / "agent.yaml"
    manifest.write_text(_DEPLOYMENT.replace("REPLICAS", "1"))
    before = manifest.read_text()
    result = runner.invoke(app, ["analyse", str(manifest), "--output-file", str(manifest)])
    assert "input" in _one_line_exit_2(result, manifest, "--output-file")
    assert manifest.read_text() == before
    log = tmp_path / "audit.log"
    log.write_text('{"kind":"Event","apiVersion":"audit.k8s.io/v1"}\n')
    result = runner.invoke(app, ["measure", "--audit-log", str(log), "--output-file", str(log)])
    assert "input" in _one_line_exit_2(result, log, "--output-file")


def test_plan_check_refuses_what_it_would_ignore(runner, tmp_path):
    """plan CHANGE --check PLAN checked PLAN and ignored CHANGE; plan --check PLAN --output-file
    F wrote nothing to F: each is one line naming both, exit 2."""
    plan = tmp_path / "plan.yaml"
    assert runner.invoke(app, ["plan", "examples/incident-telemetry", "--output-file", str(plan)]).exit_code == 0
    both = runner.invoke(app, ["plan", "examples/incident-telemetry", "--check", str(plan)])
    assert both.exit_code == 2 and "--check" in both.output and "CHANGE" in both.output, both.output
    out = tmp_path / "out.yaml"
    written = runner.invoke(app, ["plan", "--check", str(plan), "--output-file", str(out)])
    assert written.exit_code == 2 and "--output-file" in written.output, written.output
    assert not out.exists()


def test_measure_metrics_table_fits_80_columns_and_cuts_no_name(runner, monkeypatch):
    """At 80 columns measure --metrics folded every cell mid-word ('bytes/objec' over 't',
    'certificate' / 'signingrequ' / 'ests'): the table fits the width and every resource and
    group name stands whole on a line."""
    from rich.cells import cell_len

    from tests.conftest import APISERVER_METRICS, require_shared

    monkeypatch.setenv("COLUMNS", "80")
    result = runner.invoke(app, ["measure", "--metrics", str(require_shared(APISERVER_METRICS))], terminal_width=80)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(cell_len(line) for line in lines) <= 80
    words = " ".join(line.replace("│", " ").replace("┃", " ") for line in lines).split()
    for name in ("certificatesigningrequests", "(rbac.authorization.k8s.io)", "(apiregistration.k8s.io)", "configmaps"):
        assert name in words, name


@pytest.mark.parametrize("namespace", ["Bad_NS!", "", "a" * 64, "monitoring.svc"])
def test_export_refuses_a_namespace_kubernetes_refuses(runner, tmp_path, namespace):
    """export --namespace 'Bad_NS!' wrote an AnalysisTemplate kubectl apply refuses (a namespace
    is a DNS-1123 label); the option is checked before anything is written."""
    out = tmp_path / "argo.yaml"
    result = runner.invoke(app, ["export", "argo", "--namespace", namespace, "--output-file", str(out)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "--namespace" in lines[0] and "DNS-1123" in lines[0], lines
    assert not out.exists()


def test_export_takes_a_valid_namespace(runner):
    result = runner.invoke(app, ["export", "argo", "--namespace", "monitoring"])
    assert result.exit_code == 0 and "namespace: monitoring" in result.stdout


@pytest.mark.parametrize("change", ["/nonexistent/manifests", "broken.yaml"])
def test_plan_check_refuses_a_plan_whose_change_rollout_start_refuses(runner, tmp_path, change):
    """plan --check passed (exit 0) a plan whose change is missing or malformed; rollout start
    then refused the same file. The check reads the change as rollout start does."""
    plan = tmp_path / "plan.yaml"
    assert runner.invoke(app, ["plan", "examples/incident-telemetry", "--output-file", str(plan)]).exit_code == 0
    (tmp_path / "broken.yaml").write_text("apiVersion: v1\nkind: [\n")
    text = plan.read_text()
    import re

    plan.write_text(re.sub(r"(?m)^change: .*$", f"change: {change}", text))
    result = runner.invoke(app, ["plan", "--check", str(plan)])
    assert result.exit_code == 2, result.output
    assert f"{plan}" in result.stderr and "change" in result.stderr and result.stdout == ""


@pytest.mark.parametrize(("args", "flag"), [
    (["analyse", "examples/incident-telemetry", "--sarif-base", "."], "--sarif-base"),
    (["analyse", "examples/incident-telemetry", "-o", "json", "--sarif-category", "infra"], "--sarif-category"),
    (["analyse", "examples/incident-telemetry", "-o", "sarif", "--sarif-base", "/nonexistent/repo"], "--sarif-base"),
    (["plan", "examples/incident-telemetry", "--nodes", "examples/incident-telemetry/telemetry-agent.yaml"], "--nodes"),
    (["plan", "examples/incident-telemetry", "--risk-samples", "5"], "--risk-samples"),
])
def test_an_option_that_would_be_ignored_is_refused(runner, args, flag):
    """--sarif-base/--sarif-category without -o sarif, --nodes without --emit-patches and
    --risk-samples without --risk-budget did nothing, silently; a --sarif-base that does not
    exist made every SARIF location relative to it. One line naming the option, exit 2."""
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and flag in lines[0] and result.stdout == "", lines


@pytest.mark.parametrize(("args", "words"), [
    (["--builtin", "relist-storm", "scenario.yaml"], "not both"),
    (["--list", "--builtin", "relist-storm"], "--list"),
])
def test_simulate_says_which_of_its_exclusive_options_clash(runner, args, words):
    """simulate SCENARIO --builtin NAME said 'give a SCENARIO.yaml or --builtin NAME' as if
    neither had been given; --list --builtin NAME listed and ignored the name."""
    result = runner.invoke(app, ["simulate", *args])
    assert result.exit_code == 2 and words in result.output and result.stdout == "", result.output


@pytest.mark.parametrize("value", ['"150%"', "-3", '"abc"', '"5"', '"-10%"'])
def test_a_max_unavailable_kube_apiserver_refuses_is_bad_input(runner, tmp_path, value):
    """maxUnavailable "150%" made WG106 say the update 'restarts 150% of the agents at once
    (11,250 on prod-24-7500)'; -3 and "abc" silently made no WG106 at all. kube-apiserver
    refuses each (an int ≥ 0 or an integer percentage ≤ 100%), so analyse does, in one line."""
    text = Path("examples/incident-telemetry/telemetry-agent.yaml").read_text()
    assert "maxUnavailable: 1\n" in text
    path = tmp_path / "agent.yaml"
    path.write_text(text.replace("maxUnavailable: 1\n", f"maxUnavailable: {value}\n"))
    _one_line_exit_2(runner.invoke(app, ["analyse", str(path)]), path, "maxUnavailable")


@pytest.mark.parametrize("value", ['"50%"', '"100%"', "0", "3"])
def test_a_valid_max_unavailable_is_analysed(runner, tmp_path, value):
    text = Path("examples/incident-telemetry/telemetry-agent.yaml").read_text()
    path = tmp_path / "agent.yaml"
    path.write_text(text.replace("maxUnavailable: 1\n", f"maxUnavailable: {value}\n"))
    assert runner.invoke(app, ["analyse", str(path)]).exit_code == 1  # the incident's WG101 error


@pytest.mark.parametrize("stamp, words", [
    ("2999-01-01T00:00:00Z", "after now"),
    ("1817-01-01T00:00:00Z", "before audit.k8s.io existed"),
    ("banana", "'banana' is not an RFC 3339 time"),
    (5, "'5' is not an RFC 3339 time"),
])
def test_measure_refuses_a_timestamp_that_would_stretch_the_span(runner, tmp_path, stamp, words):
    """One event stamped 2999 (or 1817) stretched the log's span to ~31 billion seconds, so every
    client's rate came out ~1e-10/s and the written profile read as harmless; 'banana' was
    counted silently. Every rate is requests over the span: such a stamp is one line, exit 2,
    nothing written."""
    import json

    from tests.conftest import INPUTS, require_shared

    audit_log = INPUTS / "audit" / "audit2rbac-demo-v1.jsonl"
    lines = require_shared(audit_log).read_text().splitlines()
    event = json.loads(lines[0]) | {"timestamp": stamp, "stageTimestamp": stamp, "auditID": "stray"}
    log, out = tmp_path / "audit.jsonl", tmp_path / "profile.yaml"
    log.write_text("\n".join([*lines, json.dumps(event)]) + "\n")
    result = runner.invoke(app, ["measure", "--audit-log", str(log), "--output-file", str(out)])
    _one_line_exit_2(result, log, words)
    assert not out.exists()
    good = runner.invoke(app, ["measure", "--audit-log", str(audit_log)])
    assert good.exit_code == 0, good.output  # the published log (2017-09-11) is within the bounds
