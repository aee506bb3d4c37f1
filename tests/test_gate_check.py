"""``waveguard gate check`` against a **real Prometheus** (Debian ``prometheus``, on 127.0.0.1)
scraping ``waveguard exporter`` (a two-cluster simulated fleet, the change not rolled out, paced
at wall-clock speed): a quiet cluster passes (exit 0), the same cluster under a plan with
thresholds below its figures fails (exit 1), a cluster Prometheus has never scraped is no-data
(exit 2). And the PromQL ``waveguard export`` writes, sent to the same Prometheus at the same
instant, gives the very figures the gates evaluate.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from tests.conftest import EXAMPLES
from tests.prometheus_server import PrometheusServer, free_port
from waveguard.export.gateset import gate_set
from waveguard.rollout.gates import evaluate
from waveguard.rollout.plan import GateSpec
from waveguard.signals.prometheus import PrometheusConfig, PrometheusSignals

SCRAPE_INTERVAL_S = 0.5
CLUSTERS = {"alpha": 200, "beta": 500}


def _scenario() -> dict:
    return {"name": "quiet-pair", "description": "two clusters; the change is not rolled out",
            "duration_s": 100000, "step_s": 1, "seed": 1,
            "fleet": {"clusters": [{"name": n, "labels": {"env": "prod"}, "nodes": k} for n, k in CLUSTERS.items()]},
            "change": {"manifests": str(EXAMPLES / "incident-telemetry")}, "schedule": []}


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    """Prometheus scraping a ``waveguard exporter`` process every 0.5 s, once every gate on
    ``alpha`` reads (at most 60 s of wall time; Prometheus needs two scrapes for a rate)."""
    work = tmp_path_factory.mktemp("gate-check")
    scenario = work / "scenario.yaml"
    scenario.write_text(yaml.safe_dump(_scenario()))
    (work / "fleet.yaml").write_text(yaml.safe_dump({"clusters": _scenario()["fleet"]["clusters"]}))
    port = free_port()
    scrape = work / "scrape.yml"
    exporter = subprocess.Popen([sys.executable, "-m", "waveguard.cli.main", "exporter", str(scenario), "--listen",
                                 f"127.0.0.1:{port}", "--scrape-config", str(scrape), "--scrape-interval",
                                 str(SCRAPE_INTERVAL_S)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    server = None
    try:
        deadline = time.monotonic() + 30
        while not scrape.exists() and exporter.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert scrape.exists(), exporter.communicate(timeout=5)
        server = PrometheusServer(work, yaml.safe_load(scrape.read_text())).start()
        gates = gate_set(None, config=_config(server.url))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            signals = PrometheusSignals(gates.signals.config, gates.interval_s)
            if all(evaluate(GateSpec(kind=g.name), signals, "alpha").status != "no-data" for g in gates.gates):
                break
            time.sleep(0.5)
        yield server, work
    finally:
        if server is not None:
            server.stop()
        exporter.send_signal(signal.SIGINT)
        exporter.communicate(timeout=20)


def _config(url: str) -> PrometheusConfig:
    return PrometheusConfig(url=url, scrape_interval_s=SCRAPE_INTERVAL_S)


def _check(url: str, cluster: str, *extra: str) -> tuple[int, dict, float]:
    """``waveguard gate check`` as a rollout tool runs it (a new process): exit code, JSON, wall s."""
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "waveguard.cli.main", "gate", "check", "--cluster", cluster,
                          "--prometheus-url", url, "--scrape-interval", str(SCRAPE_INTERVAL_S), "-o", "json", *extra],
                         capture_output=True, text=True, timeout=60)
    wall_s = time.monotonic() - started
    return out.returncode, json.loads(out.stdout) if out.stdout else {"stderr": out.stderr}, wall_s


def test_a_quiet_cluster_passes_every_gate(prometheus):
    server, _ = prometheus
    code, doc, wall_s = _check(server.url, "alpha")
    assert code == 0, doc
    assert doc["apiVersion"] == "waveguard.io/v1alpha1" and doc["kind"] == "GateCheck" and doc["status"] == "pass"
    assert [r["gate"] for r in doc["results"]] == [g.name for g in gate_set(None).gates]
    assert all(r["status"] == "pass" and r["value"] is not None for r in doc["results"])
    print(f"\ngate check wall time (process, real Prometheus): {wall_s:.2f} s; evaluation {doc['wall_s']:.3f} s")


def test_thresholds_below_the_figures_fail_with_exit_1(prometheus, tmp_path):
    server, work = prometheus
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({
        "change": "examples/incident-telemetry",
        "waves": [{"name": "all", "clusters": {"labels": {"env": "prod"}}, "bake_s": 600}],
        "gates": [{"kind": "apiserver_memory", "threshold": 0.0001}, {"kind": "apiserver_p99_latency"}]}))
    code, doc, _ = _check(server.url, "alpha", "--plan", str(plan), "--fleet", str(work / "fleet.yaml"))
    assert code == 1, doc
    by_gate = {r["gate"]: r for r in doc["results"]}
    assert list(by_gate) == ["apiserver_memory", "apiserver_p99_latency"]
    assert by_gate["apiserver_memory"]["status"] == "fail" and by_gate["apiserver_memory"]["value"] > 0.0001
    assert by_gate["apiserver_p99_latency"]["status"] == "pass"


def test_a_cluster_prometheus_never_scraped_is_no_data_exit_2(prometheus):
    server, _ = prometheus
    code, doc, _ = _check(server.url, "gamma")
    assert code == 2 and doc["status"] == "no-data"
    assert all(r["status"] == "no-data" and "gamma" in r["detail"] for r in doc["results"]), doc


def test_the_change_adds_the_projection_on_the_cluster(prometheus):
    server, work = prometheus
    code, doc, _ = _check(server.url, "beta", "--change", str(EXAMPLES / "incident-telemetry"),
                          "--fleet", str(work / "fleet.yaml"))
    projection = doc["results"][-1]
    assert projection["gate"] == "projection" and projection["cluster"] == "beta"
    # The cost model on beta (500 nodes) at all its nodes: no plan, so no wave share.
    from waveguard.analysis import build_profiles, load_change
    from waveguard.model.fleet import load_fleet
    from waveguard.rollout.gates import evaluate_projection

    beta = [c for c in load_fleet(work / "fleet.yaml").clusters if c.name == "beta"]
    [want] = evaluate_projection(GateSpec(kind="projection"), build_profiles(load_change([str(EXAMPLES /
                                 "incident-telemetry")])), beta, {"beta": 1.0})
    assert (projection["status"], projection["value"], projection["threshold"]) == (want.status, want.value,
                                                                                   want.threshold)
    assert code == (1 if want.status == "fail" else 0), doc


def test_the_exported_promql_reads_what_the_gates_read(prometheus):
    """At one instant, each gate's exported query (as Argo, Flagger, the alert and the dashboard
    carry it, the cluster filled in) returns the figure the gate evaluates."""
    server, _ = prometheus
    import httpx

    gates = gate_set(None, config=_config(server.url))
    at = time.time() - 1.0
    signals = PrometheusSignals(gates.signals.config, gates.interval_s, eval_time=at)
    for g in gates.gates:
        want = evaluate(GateSpec(kind=g.name), signals, "alpha").value
        answer = httpx.get(f"{server.url}/api/v1/query", params={"query": gates.figure(g, "alpha"), "time": at},
                           timeout=5).json()["data"]["result"]
        assert len(answer) == 1, (g.name, answer)
        assert float(answer[0]["value"][1]) == pytest.approx(want, rel=1e-9), g.name


def test_the_human_output_fits_80_columns(prometheus):
    """As a person reads it in a terminal: one line per gate, each cause once (wrapped), ≤ 80 columns."""
    server, _ = prometheus
    for cluster, code in (("alpha", 0), ("gamma", 2)):
        out = subprocess.run([sys.executable, "-m", "waveguard.cli.main", "gate", "check", "--cluster", cluster,
                              "--prometheus-url", server.url, "--scrape-interval", str(SCRAPE_INTERVAL_S)],
                             capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "80"})
        assert out.returncode == code, out.stderr
        lines = out.stdout.splitlines()
        assert lines[0].startswith(f"{cluster}: ") and all(len(line) <= 80 for line in lines), out.stdout
        gates = [g.name for g in gate_set(None).gates]
        rows = [line.split()[1] for line in lines[1:] if not line.startswith(("  [", " " * 6))]
        if code == 0:
            assert rows == gates
        else:  # one line per gate and each cause once under them, or one line when one cause stopped all
            assert rows == gates or (lines[0].startswith("gamma: no data from any of") and not rows)
            assert "gamma" in out.stdout


@pytest.fixture
def dropping_prometheus():
    """An address that accepts connections and drops them (a Prometheus that does not answer):
    its URL and the list of connections accepted."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[int] = []

    def drop() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(1)
            conn.close()

    threading.Thread(target=drop, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    listener.close()


def _gate_check_process(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "waveguard.cli.main", "gate", "check", *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "COLUMNS": "80"})


def test_an_unreachable_prometheus_is_asked_once_and_reported_on_one_line(dropping_prometheus):
    """One request, whatever the number of gates; one line on stderr naming Prometheus, why and
    what to check; exit 2; nothing on stdout."""
    url, accepted = dropping_prometheus
    out = _gate_check_process("--cluster", "alpha", "--prometheus-url", url)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and out.stderr.startswith(f"error: Prometheus at {url} is unreachable (")
    assert out.stderr.rstrip().endswith("), check --prometheus-url") and "Error:" not in out.stderr
    assert len(accepted) == 1 and len(gate_set(None).gates) > 1


def test_bad_input_is_refused_before_prometheus_is_asked(dropping_prometheus):
    """--change on a cluster the fleet lacks: the one-line input error, and no request sent."""
    url, accepted = dropping_prometheus
    out = _gate_check_process("--cluster", "nowhere", "--prometheus-url", url,
                              "--change", str(EXAMPLES / "incident-telemetry"))
    assert out.returncode == 2 and out.stderr.startswith("error: built-in fleet: has no cluster 'nowhere'")
    assert accepted == []
