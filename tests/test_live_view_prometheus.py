"""The live view on a paced, Prometheus-backed rollout driven by another process (issue 16,
item 1): `waveguard rollout start` runs the incident's change on the exporter-backed simulated
fleet (200 simulated seconds per wall second) with every gate read from a real Prometheus,
while `waveguard rollout status --watch -o json` follows its state file from a second process.
The Prometheus of tests/test_prometheus_gates.py (its module fixtures, a server of this module's
own), Debian's prometheus binary."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from tests.conftest import EXAMPLES, ROOT
from tests.test_prometheus_gates import SCRAPE_INTERVAL_S, TIME_SCALE, fleet_prometheus, scenario  # noqa: F401
from waveguard import demo
from waveguard.cli.main import app
from waveguard.model.errors import InputError
from waveguard.rollout.eventlog import EventLog


def _has_events(db) -> bool:
    """The state file exists and holds its first event (not a file being created)."""
    try:
        return db.exists() and bool(EventLog(db).events())
    except InputError:
        return False


def test_watch_follows_a_prometheus_backed_paced_rollout_from_another_process(fleet_prometheus, tmp_path,  # noqa: F811
                                                                               runner):
    prom, port = fleet_prometheus
    plan = tmp_path / "plan.yaml"
    assert runner.invoke(app, ["plan", str(EXAMPLES / "incident-telemetry"), "-o", str(plan)]).exit_code == 0
    db = tmp_path / "rollout.db"
    engine = subprocess.Popen(
        [sys.executable, "-m", "waveguard.cli.main", "rollout", "start", str(plan), "--scenario",
         demo.DEFAULT_SCENARIO, "--signals", "prometheus", "--prometheus-url", prom.url, "--serve-metrics",
         f"127.0.0.1:{port}", "--time-scale", str(TIME_SCALE), "--scrape-interval", str(SCRAPE_INTERVAL_S),
         "--state", str(db), "-o", "json"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not _has_events(db):
            assert engine.poll() is None and time.monotonic() < deadline, engine.stderr.read() if engine.stderr else ""
            time.sleep(0.05)
        watch = subprocess.run([sys.executable, "-m", "waveguard.cli.main", "rollout", "status", "--state", str(db),
                                "--watch", "-o", "json", "--interval", "0.2"],
                               capture_output=True, text=True, timeout=300, cwd=ROOT)
    finally:
        assert engine.wait(timeout=300) == 1  # halted and rolled back, as in test_prometheus_gates
    states = [json.loads(line) for line in watch.stdout.splitlines()]
    assert watch.returncode == 1, watch.stderr
    baking = [s for s in states if s["wave"] == 0 and s["bake"] is not None]
    assert len(baking) >= 3, [(s["status"], s["wave"], s["seq"]) for s in states]  # the bake seen as it went
    elapsed = [s["bake"]["elapsed"] for s in baking]
    assert elapsed == sorted(elapsed) and elapsed[-1] > elapsed[0]
    assert all(s["bake"]["elapsed"] + s["bake"]["remaining"] == 1260 for s in baking)
    gates = {g["gate"]: g for g in baking[-1]["gates"]}
    assert gates["apiserver_p99_latency"]["unit"] == "seconds" and gates["apiserver_memory"]["unit"] == "ratio"
    assert all(g["status"] == "pass" and g["value"] is not None for name, g in gates.items() if name != "projection")
    assert baking[-1]["clusters"] == [{"name": "staging", "state": "baking", "share": 1.0, "target": 1.0,
                                       "nodes": baking[-1]["clusters"][0]["nodes"]}]
    assert states[-1]["status"] == "rolled_back" and states[-1]["halt"]["gate"] == "projection"
    assert states[-1]["waves"][1]["where"] == "halted"
