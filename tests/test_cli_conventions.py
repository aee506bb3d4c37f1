"""Issue 15, item 1: one output convention (-o FORMAT, --output-file FILE) with the old spellings
kept for one release, a format version on every JSON document, durations, environment variables,
shell completion and the kubectl plugin, checked as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.k8s_stub import apiservers_fixture  # noqa: F401  (the stub apiserver fixture)
from waveguard.cli.common import API_VERSION
from waveguard.cli.main import app
from waveguard.model.durations import go_duration_s, parse_duration_s
from waveguard.report.schemas import SCHEMA_NAMES, json_schema

ROOT = Path(__file__).resolve().parents[1]
INCIDENT = str(ROOT / "examples" / "incident-telemetry")
DEPRECATED = "deprecated and goes in the next release"


def test_api_version_is_the_one_the_schemas_name():
    assert API_VERSION == "waveguard.io/v1alpha1"
    assert json_schema("analysis")["properties"]["apiVersion"]["const"] == API_VERSION


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_analyse_documents_carry_api_version_and_kind_and_match_their_schema(runner, fmt):
    result = runner.invoke(app, ["analyse", INCIDENT, "-o", fmt])
    assert result.exit_code == 1, result.output  # the incident's change has error findings
    doc = json.loads(result.stdout) if fmt == "json" else yaml.safe_load(result.stdout)
    assert (doc["apiVersion"], doc["kind"]) == (API_VERSION, "Analysis")
    jsonschema.validate(doc, json_schema("analysis"))
    assert result.stderr == ""


def test_output_file_holds_what_stdout_would_and_nothing_goes_to_stdout(runner, tmp_path):
    out = tmp_path / "a.json"
    result = runner.invoke(app, ["analyse", INCIDENT, "-o", "json", "--output-file", str(out)])
    assert result.exit_code == 1 and result.stdout == ""
    assert json.loads(out.read_text()) == json.loads(runner.invoke(app, ["analyse", INCIDENT, "-o", "json"]).stdout)
    table = tmp_path / "a.txt"
    assert runner.invoke(app, ["analyse", INCIDENT, "--output-file", str(table)]).exit_code == 1
    assert "Findings" in table.read_text() and "\x1b[" not in table.read_text()  # no colour codes in files


@pytest.mark.parametrize(("old", "new", "note"), [
    (["analyse", INCIDENT, "--format", "json"], ["analyse", INCIDENT, "-o", "json"], "use -o json"),
    (["analyse", INCIDENT, "--format", "sarif"], ["analyse", INCIDENT, "-o", "sarif"], "use -o sarif"),
    (["breakglass", "check", "--manifests", INCIDENT, "--format", "text"],
     ["breakglass", "check", "--manifests", INCIDENT], "use -o table"),
])
def test_old_format_spellings_print_the_same_with_one_note(runner, old, new, note):
    before, after = runner.invoke(app, old), runner.invoke(app, new)
    assert before.exit_code == after.exit_code
    assert before.stdout == after.stdout
    (line,) = before.stderr.strip().splitlines()
    assert DEPRECATED in line and note in line


def test_old_json_flag_and_o_file_still_work_with_a_note(runner, tmp_path):
    plan = tmp_path / "plan.yaml"
    result = runner.invoke(app, ["plan", INCIDENT, "-o", str(plan)])
    assert result.exit_code == 0, result.output
    assert f"use --output-file {plan}" in result.stderr and DEPRECATED in result.stderr
    assert yaml.safe_load(plan.read_text())["kind"] == "Plan"
    state = tmp_path / "s.db"
    started = runner.invoke(app, ["rollout", "start", str(plan), "--state", str(state), "--json"])
    assert "use -o json" in started.stderr
    assert json.loads(started.stdout.splitlines()[0])["kind"] == "RolloutEvent"


def test_a_plan_written_as_json_or_yaml_is_read_back_and_a_wrong_kind_is_one_line(runner, tmp_path):
    for fmt in ("yaml", "json"):
        path = tmp_path / f"plan.{fmt}"
        assert runner.invoke(app, ["plan", INCIDENT, "-o", fmt, "--output-file", str(path)]).exit_code == 0
        assert runner.invoke(app, ["plan", "--check", str(path)]).exit_code == 0
    doc = yaml.safe_load((tmp_path / "plan.yaml").read_text())
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(doc | {"kind": "Fleet"}))
    bad = runner.invoke(app, ["plan", "--check", str(tmp_path / "bad.yaml")])
    assert bad.exit_code == 2 and "kind 'Fleet': expected Plan" in bad.stderr


@pytest.mark.parametrize("args", [["analyse", INCIDENT, "-o", "html"], ["plan", INCIDENT, "-o", "table"],
                                  ["analyse", INCIDENT, "-o", "json", "--output-file", "/nonexistent/x.json"]])
def test_an_unsupported_format_or_unwritable_file_is_one_line_and_exit_2(runner, args):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ")


@pytest.mark.parametrize(("text", "seconds"), [("21m", 1260), ("1h30m", 5400), ("30m0s", 1800), ("300ms", 0.3),
                                               ("1.5h", 5400), ("90", 90), (45, 45), (2.5, 2.5)])
def test_durations_read_as_kubectl_and_go_write_them(text, seconds):
    assert parse_duration_s(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["lots", "1x", "", True, None, "nan", "1h30"])
def test_a_bad_duration_is_refused(bad):
    with pytest.raises(ValueError):
        parse_duration_s(bad)
    assert go_duration_s(bad if isinstance(bad, str) else None, 7.0) == 7.0  # agents: their default


def test_plan_files_and_options_take_durations(runner, tmp_path):
    plan = tmp_path / "plan.yaml"
    assert runner.invoke(app, ["plan", INCIDENT, "--gate-interval", "1m", "--output-file", str(plan)]).exit_code == 0
    doc = yaml.safe_load(plan.read_text())
    assert doc["gate_interval_s"] == 60
    doc["waves"][0]["bake_s"] = "21m"
    doc["no_data_timeout_s"] = "1h30m"
    plan.write_text(yaml.safe_dump(doc))
    from waveguard.model.fleet import default_fleet
    from waveguard.rollout.plan import load_plan

    loaded = load_plan(plan, default_fleet())
    assert (loaded.waves[0].bake_s, loaded.no_data_timeout_s) == (1260.0, 5400.0)
    doc["waves"][0]["bake_s"] = "soon"
    plan.write_text(yaml.safe_dump(doc))
    bad = runner.invoke(app, ["plan", "--check", str(plan)])
    assert bad.exit_code == 2 and "waves.0.bake_s" in bad.stderr and "not a duration" in bad.stderr
    worse = runner.invoke(app, ["plan", INCIDENT, "--gate-interval", "soon"])
    assert worse.exit_code == 2 and "is not seconds or a duration" in worse.output
    too_short = runner.invoke(app, ["plan", INCIDENT, "--gate-interval", "500ms"])  # the option's minimum holds
    assert too_short.exit_code == 2 and "500ms is under 1s" in too_short.output


def test_waveguard_state_names_the_state_database(runner, tmp_path, monkeypatch):
    plan = tmp_path / "plan.yaml"
    runner.invoke(app, ["plan", INCIDENT, "--output-file", str(plan)])
    monkeypatch.setenv("WAVEGUARD_STATE", str(tmp_path / "env.db"))
    runner.invoke(app, ["rollout", "start", str(plan)])
    assert (tmp_path / "env.db").exists()
    status = runner.invoke(app, ["rollout", "status", "-o", "yaml"])
    assert yaml.safe_load(status.stdout)["kind"] == "RolloutStatus"
    assert runner.invoke(app, ["rollout", "status", "--state", str(tmp_path / "other.db")]).exit_code == 2  # flag wins


def test_waveguard_prometheus_url_is_the_prometheus_url(runner, tmp_path, monkeypatch):
    plan = tmp_path / "plan.yaml"
    runner.invoke(app, ["plan", INCIDENT, "--output-file", str(plan)])
    monkeypatch.setenv("WAVEGUARD_PROMETHEUS_URL", "ftp://127.0.0.1:1")
    result = runner.invoke(app, ["rollout", "start", str(plan), "--signals", "prometheus", "--state",
                                 str(tmp_path / "s.db")])
    # the URL came from the environment (without it: "no Prometheus URL")
    assert result.exit_code == 2 and "prometheus.url" in result.stderr and "must be http" in result.stderr


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schema_prints_a_valid_json_schema_equal_to_the_linked_file(runner, name):
    result = runner.invoke(app, ["schema", name])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    linked = ROOT / "docs" / "schemas" / f"{name}.json"
    assert json.loads(linked.read_text()) == schema, f"regenerate: waveguard schema {name} --output-file {linked}"


def test_shipped_scenarios_and_the_default_fleet_validate_against_their_schemas():
    data = ROOT / "src" / "waveguard" / "data"
    scenarios = [*(data / "scenarios").glob("*.yaml"), *(data / "fidelity").glob("*.yaml")]
    assert len(scenarios) >= 8
    for path in scenarios:
        jsonschema.Draft202012Validator(json_schema("scenario")).validate(yaml.safe_load(path.read_text()))
    from waveguard.model.fleet import default_fleet

    fleet = default_fleet().model_dump(mode="json", exclude_none=True)
    jsonschema.Draft202012Validator(json_schema("fleet")).validate(fleet)


def test_shell_completion_is_offered(runner):
    assert "--install-completion" in runner.invoke(app, ["--help"]).stdout


def _installed(script: str) -> str:
    path = Path(sys.executable).parent / script
    if not path.exists():
        pytest.skip(f"{script} not installed (pip install -e .)")
    return str(path)


def test_kubectl_runs_the_plugin_and_its_help_names_it_so():
    """The real kubectl finds ``kubectl-waveguard`` on PATH and runs it."""
    plugin = _installed("kubectl-waveguard")
    help_text = subprocess.run([plugin, "analyse", "--help"], capture_output=True, text=True, check=True).stdout
    assert "Usage: kubectl waveguard analyse" in help_text
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    env = {**os.environ, "PATH": f"{Path(plugin).parent}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.run([kubectl, "waveguard", "analyse", INCIDENT, "-o", "json"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert run.returncode == 1, run.stderr
    assert json.loads(run.stdout)["kind"] == "Analysis"


def test_events_carry_their_wall_clock_time_and_old_rows_read_as_unknown(tmp_path):
    import sqlite3

    from waveguard.cli.rollout_live import event_line
    from waveguard.rollout.eventlog import EventLog

    log = EventLog(tmp_path / "s.db", create=True)
    log.append("started", 0.0)
    db = sqlite3.connect(tmp_path / "s.db")  # a row as a state file may hold it: no wall time (0)
    db.execute("INSERT INTO events(t, wall, kind, data) VALUES (5, 0, 'paused', '{\"reason\": \"old\"}')")
    db.commit()
    db.close()
    first, old = EventLog(tmp_path / "s.db").events()
    assert first.time is not None and first.time.endswith("Z") and abs(first.wall - time.time()) < 3600
    assert old.wall is None and old.time is None
    line = json.loads(event_line(old))
    assert (line["kind"], line["event"], line["time"], line["reason"]) == ("RolloutEvent", "paused", None, "old")
    jsonschema.validate(line, json_schema("events"))
    jsonschema.validate(json.loads(event_line(first)), json_schema("events"))


def test_context_names_the_kubeconfig_context_as_in_kubectl(runner):
    from waveguard.cli.common import context_map
    from waveguard.model.errors import InputError

    assert context_map(["ctx-a"], ["prod-a"]) == {"prod-a": "ctx-a"}
    assert context_map(["prod-b=ctx-b", "prod-a=ctx-a"], ["prod-a", "prod-b"]) == {"prod-a": "ctx-a", "prod-b": "ctx-b"}
    for values, clusters in ((["ctx"], ["a", "b"]), (["nosuch=ctx"], ["a"]), (["a="], ["a"])):
        with pytest.raises(InputError):
            context_map(values, clusters)
    plan = ROOT / "examples" / "incident-telemetry"
    result = runner.invoke(app, ["rollout", "start", str(plan), "--context", "ctx"])  # the simulated fleet
    assert result.exit_code == 2 and "--context" in result.stderr and "--target kubernetes" in result.stderr


def test_kubeconfig_from_the_environment_and_context_from_the_flag_reach_the_cluster(runner, tmp_path, apiservers,
                                                                                    monkeypatch):
    """``KUBECONFIG=… waveguard rollout start … --context ctx-prod-a`` (no --kubeconfig): the stub
    apiserver behind that context gets the change; a stub Prometheus answers the gates."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from tests.k8s_stub import DS_PATH, kubeconfig
    from waveguard.rollout.eventlog import EventLog

    class Prometheus(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            query = self.rfile.read(int(self.headers["Content-Length"])).decode()
            value = 1 if "max_over_time%28up" in query else 1e10 if "limits" in query else 0
            body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": {"cluster": "prod-a"}, "value": [0, str(value)]}]}}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    prom = ThreadingHTTPServer(("127.0.0.1", 0), Prometheus)
    threading.Thread(target=prom.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    stub = apiservers(nodes=2)
    try:
        path, _ = kubeconfig(tmp_path, {"prod-a": stub})  # its context is ctx-prod-a, not the cluster's name
        monkeypatch.setenv("KUBECONFIG", str(path))
        monkeypatch.setenv("WAVEGUARD_PROMETHEUS_URL", f"http://127.0.0.1:{prom.server_address[1]}")
        (tmp_path / "fleet.yaml").write_text(yaml.safe_dump({"clusters": [{"name": "prod-a", "nodes": 2}]}))
        (tmp_path / "plan.yaml").write_text(yaml.safe_dump({
            "change": INCIDENT, "gate_interval_s": "500ms", "gates": [{"kind": "apiserver_memory"}],
            "waves": [{"name": "all", "clusters": {"names": ["prod-a"]}, "node_share": 1.0, "bake_s": "1s"}]}))
        args = ["rollout", "start", str(tmp_path / "plan.yaml"), "--fleet", str(tmp_path / "fleet.yaml"), "--force",
                "--target", "kubernetes", "--signals", "prometheus"]
        without = runner.invoke(app, [*args, "--state", str(tmp_path / "a.db")])
        assert without.exit_code == 2 and str(path) in without.stderr  # the kubeconfig of $KUBECONFIG, which
        assert "cannot load kubeconfig context 'prod-a'" in without.stderr  # has no context named after the cluster
        assert "--context CLUSTER=CONTEXT" in without.stderr
        result = runner.invoke(app, [*args, "--state", str(tmp_path / "b.db"), "--context", "ctx-prod-a"])
        assert result.exit_code == 0, result.output
        assert DS_PATH in stub.objects
        backend = EventLog(tmp_path / "b.db").events()[0].data["backend"]
        assert backend["kubernetes"]["contexts"] == {"prod-a": "ctx-prod-a"}  # what resume uses
    finally:
        prom.shutdown()
        prom.server_close()
