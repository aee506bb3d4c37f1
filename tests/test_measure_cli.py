"""``waveguard measure`` on the command line: output, -o, notes, exit codes, bad input."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import require_shared
from tests.test_measure_audit import V1, _agent_log, write
from waveguard.cli.main import app
from waveguard.model.requests import RequestProfile


@pytest.fixture
def agent_log(tmp_path):
    return write(tmp_path / "agent.log", _agent_log())


def test_table_output(runner, agent_log):
    res = runner.invoke(app, ["measure", "--audit-log", str(agent_log)])
    assert res.exit_code == 0, res.output
    assert "ServiceAccount/telemetry/agent" in res.stdout and "LIST pods cluster" in res.stdout
    assert "requests from 1 clients" in res.stdout


def test_json_and_profile_file(runner, agent_log, tmp_path):
    out = tmp_path / "profile.yaml"
    res = runner.invoke(app, ["measure", "--audit-log", str(agent_log), "-o", "json", "--output-file", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["requests"] == 3 * (2 + 1 + 10) and doc["span_s"] == 100.0
    (client,) = doc["clients"]
    assert client["per_node"] is True and client["throttled"] == 3
    text = out.read_text()
    assert text.startswith("# waveguard measure")
    (profile,) = [RequestProfile.model_validate(p) for p in yaml.safe_load(text)]
    assert profile.per_node and profile.namespace == "telemetry" and profile.service_account == "agent"


def test_notes_go_to_stderr(runner, tmp_path):
    path = write(tmp_path / "g.log", _agent_log(), tail="garbage line\n")
    res = runner.invoke(app, ["measure", "--audit-log", str(path), "-o", "json"])
    assert res.exit_code == 0
    assert "note:" in res.stderr and "1 line(s) are not audit events" in res.stderr
    assert json.loads(res.stdout)["files"][0]["garbage_lines"] == 1


@pytest.mark.parametrize("content,match", [(None, "no such file"), ("", "empty"), ("{oops\n", "is an audit event")])
def test_bad_input_one_line_exit_2_no_output_file(runner, tmp_path, content, match):
    path = tmp_path / "audit.log"
    if content is not None:
        path.write_text(content)
    out = tmp_path / "profile.yaml"
    res = runner.invoke(app, ["measure", "--audit-log", str(path), "--output-file", str(out)])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and match in lines[0]
    assert "Traceback" not in res.output
    assert not out.exists() and not list(tmp_path.glob(".profile.yaml.*"))


def test_bad_memory_limit_is_exit_2(runner, agent_log):
    res = runner.invoke(app, ["measure", "--audit-log", str(agent_log), "--memory-limit", "lots"])
    assert res.exit_code == 2 and res.stderr.startswith("error: ")


def test_output_into_a_missing_folder_is_exit_2(runner, agent_log, tmp_path):
    res = runner.invoke(app, ["measure", "--audit-log", str(agent_log), "--output-file", str(tmp_path / "no" / "p.yaml")])
    assert res.exit_code == 2 and "does not exist" in res.stderr


def test_real_log_json(runner):
    res = runner.invoke(app, ["measure", "--audit-log", str(require_shared(V1)), "-o", "json"])
    assert res.exit_code == 0
    assert json.loads(res.stdout)["requests"] == 37


def test_the_table_reads_at_80_columns(runner):
    """At 80 columns (an SRE's terminal, or piped with COLUMNS=80) no line runs over, no header
    word is cut (``clien`` / ``t``) and every figure is printed whole (a rate folded across two
    lines, ``0.011`` over ``28``, reads as another number)."""
    from tests.conftest import SHARED

    log = require_shared(SHARED / "inputs" / "audit" / "audit2rbac-demo-v1beta1-large.jsonl")
    res = runner.invoke(app, ["measure", str(log)], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    doc = json.loads(runner.invoke(app, ["measure", str(log), "-o", "json"]).stdout)
    words = set(res.stdout.replace("│", " ").replace("┃", " ").split())
    for header in ("class", "rate/pod/s", "codes"):
        assert header in words
    for client in doc["clients"]:
        assert client["client"] in res.stdout
        for cls in client["classes"]:
            assert f"{cls['rate_per_pod_per_s']:.4g}" in words


def test_more_threads_than_cores_is_refused_before_duckdb_starts(runner, agent_log):
    """``--threads 100000`` made DuckDB start 100,000 threads: the process was OOM-killed (exit
    137, no message). More threads than the machine's cores is refused in one line, exit 2."""
    import os

    res = runner.invoke(app, ["measure", str(agent_log), "--threads", str((os.cpu_count() or 1) + 1)])
    assert res.exit_code == 2, res.output
    assert "--threads" in res.stderr and "cores" in res.stderr and "Traceback" not in res.output


@pytest.mark.parametrize("limit", ["-5GB", "banana", "0", "512KB"])
def test_a_memory_limit_that_is_no_size_is_refused_in_one_line(runner, agent_log, limit):
    """DuckDB took ``--memory-limit -5GB`` without a word, and answered ``banana`` with a parser
    error naming two options and no fix: now one line names the option, exit 2."""
    res = runner.invoke(app, ["measure", str(agent_log), "--memory-limit", limit])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("error: --memory-limit:") and "512MB or 2GiB" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_a_memory_limit_in_any_unit_reaches_duckdb_in_whole_mib():
    from waveguard.cli.measure import _duckdb_memory_limit

    assert _duckdb_memory_limit("512MB") == "488MiB"
    assert _duckdb_memory_limit("2GiB") == "2048MiB"
    assert _duckdb_memory_limit(" 1.5 gib ") == "1536MiB"


def test_events_without_one_request_to_measure_are_bad_input(runner, tmp_path):
    """Audit events whose fields are mangled (``verb: 5``, ``objectRef`` a string, no user) made
    "0 requests from 0 clients", exit 0 (new-user trial): no request to measure is bad input,
    one line, exit 2, nothing written."""
    log = tmp_path / "mangled.jsonl"
    log.write_text('{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":5,"objectRef":"x","user":{},'
                   '"stage":"ResponseComplete"}\n')
    out = tmp_path / "profiles.yaml"
    res = runner.invoke(app, ["measure", str(log), "--output-file", str(out)])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith(f"error: {log}: no request to measure in 1 event(s)")
    assert not out.exists()
