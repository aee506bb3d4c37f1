"""Bad input found by session 9's new-user trial: each case is one clear line naming the file
(and line) or option and what to do, exit 2, nothing written — never a traceback, never silently
accepted, and a gate or verdict that cannot read its figure never reads it as zero."""

from __future__ import annotations

from pathlib import Path

import pytest

from waveguard.cli.main import app
from tests.conftest import one_line_exit_2

#: One measured profile as ``waveguard measure --output-file`` writes it (the keys it needs).
_PROFILE = """\
- client: DaemonSet/mon/agent
  agent: x
  per_node: true
  namespace: mon
  service_account: agent
{extra}  classes:
  - {{verb: list, resource: pods, scope: cluster, trigger: periodic{cls}}}
"""


@pytest.mark.parametrize(("extra", "cls", "key", "line"), [
    ("", ", rate_per_s: .nan", "classes.0.rate_per_s", 7),
    ("", ", rate_per_s: .inf", "classes.0.rate_per_s", 7),
    ("", ", rate_per_s: -100", "classes.0.rate_per_s", 7),
    ("", ", rate_per_second: 5", "classes.0.rate_per_second", 7),
    ("", ", rate_per_s: 1, limit: -5", "classes.0.limit", 7),
    ("  update_share: .nan\n", ", rate_per_s: 1", "update_share", 6),
    ("  update_share: 5\n", ", rate_per_s: 1", "update_share", 6),
    ("  replicaz: 5\n", ", rate_per_s: 1", "replicaz", 6),
])
def test_a_measured_profile_with_a_bad_figure_is_refused_not_costed_as_free(runner, tmp_path, extra, cls, key,
                                                                          line):
    """A NaN, negative or misspelt rate was read as no load at all: every cluster 'ok', exit 0
    (the projection failed open); NaN update_share was a traceback; +inf printed 'Infinity' in
    JSON. Now one line naming the file, its line and the key."""
    path = tmp_path / "profile.yaml"
    path.write_text(_PROFILE.format(extra=extra, cls=cls))
    out = tmp_path / "analysis.json"
    result = runner.invoke(app, ["analyse", "--profiles", str(path), "-o", "json", "--output-file", str(out)])
    one_line_exit_2(result, f"{path}:{line}:", key)
    assert not out.exists()


def test_a_good_measured_profile_is_still_costed(runner, tmp_path):
    path = tmp_path / "profile.yaml"
    path.write_text(_PROFILE.format(extra="", cls=", rate_per_s: 0.01"))
    result = runner.invoke(app, ["analyse", "--profiles", str(path), "-o", "json"])
    assert result.exit_code == 1, result.output  # a per-node cluster-wide LIST: WG101 error


_PACED = ["--scenario", "incident-2024-12-11", "--signals", "prometheus", "--prometheus-url", "http://127.0.0.1:9",
          "--serve-metrics", "127.0.0.1:19464"]


@pytest.mark.parametrize(("args", "backend", "source", "key"), [
    (["--time-scale", "inf"], None, "command line", "prometheus.time_scale"),
    ([], "prometheus:\n  time_scale: .inf\n", "backend.yaml", "prometheus.time_scale"),
    ([], "prometheus:\n  staleness_intervals: .inf\n", "backend.yaml", "prometheus.staleness_intervals"),
    ([], "dns:\n  latency_threshold_s: .inf\n", "backend.yaml", "dns.latency_threshold_s"),
])
def test_an_infinite_time_scale_or_bound_is_refused_before_the_state_file(runner, tmp_path, incident_plan, args,
                                                                        backend, source, key):
    """--time-scale inf started the rollout (state file written), served the fleet, then raised
    OverflowError in the pacer (a traceback). Infinite figures of the backend's sections are
    refused like NaN ones, before anything is written."""
    extra = []
    if backend is not None:
        (tmp_path / "backend.yaml").write_text(backend)
        extra = ["--backend-config", str(tmp_path / "backend.yaml")]
    state = tmp_path / "s.db"
    result = runner.invoke(app, ["rollout", "start", str(incident_plan), "--state", str(state), *_PACED, *args,
                                 *extra])
    one_line_exit_2(result, str(tmp_path / source) if backend else source, key)
    assert not state.exists()


