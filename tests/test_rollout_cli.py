"""`waveguard plan` and `waveguard rollout` as an operator uses them, including kill -9."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime

import pytest
import yaml

from tests.conftest import EXAMPLES
from waveguard.cli.main import app
from waveguard.rollout.eventlog import EventLog, fold

CHANGE = str(EXAMPLES / "incident-telemetry")
FLEET_YAML = """\
clusters:
  - {name: staging, labels: {env: staging}, nodes: 50}
  - {name: prod-small, labels: {env: prod}, nodes: 400}
  - {name: prod-large, labels: {env: prod}, nodes: 7500}
"""


@pytest.fixture
def fleet(tmp_path):
    path = tmp_path / "fleet.yaml"
    path.write_text(FLEET_YAML)
    return path


def _plan(runner, tmp_path, fleet, **edits) -> str:
    out = tmp_path / "plan.yaml"
    result = runner.invoke(app, ["plan", CHANGE, "--fleet", str(fleet), "--output-file", str(out)])
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(out.read_text())
    for key, value in edits.items():
        data[key] = value
    out.write_text(yaml.safe_dump(data))
    return str(out)


def test_plan_puts_the_largest_cluster_in_the_first_production_wave(runner, tmp_path, fleet):
    result = runner.invoke(app, ["plan", CHANGE, "--fleet", str(fleet)])
    assert result.exit_code == 0
    plan = yaml.safe_load(result.stdout)
    first_prod = plan["waves"][1]
    assert "prod-large" in first_prod["clusters"]["names"] and first_prod["node_share"] == 0.01
    # bake ≥ the longest DNS cache TTL (client 600 s + node-local 600 s) + two gate evaluations
    assert all(w["bake_s"] >= 1200 + 2 * plan["gate_interval_s"] for w in plan["waves"])
    assert {"apiserver_p99_latency", "dns_probe", "projection"} <= {g["kind"] for g in plan["gates"]}


@pytest.mark.parametrize("edit, rule", [
    (lambda p: [w.update(bake_s=600) for w in p["waves"]], "WG201"),
    (lambda p: p["waves"].__setitem__(1, {**p["waves"][1], "clusters": {"names": ["prod-small"]}}), "WG202"),
    (lambda p: p.__setitem__("gates", [{"kind": "workload_error_rate"}]), "WG203"),
])
def test_plan_check_flags_unsafe_plans(runner, tmp_path, fleet, edit, rule):
    path = _plan(runner, tmp_path, fleet)
    data = yaml.safe_load(open(path))
    edit(data)
    open(path, "w").write(yaml.safe_dump(data))
    result = runner.invoke(app, ["plan", "--check", path, "--fleet", str(fleet)])
    assert result.exit_code == 1 and rule in result.stdout, result.output


@pytest.mark.parametrize("edits, expected", [
    ({"waves": [{"name": "w", "clusters": {"names": ["nope"]}, "bake_s": 1300}]}, "no cluster named 'nope'"),
    ({"gates": [{"kind": "cpu_vibes"}]}, "unknown gate 'cpu_vibes'"),
    ({"waves": [{"name": "w", "clusters": {"names": ["staging"]}, "bake_s": 0}]}, "bake time must be > 0"),
])
def test_bad_plans_exit_2_and_write_no_state(runner, tmp_path, fleet, edits, expected):
    path = _plan(runner, tmp_path, fleet, **edits)
    state = tmp_path / "state.db"
    result = runner.invoke(app, ["rollout", "start", path, "--fleet", str(fleet), "--state", str(state)])
    assert result.exit_code == 2 and expected in result.stderr, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert not state.exists()


def test_start_refuses_an_unsafe_plan_unless_forced(runner, tmp_path, fleet):
    path = _plan(runner, tmp_path, fleet, gate_interval_s=30)
    data = yaml.safe_load(open(path))
    for w in data["waves"]:
        w["bake_s"] = 60
    open(path, "w").write(yaml.safe_dump(data))
    result = runner.invoke(app, ["rollout", "start", path, "--fleet", str(fleet), "--state", str(tmp_path / "s.db")])
    assert result.exit_code == 2 and "WG201" in result.stderr


def _fast_plan(runner, tmp_path, fleet, bake_s: float = 120) -> str:
    path = _plan(runner, tmp_path, fleet)
    data = yaml.safe_load(open(path))
    for w in data["waves"]:
        w["bake_s"] = bake_s
    data["gates"] = [{"kind": k} for k in ("apiserver_p99_latency", "apiserver_rejections", "dns_probe")]
    open(path, "w").write(yaml.safe_dump(data))
    return path


def test_start_streams_json_and_status_reads_the_log(runner, tmp_path, fleet):
    plan = _fast_plan(runner, tmp_path, fleet)
    state = tmp_path / "s.db"
    result = runner.invoke(app, ["rollout", "start", plan, "--fleet", str(fleet), "--state", str(state),
                                 "--force", "-o", "json"])
    assert result.exit_code == 1  # halted and rolled back
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "wave_started" and "halted" in kinds and kinds[-1] == "rolled_back"
    assert all({"seq", "t", "event", "time"} <= set(e) for e in events)
    assert {(e["apiVersion"], e["kind"]) for e in events} == {("waveguard.io/v1alpha1", "RolloutEvent")}
    walls = [datetime.fromisoformat(e["time"].replace("Z", "+00:00")) for e in events]  # wall clock, UTC
    assert walls == sorted(walls) and abs(walls[-1].timestamp() - time.time()) < 3600
    status = json.loads(runner.invoke(app, ["rollout", "status", "--state", str(state), "-o", "json"]).stdout)
    assert status["status"] == "rolled_back" and all(s == 0 for s in status["shares"].values())
    assert (status["apiVersion"], status["kind"]) == ("waveguard.io/v1alpha1", "RolloutStatus")
    # the table says when as the live view does (m:ss from the start), not in raw seconds
    t = int(round(max(e["t"] for e in events)))
    text = runner.invoke(app, ["rollout", "status", "--state", str(state)]).stdout
    assert f"status: rolled_back at {t // 60}:{t % 60:02d}," in text, text
    # an ended rollout cannot be resumed into doing something again
    again = runner.invoke(app, ["rollout", "abort", "--state", str(state)])
    assert again.exit_code == 2 and "already ended" in again.stderr


def test_corrupt_and_locked_state_exit_2_untouched(runner, tmp_path):
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
    before = hashlib.sha256(corrupt.read_bytes()).hexdigest()
    result = runner.invoke(app, ["rollout", "status", "--state", str(corrupt)])
    assert result.exit_code == 2 and "not a readable waveguard state database" in result.stderr
    assert hashlib.sha256(corrupt.read_bytes()).hexdigest() == before

    locked = tmp_path / "locked.db"
    log = EventLog(locked, create=True)
    log.append("started", 0.0)
    log.close()
    holder = sqlite3.connect(locked, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = runner.invoke(app, ["rollout", "pause", "--state", str(locked)])
        assert result.exit_code == 2 and "locked" in result.stderr
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert [e.kind for e in EventLog(locked).events()] == ["started"]


def _events(path) -> int:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.1) as db:
            return db.execute("SELECT count(*) FROM events").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.parametrize("kill_after_events", [3, 9, 40])
def test_kill_9_then_resume_reaches_the_same_end(runner, tmp_path, fleet, kill_after_events):
    """A real SIGKILL of `waveguard rollout start` mid-run (it died of the signal, not of its own
    accord), then `resume` in a new process. Bakes of 600 s: ~270 events, so the kill lands
    well before the end."""
    plan = _fast_plan(runner, tmp_path, fleet, bake_s=600)
    reference = tmp_path / "reference.db"
    runner.invoke(app, ["rollout", "start", plan, "--fleet", str(fleet), "--state", str(reference), "--force"])
    state = tmp_path / "killed.db"
    cmd = [sys.executable, "-m", "waveguard.cli.main", "rollout", "start", plan, "--fleet", str(fleet),
           "--state", str(state), "--force"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while _events(state) < kill_after_events and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the rollout ended on its own (exit {proc.returncode}) before the kill"
    assert 0 < _events(state) < _events(reference)  # stopped mid-run
    resumed = subprocess.run([sys.executable, "-m", "waveguard.cli.main", "rollout", "resume", "--state", str(state)],
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode in (0, 1), resumed.stderr
    ref, got = fold(EventLog(reference).events()), fold(EventLog(state).events())
    assert (got.status, got.shares, got.halt["gate"], got.halt["cluster_failed"]) == \
        (ref.status, ref.shares, ref.halt["gate"], ref.halt["cluster_failed"])
    applies = [(e.wave, e.cluster) for e in EventLog(state).events() if e.kind == "applied"]
    assert len(applies) == len(set(applies))
