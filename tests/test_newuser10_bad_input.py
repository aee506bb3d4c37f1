"""Bad input found by session 10's new-user trial: each case is one clear line naming the file
(and line) and what to do, exit 2, nothing written — never a traceback, and never a file whose
figures would silently weaken a gate or make a change look free."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import EXAMPLES
from waveguard.cli.main import app
from tests.conftest import one_line_exit_2

#: A three-cluster fleet (staging and two production clusters): plans over it roll out in seconds.
_FLEET = """\
clusters:
  - {name: stg, labels: {env: staging}, nodes: 20}
  - {name: p1, labels: {env: prod}, nodes: 100}
  - {name: p2, labels: {env: prod}, nodes: 300}
"""


@pytest.fixture
def small_plan(runner, tmp_path) -> tuple[Path, dict]:
    """(the fleet file, the plan ``waveguard plan`` writes for the incident's change over it)."""
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(_FLEET)
    plan = tmp_path / "plan.yaml"
    result = runner.invoke(app, ["plan", str(EXAMPLES / "incident-telemetry"), "--fleet", str(fleet),
                                 "--output-file", str(plan)])
    assert result.exit_code == 0, result.output
    return fleet, yaml.safe_load(plan.read_text())


def test_a_gate_listed_twice_with_other_settings_is_refused_not_mixed(runner, tmp_path, small_plan):
    """A second projection entry (threshold 100, failures_to_halt 1000) beside the planned one
    passed plan --check, and the rollout mixed them: the first entry's threshold, the last one's
    failures_to_halt — on the built-in fleet the incident's DaemonSet reached 10 % of production
    and took its apiservers down instead of halting before the first production wave."""
    fleet, plan = small_plan
    plan["gates"] += [{"kind": "projection", "threshold": 100.0, "failures_to_halt": 1000}]
    path = tmp_path / "twice.yaml"
    path.write_text(yaml.safe_dump(plan))
    state = tmp_path / "s.db"
    for args in (["plan", "--check", str(path)], ["rollout", "start", str(path), "--state", str(state)]):
        result = runner.invoke(app, [*args, "--fleet", str(fleet)])
        one_line_exit_2(result, f"{path}:", "gates.7 names gate projection again", "gates.6", "keep one")
    assert not state.exists()


def test_the_same_gate_twice_alike_is_one_gate(runner, tmp_path, small_plan):
    fleet, plan = small_plan
    plan["gates"] += [dict(plan["gates"][0])]
    path = tmp_path / "alike.yaml"
    path.write_text(yaml.safe_dump(plan))
    result = runner.invoke(app, ["plan", "--check", str(path), "--fleet", str(fleet)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("extra", "key"), [
    ("apiserver_replicas: 50000000", "apiserver_replicas"),
    ("etcd_read_bytes_per_s: 1.0e+30", "etcd_read_bytes_per_s"),
])
def test_a_capacity_with_a_run_of_extra_zeros_is_refused_not_read_as_free(runner, tmp_path, extra, key):
    """apiserver_replicas: 50000000 (a typo for 5) was read: its seats took the incident's
    7,500-node cluster from overload to ok, exit 0. Capacities are bounded like nodes and memory."""
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(f"clusters:\n  - name: big\n    nodes: 7500\n    {extra}\n")
    result = runner.invoke(app, ["analyse", str(EXAMPLES / "incident-telemetry"), "--fleet", str(fleet)])
    one_line_exit_2(result, f"{fleet}:4: clusters.0.{key}", "less than or equal to")


def test_the_largest_capacities_within_the_bounds_are_read(runner, tmp_path):
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("clusters:\n  - {name: big, nodes: 7500, apiserver_replicas: 1000, "
                     "etcd_read_bytes_per_s: 187500000000}\n")
    result = runner.invoke(app, ["analyse", str(EXAMPLES / "incident-telemetry"), "--fleet", str(fleet)])
    assert result.exit_code in (0, 1), result.output


@pytest.mark.parametrize(("backend", "args"), [
    ("prometheus: [1, 2]\n", []),
    ("prometheus: 5\n", []),
    ("dns: [1]\n", []),
    ("kubernetes: x\n", ["--target", "kubernetes"]),
])
def test_a_backend_section_that_is_no_mapping_is_one_line_not_a_traceback(runner, tmp_path, small_plan, backend,
                                                                           args):
    """``prometheus: [1, 2]`` (or a number, or ``kubernetes: x``) in --backend-config was a
    TypeError traceback from dict(); ``dns: [1]`` named pydantic's class (DNSConfig)."""
    fleet, plan = small_plan
    path = tmp_path / "plan.yaml"
    conf = tmp_path / "backend.yaml"
    conf.write_text(backend)
    state = tmp_path / "s.db"
    result = runner.invoke(app, ["rollout", "start", str(path), "--fleet", str(fleet), "--state", str(state),
                                 "--signals", "prometheus", "--prometheus-url", "http://127.0.0.1:9",
                                 "--backend-config", str(conf), *args])
    one_line_exit_2(result, f"{conf}:1: {backend.split(':')[0]}: expected a mapping of settings")
    assert not state.exists()


@pytest.mark.parametrize("endpoints", ["[10.0.0.1, 10.0.0.1]", "['::1', '0:0::1']"])
def test_an_apiserver_endpoint_listed_twice_is_refused(runner, tmp_path, endpoints):
    """breakglass kubeconfig wrote two contexts and two clusters of one name for an address
    listed twice (kubectl keeps one of them, silently)."""
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(f"clusters:\n  - name: a\n    nodes: 10\n    apiserver_endpoints: {endpoints}\n")
    out = tmp_path / "bg.kubeconfig"
    result = runner.invoke(app, ["breakglass", "kubeconfig", "--fleet", str(fleet), "--output-file", str(out)])
    one_line_exit_2(result, f"{fleet}:4: clusters.0.apiserver_endpoints", "listed twice")
    assert not out.exists()


def test_a_plan_whose_change_is_an_empty_path_is_refused(runner, tmp_path, small_plan, monkeypatch):
    """``change: ""`` was read as the current folder, whole: the error named some other file
    there (a binary one, say), or the rollout took whatever manifests the folder held."""
    fleet, plan = small_plan
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump({**plan, "change": ""}))
    monkeypatch.chdir(EXAMPLES / "incident-telemetry")
    state = tmp_path / "s.db"
    for args in (["plan", "--check", str(path)], ["rollout", "start", str(path), "--state", str(state)]):
        result = runner.invoke(app, [*args, "--fleet", str(fleet)])
        one_line_exit_2(result, f"{path}:", "change: the change's path is empty")
    assert not state.exists()


@pytest.mark.parametrize(("text", "where"), [
    ("change: ''\n", "change.manifests.0: no file or folder ''"),
    ("change: {manifests: []}\n", "change.manifests: List should have at least 1 item"),
    ("fleet: ''\n", "fleet: no fleet file ''"),
])
def test_a_scenario_path_that_is_empty_is_refused(runner, tmp_path, text, where):
    """A scenario's ``change: ''`` or ``fleet: ''`` read the scenario's own folder (an error
    about another file there, or '.: cannot read fleet file: it is a folder'); ``manifests: []``
    was 'error: : no .yaml/.yml/.json manifests found', naming no file."""
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe")
    path = tmp_path / "scenario.yaml"
    path.write_text(f"name: x\nduration_s: 60\n{text}")
    result = runner.invoke(app, ["simulate", str(path)])
    one_line_exit_2(result, f"{path}:3: {where}")


@pytest.mark.parametrize(("extra", "cls", "key", "line"), [
    ("", ", rate_per_s: true", "classes.0.rate_per_s", 7),
    ("", ", rate_per_s: 1, limit: true", "classes.0.limit", 7),
    ("  replicas: true\n", ", rate_per_s: 1", "replicas", 6),
    ("  update_share: true\n", ", rate_per_s: 1", "update_share", 6),
])
def test_a_boolean_for_a_measured_profile_figure_is_refused(runner, tmp_path, extra, cls, key, line):
    """``rate_per_s: true`` was costed as 1 request/s and ``replicas: true`` as one replica, as
    pydantic's lax mode reads them; fleet, plan and scenario figures already refused booleans."""
    path = tmp_path / "profile.yaml"
    path.write_text("- client: Deployment/mon/agent\n  agent: x\n  per_node: false\n  namespace: mon\n"
                    f"  service_account: agent\n{extra}  classes:\n"
                    f"  - {{verb: list, resource: pods, scope: cluster, trigger: periodic{cls}}}\n")
    result = runner.invoke(app, ["analyse", "--profiles", str(path), "-o", "json"])
    message = one_line_exit_2(result, f"{path}:{line}: profile 0: {key}: expected a number, got the boolean true")
    assert "Value error" not in message


@pytest.mark.parametrize(("gate", "failures", "needle"), [
    ("projection", 2, "the projection is evaluated once, before each wave is applied, so 2 failures never accrue"),
    ("apiserver_p99_latency", 43, "43 failures never accrue in wave 'staging', which evaluates the gate 42 times "
                                  "(bake_s 1260 / gate_interval_s 30): give at most 42"),
])
def test_a_failures_to_halt_no_wave_can_reach_is_refused(runner, tmp_path, small_plan, gate, failures, needle):
    """The projection runs once before each wave's apply: with failures_to_halt: 2 its failure
    was never enough, and on the built-in fleet the incident's DaemonSet was applied to 10 % of
    production and took its apiservers down (plan --check: no finding). A bake gate whose
    failures_to_halt exceeds its evaluations in a bake (100, read as a percentage) never halts."""
    fleet, plan = small_plan
    index = next(i for i, g in enumerate(plan["gates"]) if g["kind"] == gate)
    plan["gates"][index]["failures_to_halt"] = failures
    path = tmp_path / "never.yaml"
    path.write_text(yaml.safe_dump(plan))
    state = tmp_path / "s.db"
    for args in (["plan", "--check", str(path)], ["rollout", "start", str(path), "--state", str(state)]):
        result = runner.invoke(app, [*args, "--fleet", str(fleet)])
        one_line_exit_2(result, f"{path}:", f"gates.{index}.failures_to_halt: {needle}")
    assert not state.exists()


def test_a_failures_to_halt_every_bake_can_reach_is_taken(runner, tmp_path, small_plan):
    fleet, plan = small_plan
    plan["gates"][0]["failures_to_halt"] = 42  # 1260 s / 30 s: the last evaluation at the bake's end
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    result = runner.invoke(app, ["plan", "--check", str(path), "--fleet", str(fleet)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("text", "what"), [("", "an empty file"), ("- a\n- b\n", "a list"),
                                            ("just text\n", "a single value")])
def test_a_plan_file_that_is_no_mapping_says_so(runner, tmp_path, text, what):
    """An empty, list or scalar plan file was '(top level): Input should be a valid dictionary
    or instance of Plan' (pydantic's words, and the empty file named no line)."""
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    result = runner.invoke(app, ["plan", "--check", str(path)])
    one_line_exit_2(result, f"{path}:1: is {what}, not a plan", "waveguard plan CHANGE --output-file plan.yaml")


def test_a_node_name_kubectl_would_refuse_is_refused_before_the_patches(runner, tmp_path):
    """plan --emit-patches --nodes wrote label patches for a node named 'Bad Name!', which
    kubectl (or Argo CD) refuses when the wave is applied; now the nodes file is refused."""
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(_FLEET)
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text("stg: [n1]\np1: ['Bad Name!', b]\np2: [ip-10-0-0-1.ec2.internal]\n")
    out, plan = tmp_path / "gitops", tmp_path / "plan.yaml"
    result = runner.invoke(app, ["plan", str(EXAMPLES / "incident-telemetry"), "--fleet", str(fleet),
                                 "--emit-patches", str(out), "--nodes", str(nodes), "--output-file", str(plan)])
    one_line_exit_2(result, f"{nodes}: cluster 'p1': 'Bad Name!' is not a node name")
    assert not out.exists() and not plan.exists()
    nodes.write_text("stg: [n1]\np1: [a, b]\np2: [ip-10-0-0-1.ec2.internal]\n")
    result = runner.invoke(app, ["plan", str(EXAMPLES / "incident-telemetry"), "--fleet", str(fleet),
                                 "--emit-patches", str(out), "--nodes", str(nodes), "--output-file", str(plan)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("gate", "threshold"), [("workload_error_rate", 5), ("dns_probe", 1)])
def test_a_share_gate_threshold_its_figure_never_exceeds_is_refused(runner, tmp_path, small_plan, gate, threshold):
    """``{kind: workload_error_rate, threshold: 5}`` (5 %, written as a percentage) passed plan
    --check: a share of requests is never above 5, so the gate passed whatever it read."""
    fleet, plan = small_plan
    plan["gates"] = [g for g in plan["gates"] if g["kind"] != gate] + [{"kind": gate, "threshold": threshold}]
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    result = runner.invoke(app, ["plan", "--check", str(path), "--fleet", str(fleet)])
    one_line_exit_2(result, f"{path}:", f"threshold {threshold}: {gate} reads a share (0 to 1)",
                     f"({threshold} % is {threshold / 100:g})")
    plan["gates"][-1]["threshold"] = 0.05
    path.write_text(yaml.safe_dump(plan))
    assert runner.invoke(app, ["plan", "--check", str(path), "--fleet", str(fleet)]).exit_code == 0


_APF = """\
apf:
  levels:
    - {name: exempt, exempt: true}
    - {name: catch-all, shares: 5}
    - {name: workload-low%s}
  flow_schemas:
    - {name: exempt, precedence: 1, priority_level: exempt, groups: ['system:masters']}
    - {name: sa, precedence: %s, priority_level: workload-low, groups: ['system:serviceaccounts']}
    - {name: catch-all, precedence: 10000, priority_level: catch-all, users: ['*']}
"""


@pytest.mark.parametrize(("level", "precedence", "where"), [
    ("", "-3", "apf.flow_schemas.1.precedence: Input should be greater than or equal to 1"),
    ("", "20000", "apf.flow_schemas.1.precedence: Input should be less than or equal to 10000"),
    (", lendable_percent: 500", "9000", "apf.levels.2.lendable_percent: Input should be less than or equal to 100"),
    (", queue_length_limit: -1", "9000", "apf.levels.2.queue_length_limit"),
    (", queue_length_limit: 0", "9000", "apf.levels.2: a level with queues needs hand_size and queue_length_limit"),
    (", queues: 2, hand_size: 8", "9000", "apf.levels.2: hand_size 8 is more than queues 2"),
    (", queues: 128, hand_size: 9", "9000", "apf.levels.2: queues 128 and hand_size 9 need more than 60 bits"),
    (", lendable_percent: true", "9000", "apf.levels.2.lendable_percent: expected a number, got the boolean true"),
])
def test_a_scenario_apf_object_the_apiserver_would_refuse_is_refused(runner, tmp_path, two_cluster_scenario,
                                                                     level, precedence, where):
    """A scenario's APF objects were read as written: lendable_percent 500 lent seats the level
    does not have, precedence -3 or 20000, hand_size over queues and a negative queue length
    simulated objects kube-apiserver refuses (shares: -5 was a traceback in the seat arithmetic)."""
    clusters = "    - {name: a, nodes: 100}\n"
    text = two_cluster_scenario("apf", clusters, "  - {cluster: a, at_s: 5}\n", duration_s=30, seed=1)
    path = tmp_path / "scenario.yaml"
    path.write_text(text + _APF % (level, precedence))
    result = runner.invoke(app, ["simulate", str(path)])
    one_line_exit_2(result, f"{path}:", where)


@pytest.mark.parametrize("apf", [
    _APF % (", shares: -5", "9000"),
    _APF % ("", "9000") + "    - {name: sa, precedence: 500, priority_level: exempt, users: ['*']}\n",
])
def test_negative_shares_or_a_name_given_twice_is_one_line_not_a_traceback(runner, tmp_path, two_cluster_scenario,
                                                                          apf):
    clusters = "    - {name: a, nodes: 100}\n"
    path = tmp_path / "scenario.yaml"
    path.write_text(two_cluster_scenario("apf", clusters, "  - {cluster: a, at_s: 5}\n", duration_s=30, seed=1) + apf)
    result = runner.invoke(app, ["simulate", str(path)])
    one_line_exit_2(result, f"{path}:", "apf.")


def test_a_valid_scenario_apf_is_simulated(runner, tmp_path, two_cluster_scenario):
    clusters = "    - {name: a, nodes: 100}\n"
    path = tmp_path / "scenario.yaml"
    path.write_text(two_cluster_scenario("apf", clusters, "  - {cluster: a, at_s: 5}\n", duration_s=30, seed=1)
                    + _APF % (", queues: 0", "9000"))
    assert runner.invoke(app, ["simulate", str(path)]).exit_code == 0


@pytest.mark.parametrize("args", [["export", "argo"], ["gate", "check", "--cluster", "x"]])
def test_a_prometheus_url_that_is_no_url_names_the_option(runner, args):
    """export said 'error: --url: Value error, must be http(s)://…' (a field name, not the
    option, and pydantic's prefix); gate check said 'Value error, ' too."""
    result = runner.invoke(app, [*args, "--prometheus-url", "notaurl"])
    assert one_line_exit_2(result, "--prometheus-url: must be http(s)://HOST[:PORT][/prefix]")