@pytest.mark.parametrize(("args", "backend", "source", "needle"), [
    (["--time-scale", "nan"], None, "--time-scale", "only used with --signals prometheus"),
    (["--scrape-interval", "5"], None, "--scrape-interval", "only used with --signals prometheus"),
    ([], "prometheus:\n  timeout_s: -5\n", "backend.yaml", "prometheus section is only used with --signals prometheus"),
    ([], "dns:\n  probes: 0\n", "backend.yaml", "dns section is only used with --signals prometheus"),
    ([], "kubernetes:\n  qps: .nan\n", "backend.yaml", "kubernetes section is only used with --target kubernetes"),
])
def test_a_backend_setting_the_simulated_rollout_would_ignore_is_refused(runner, tmp_path, incident_plan, args,
                                                                       backend, source, needle):
    """On the simulated fleet (--signals sim) the backend file's sections and --time-scale were
    dropped unread: timeout_s: -5, an unknown key or NaN passed silently and the rollout ran.
    Refused as --prometheus-url already is there, before the state file."""
    extra = []
    if backend is not None:
        (tmp_path / "backend.yaml").write_text(backend)
        extra = ["--backend-config", str(tmp_path / "backend.yaml")]
    state = tmp_path / "s.db"
    result = runner.invoke(app, ["rollout", "start", str(incident_plan), "--state", str(state), *args, *extra])
    one_line_exit_2(result, str(tmp_path / source) if backend else source, needle)
    assert not state.exists()


def test_dns_probes_for_a_cluster_the_fleet_does_not_have_are_refused(runner, tmp_path, incident_plan):
    """dns.clusters naming no cluster of the fleet (a typo: prod-24-750) was ignored: that
    cluster's DNS gate read CoreDNS's metrics instead of the probes asked for."""
    conf = tmp_path / "backend.yaml"
    conf.write_text("dns:\n  clusters:\n    prod-24-750: {server: 10.0.0.10}\n")
    state = tmp_path / "s.db"
    result = runner.invoke(app, ["rollout", "start", str(incident_plan), "--state", str(state), *_PACED,
                                 "--scrape-interval", "1", "--time-scale", "1000", "--backend-config", str(conf)])
    one_line_exit_2(result, str(conf), "dns.clusters", "prod-24-750")
    assert not state.exists()


def _plan_file(tmp_path) -> Path:
    """A waveguard Plan: it has an apiVersion and a kind, but holds no Kubernetes object."""
    path = tmp_path / "plan.yaml"
    path.write_text("apiVersion: waveguard.io/v1alpha1\nkind: Plan\nchange: x\nwaves: []\n")
    return path


def test_breakglass_check_of_a_change_without_a_service_account_is_bad_input(runner, tmp_path):
    """--change pointed at the plan (or any file without workloads) checked no ServiceAccount
    and printed 'protected', exit 0: the change's cap was never looked at. As generate does, a
    change with nothing to cap is refused."""
    from tests.conftest import EXAMPLES

    isolation = tmp_path / "bg.yaml"
    result = runner.invoke(app, ["breakglass", "generate", str(EXAMPLES / "incident-telemetry"), "--output-file",
                                 str(isolation)])
    assert result.exit_code == 0, result.output
    plan = _plan_file(tmp_path)
    result = runner.invoke(app, ["breakglass", "check", "--manifests", str(isolation), "--change", str(plan)])
    one_line_exit_2(result, str(plan), "no ServiceAccount")
    result = runner.invoke(app, ["breakglass", "check", "--manifests", str(isolation), "--change",
                                 str(EXAMPLES / "incident-telemetry")])
    assert result.exit_code == 0, result.output


def test_breakglass_generate_with_an_existing_file_without_apf_objects_is_bad_input(runner, tmp_path):
    """--existing names what the cluster already has (kubectl get flowschemas,
    prioritylevelconfigurations -o yaml), which always holds the mandatory exempt and catch-all
    objects. A file with none (the plan, a values file) was read as 'no existing objects', so
    name clashes and shadowing FlowSchemas went unchecked, exit 0."""
    from tests.conftest import EXAMPLES

    plan = _plan_file(tmp_path)
    out = tmp_path / "bg.yaml"
    result = runner.invoke(app, ["breakglass", "generate", str(EXAMPLES / "incident-telemetry"), "--existing",
                                 str(plan), "--output-file", str(out)])
    one_line_exit_2(result, str(plan), "no FlowSchema or PriorityLevelConfiguration")
    assert not out.exists()


def test_a_bad_plan_points_at_a_plan_format_that_exists(runner, tmp_path, incident_plan):
    """The hint said 'see the plan format in README.md', which has no plan format, and the
    message kept pydantic's 'Value error, ' prefix. The hint now names docs/rollout.md and the
    plan's JSON Schema (waveguard schema plan)."""
    bad = tmp_path / "plan.yaml"
    bad.write_text(incident_plan.read_text().replace("bake_s: 1260.0", "bake_s: .nan", 1))
    line = one_line_exit_2(runner.invoke(app, ["plan", "--check", str(bad)]), f"{bad}:", "waves.0.bake_s",
                            "waveguard schema plan")
    assert "Value error" not in line and "README" not in line


@pytest.mark.parametrize("version", ["1.x", "latest", "1.30.x"])
def test_a_kubernetes_version_that_is_not_major_minor_says_what_to_give(runner, tmp_path, version):
    """'1.x' was answered with the regular expression it failed (String should match pattern
    '^v?\\d+\\.\\d+(\\.\\d+)?$'), which tells an SRE nothing to type."""
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(f'clusters:\n  - name: a\n    nodes: 100\n    kubernetes_version: "{version}"\n')
    from tests.conftest import EXAMPLES

    result = runner.invoke(app, ["analyse", str(EXAMPLES / "incident-telemetry"), "--fleet", str(fleet)])
    line = one_line_exit_2(result, f"{fleet}:4:", "kubernetes_version", '"1.30"', repr(version))
    assert "pattern" not in line


@pytest.mark.parametrize(("entry", "key"), [
    ("pods: 100000000000000000000", "pods"),
    ("objects: {pods: 100000000000000000000000000}", "objects"),
    ("apiserver_memory_bytes: 1000000000000000000000000000", "apiserver_memory_bytes"),
    ("etcd_memory_bytes: 1000000000000000000000000000", "etcd_memory_bytes"),
    ("apiserver_baseline_memory_bytes: 1000000000000000000000000000", "apiserver_baseline_memory_bytes"),
])
def test_a_fleet_figure_with_a_run_of_extra_zeros_is_refused(runner, tmp_path, entry, key):
    """nodes had a sanity bound, the other counts and sizes none: pods: 1e20 printed a
    projection of 599491214412811333533696 % of the memory limit, and a memory limit of 1e27
    bytes made the incident's agent look free (verdict ok, exit 0)."""
    from tests.conftest import EXAMPLES

    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(f"clusters:\n  - name: a\n    nodes: 100\n    {entry}\n")
    result = runner.invoke(app, ["analyse", str(EXAMPLES / "incident-telemetry"), "--fleet", str(fleet)])
    one_line_exit_2(result, f"{fleet}:4:", key)


def test_plan_with_a_bad_nodes_file_is_one_error_line_and_writes_nothing(runner, tmp_path):
    """A --nodes file naming no node of a planned cluster was refused, but after three lines of
    'note: analyse projects this change to overload…': the error was the fourth line."""
    from tests.conftest import EXAMPLES

    nodes = tmp_path / "nodes.yaml"
    nodes.write_text("nope: [a]\n")
    folder, plan = tmp_path / "gitops", tmp_path / "plan.yaml"
    result = runner.invoke(app, ["plan", str(EXAMPLES / "incident-telemetry"), "--emit-patches", str(folder),
                                 "--nodes", str(nodes), "--output-file", str(plan)])
    one_line_exit_2(result, str(nodes), "names no nodes")
    assert not plan.exists() and not (folder.exists() and any(folder.iterdir()))


def test_a_prometheus_that_does_not_answer_stops_the_paced_rollout_before_it_starts(runner, tmp_path, incident_plan):
    """rollout start --signals prometheus on the simulated fleet with a Prometheus URL where
    nothing listens applied staging, paused on no data and halted only after the plan's 600 s
    no-data timeout (ten minutes of wall time at the default scrape interval). Prometheus is now
    asked once before anything is written, as for real clusters."""
    from tests.prometheus_server import free_port

    state = tmp_path / "s.db"
    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["rollout", "start", str(incident_plan), "--state", str(state), "--scenario",
                                 "incident-2024-12-11", "--signals", "prometheus", "--prometheus-url", url,
                                 "--serve-metrics", f"127.0.0.1:{free_port()}"])
    line = one_line_exit_2(result, "pre-flight", url, "unreachable")
    assert "nothing was written" in line
    assert not state.exists()


def test_a_manifest_bundle_given_as_a_fleet_or_profile_file_is_named_as_such(runner, tmp_path):
    """--fleet or --profiles pointed at a multi-document manifest (the change itself) said
    'malformed YAML: but found another document (fix the YAML syntax)': the YAML is fine, the
    file is the wrong one."""
    from tests.conftest import EXAMPLES

    bundle = EXAMPLES / "incident-telemetry" / "telemetry-agent.yaml"
    for option in ("--fleet", "--profiles"):
        result = runner.invoke(app, ["analyse", str(EXAMPLES / "incident-telemetry"), option, str(bundle)])
        line = one_line_exit_2(result, f"{bundle}:", "several YAML documents")
        assert "malformed" not in line and "fix the YAML syntax" not in line


def test_the_paced_pre_flight_passes_a_prometheus_that_answers_without_the_fleet_yet(tmp_path):
    """The pre-flight of the simulated fleet behind Prometheus asks before the fleet is served:
    an answer without its series (a real Prometheus with nothing scraped yet) passes."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from waveguard.rollout.k8s_preflight import check_prometheus
    from waveguard.signals.prometheus import PrometheusConfig

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": {}, "value": [0, "1"]}]}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET  # noqa: N815

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        check_prometheus(PrometheusConfig(url=f"http://127.0.0.1:{server.server_port}", timeout_s=2), [])
    finally:
        server.shutdown()
