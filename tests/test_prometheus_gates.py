"""Gates through a **real Prometheus** (Debian ``prometheus``, started once per module on 127.0.0.1
with a temporary config and TSDB, stopped afterwards) scraping the simulated fleet's exporter.

The rollout drives the simulator; the exporter serves it at ``/metrics/<cluster>/<component>``
with the real components' names; Prometheus scrapes every target each second; the gates read
Prometheus with PromQL and probe the exporter's simulated CoreDNS with real DNS packets. The
simulated fleet runs ``TIME_SCALE`` simulated seconds per wall second, so a 21-minute wave bakes
in about 6 s.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import APISERVER_METRICS as REAL_APISERVER
from tests.conftest import EXAMPLES
from tests.prometheus_server import PrometheusServer, free_port
from tests.prometheus_timing import (RATE_BASE_TOLERANCE, expected_paced_rate, max_sim_step,
                                     rate_check_window_s)
from waveguard.analysis import build_profiles, load_change
from waveguard import demo
from waveguard.rollout.engine import Engine
from waveguard.rollout.eventlog import EventLog
from waveguard.rollout.gates import evaluate
from waveguard.rollout.paced import PacedSimTarget
from waveguard.rollout.paced_signals import PacedSignals
from waveguard.rollout.plan import GateSpec, propose_plan
from waveguard.rollout.simtarget import SimTarget
from waveguard.signals.prometheus import PrometheusConfig, PrometheusSignals
from waveguard.sim import load_builtin
from waveguard.sim.exporter import scrape_config

TIME_SCALE = 200.0       # simulated seconds per wall second
SCRAPE_INTERVAL_S = 1.0  # wall seconds
COMPONENTS = ("apiserver", "coredns", "kube-state-metrics", "waveguard-sim")


@pytest.fixture(scope="module")
def scenario():
    return load_builtin(demo.DEFAULT_SCENARIO)


class RealApiserverTarget:
    """Serves a real kube-apiserver's /metrics (``../shared/inputs/metrics``) as a live target:
    counters and histograms multiplied by the number of scrapes so far (gauges as they are), so
    ``rate()`` is proportional to the file's totals and ``histogram_quantile`` over a rate gives
    the file's own quantile."""

    def __init__(self, path) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        import threading

        text = path.read_text()
        types: dict[str, str] = {}
        lines: list[tuple[str, float | None, str]] = []
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(maxsplit=3)
                types[name] = kind
            if line.startswith("#") or not line.strip():
                lines.append((line, None, ""))
                continue
            head, _, value = line.rpartition(" ")
            name = head.split("{", 1)[0]
            family = next((name[: -len(sfx)] for sfx in ("_bucket", "_sum", "_count", "_total", "")
                           if name.endswith(sfx) and name[: len(name) - len(sfx)] in types), name)
            scaled = types.get(family) in ("counter", "histogram", "summary") and "quantile=" not in head
            lines.append((head, float(value), "x" if scaled else ""))
        self.n = 0
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                target.n += 1
                out = [h if v is None else f"{h} {v * target.n if s else v!r}" for h, v, s in lines]
                body = ("\n".join(out) + "\n").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()




@pytest.fixture(scope="module")
def fleet_prometheus(tmp_path_factory, scenario):
    """A Prometheus scraping an exporter port; each test's rollout starts its own exporter there
    (and runs a rate window of history first, so an earlier test's series never reach a gate).
    It also scrapes a real kube-apiserver's /metrics as cluster ``real-v1.35`` (job apiserver).
    One per module: Prometheus takes ~5 s to start scraping new targets (its discovery manager
    batches updates every 5 s)."""
    port = free_port()
    cfg = scrape_config([c.name for c in scenario.fleet_model.clusters], f"127.0.0.1:{port}",
                        scrape_interval_s=SCRAPE_INTERVAL_S, components=COMPONENTS)
    real = RealApiserverTarget(REAL_APISERVER) if REAL_APISERVER.exists() else None
    if real is not None:
        next(j for j in cfg["scrape_configs"] if j["job_name"] == "apiserver")["static_configs"].append(
            {"targets": [real.address], "labels": {"cluster": "real-v1.35"}})
    server = PrometheusServer(tmp_path_factory.mktemp("prometheus"), cfg).start()
    yield server, port
    server.stop()
    if real is not None:
        real.close()


def _config(url: str, **kw) -> PrometheusConfig:
    return PrometheusConfig(url=url, scrape_interval_s=SCRAPE_INTERVAL_S, time_scale=TIME_SCALE, timeout_s=5, **kw)


def _run(plan, fleet, inner: SimTarget, analysed, prom: PrometheusServer, port: int, tmp_path):
    target = PacedSimTarget(inner, _config(prom.url), listen=f"127.0.0.1:{port}", gate_interval_s=plan.gate_interval_s)
    try:
        log = EventLog(str(tmp_path / "state.db"), create=True)
        state = Engine(plan=plan, fleet=fleet, target=target, log=log, analysed_profiles=analysed).run()
        events = log.events()
        log.close()
    finally:
        target.close()
    return state, events, target


def _halt(events):
    halted = [e for e in events if e.kind == "halted"]
    assert len(halted) == 1, [(e.kind, e.data.get("reason")) for e in events if e.kind in ("paused", "halted")]
    return halted[0]


def test_cost_only_production_reveals_halts_in_the_first_production_wave_through_prometheus(
        fleet_prometheus, scenario, tmp_path):
    """The case the projection cannot know: the gates, read through Prometheus, halt it in the
    first production wave (1 % of nodes) as in the simulator-only run, on a control-plane gate
    of a large cluster. (Which gate fires first may differ: Prometheus' p99 is over the rate
    window and sees the start-up storm's latency peak that the simulator's latest value has
    already left.)"""
    prom, port = fleet_prometheus
    reference = demo.run_hidden_cost_case()
    fleet = scenario.fleet_model
    analysed = build_profiles(load_change([str(EXAMPLES / "incident-telemetry-node-filtered")]))
    plan = propose_plan(demo.HIDDEN_COST_CHANGE, fleet, per_node=True)
    inner = SimTarget.for_scenario(scenario, fleet=fleet, profiles=demo.hidden_cost_profiles(analysed))
    run_started = time.time()
    state, events, _ = _run(plan, fleet, inner, analysed, prom, port, tmp_path)
    run_ended = time.time()

    halt = _halt(events)
    ref_wave = 1  # production-1 %
    assert reference.fired["before_apply"] is False and reference.halted_at_s > 1260
    assert halt.wave == ref_wave and halt.data["before_apply"] is False
    assert halt.data["gate"] in ("apiserver_p99_latency", "apf_queue_wait", "apf_seat_utilisation",
                                 "apiserver_rejections", "apiserver_memory")
    assert halt.data["cluster_failed"] != "staging"  # a production cluster, at 1 % of its nodes
    # Lag: the gates read what Prometheus scraped, a few scrapes behind the simulator. In
    # simulated seconds a scrape interval is TIME_SCALE × SCRAPE_INTERVAL_S when the machine
    # keeps up; measured here (the largest step of the simulated clock between two scrapes of
    # the failing cluster), so a loaded machine's late scrapes widen it as they widen the lag.
    step = max_sim_step(prom.url, halt.data["cluster_failed"], run_started, run_ended)
    assert halt.t <= reference.halted_at_s + 4 * max(step, TIME_SCALE * SCRAPE_INTERVAL_S), f"scrape step {step:g} s"
    assert state.status == "rolled_back"


def test_rollout_cli_with_prometheus_and_dns_halts_the_incident_daemonset_as_the_demo_does(
        fleet_prometheus, scenario, tmp_path, runner):
    """The main job, and the demo's waveguard strategy through Prometheus: ``waveguard rollout
    start`` with the Prometheus and DNS backends against the exporter-backed fleet of the 11 Dec
    2024 incident. Every gate of the staging wave is read through Prometheus (and DNS probes of
    the simulated CoreDNS) for 21 simulated minutes — a single no-data would pause it — then the
    projection halts the telemetry DaemonSet before the first production wave: same wave, gate,
    cluster and time as the simulator-only run (``waveguard demo``). Afterwards Prometheus still
    holds fresh figures for the moment of the halt and none for a moment 4 scrape intervals after
    the exporter stopped: stale is no-data, for every gate."""
    from waveguard.cli.main import app

    prom, port = fleet_prometheus
    reference = demo.run_strategy("waveguard", scenario)
    plan = tmp_path / "plan.yaml"
    r = runner.invoke(app, ["plan", str(EXAMPLES / "incident-telemetry"), "--output-file", str(plan)])
    assert r.exit_code == 0, r.output
    db = tmp_path / "rollout.db"
    args = ["rollout", "start", str(plan), "--scenario", demo.DEFAULT_SCENARIO, "--signals", "prometheus",
            "--prometheus-url", prom.url, "--serve-metrics", f"127.0.0.1:{port}", "--time-scale", str(TIME_SCALE),
            "--scrape-interval", str(SCRAPE_INTERVAL_S), "--state", str(db), "-o", "json"]
    r = runner.invoke(app, args)
    t_end = time.time()
    assert r.exit_code == 1, r.output  # halted and rolled back
    events = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    started = EventLog(str(db)).events()[0]
    assert started.kind == "started"  # what resume rebuilds the same backend from
    assert started.data["backend"]["signals"] == "prometheus"
    assert started.data["backend"]["serve_metrics"] == f"127.0.0.1:{port}"
    assert started.data["backend"]["prometheus"]["time_scale"] == TIME_SCALE

    halted = [e for e in events if e["event"] == "halted"]
    assert len(halted) == 1, [e.get("reason") for e in events if e["event"] in ("paused", "halted")]
    assert (halted[0]["wave"], halted[0]["gate"], halted[0]["cluster_failed"], halted[0]["t"]) == (
        1, reference.fired["gate"], reference.fired["cluster"], reference.halted_at_s)
    assert not [e for e in events if e["event"] == "paused"]
    staging = [e for e in events if e["event"] == "gate" and e["wave"] == 0 and e["gate"] != "projection"]
    assert {g["gate"] for g in staging} == {"apiserver_p99_latency", "apiserver_rejections", "apf_seat_utilisation",
                                            "apf_queue_wait", "apiserver_memory", "dns_probe"}
    assert len(staging) == 6 * (1260 // 30)  # every gate, every 30 simulated s, all read
    assert {g["status"] for g in staging} == {"pass"} and all(g["value"] is not None for g in staging)
    memory = [g["value"] for g in staging if g["gate"] == "apiserver_memory"]
    assert 0 < min(memory) <= max(memory) < 0.8
    status = runner.invoke(app, ["rollout", "status", "--state", str(db), "-o", "json"])
    assert json.loads(status.stdout)["status"] == "rolled_back"

    staging_cluster = scenario.fleet_model.clusters[0]
    fresh = PacedSignals(PrometheusSignals(_config(prom.url), 30.0, eval_time=t_end - 1.0), TIME_SCALE)
    assert fresh.value("up", "staging", job="apiserver") == 1.0
    assert fresh.memory_limit_bytes("staging") == staging_cluster.memory_limit_bytes
    assert fresh.value("process_resident_memory_bytes", "staging") > 0
    # Per simulated second: 0.5 lookups/s per node reach CoreDNS. The counter and the simulated
    # clock are two targets scraped at different moments, so the reading is off by as much as
    # the simulator's pace varied between their scrapes: the bounds come from the scrapes
    # Prometheus took (timestamps and the clock's values), not from a constant a loaded machine
    # can exceed. Read over RATE_CHECK_SCRAPES scrape intervals: the bracket is ± one wide.
    per_sim_s = staging_cluster.nodes * 0.5
    check_window_s = rate_check_window_s(prom.url, "staging", t_end - 1.0, scrape_interval_s=SCRAPE_INTERVAL_S,
                                         time_scale=TIME_SCALE)
    over = PacedSignals(PrometheusSignals(_config(prom.url), check_window_s, eval_time=t_end - 1.0), TIME_SCALE)
    low, high = expected_paced_rate(prom.url, "staging", "coredns_dns_requests_total", per_sim_s, over,
                                    scrape_interval_s=SCRAPE_INTERVAL_S)
    got = over.rate("coredns_dns_requests_total", "staging")
    assert low * (1 - RATE_BASE_TOLERANCE) <= got <= high * (1 + RATE_BASE_TOLERANCE), (got, low, high)
    assert fresh.dns_probe_failure_ratio("staging") == 0.0  # the SERVFAIL ratio from CoreDNS's metrics
    stale = PrometheusSignals(_config(prom.url), 30.0, eval_time=t_end + 4 * SCRAPE_INTERVAL_S)
    for kind in ("apiserver_p99_latency", "apiserver_rejections", "apf_seat_utilisation", "apf_queue_wait",
                 "apiserver_memory", "dns_probe", "coredns_api_errors", "etcd_p99_latency", "workload_error_rate"):
        assert evaluate(GateSpec(kind=kind), stale, "staging").status == "no-data", kind
    assert stale.value("up", "staging", job="apiserver") is None
    assert "newer than 3s" in stale.explain("staging")


def test_main_cli_registers_the_exporter(runner):
    from waveguard.cli.main import app

    r = runner.invoke(app, ["exporter", "--help"])
    assert r.exit_code == 0 and "--time-scale" in r.stdout


def test_exporter_cli_serves_a_scenario_that_prometheus_scrapes(tmp_path):
    """``waveguard exporter --scrape-config``: the configuration it writes makes a real
    Prometheus scrape one target per cluster and component, each with its ``cluster`` label;
    Ctrl-C stops it cleanly."""
    import signal
    import subprocess
    import sys

    import yaml

    port = free_port()
    cfg = tmp_path / "scrape.yml"
    proc = subprocess.Popen([sys.executable, "-m", "waveguard.cli.main", "exporter", "--builtin",
                             demo.DEFAULT_SCENARIO, "--listen", f"127.0.0.1:{port}", "--time-scale", "10",
                             "--scrape-config", str(cfg), "--scrape-interval", "0.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not cfg.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert cfg.exists(), proc.communicate(timeout=5)
        server = PrometheusServer(tmp_path, yaml.safe_load(cfg.read_text())).start()
        try:
            deadline = time.monotonic() + 20
            up: list = []
            while time.monotonic() < deadline:
                up = server.query("count by (job) (up == 1)")
                if len(up) == 5 and all(int(u["value"][1]) == 25 for u in up):
                    break
                time.sleep(0.2)
            assert {u["metric"]["job"]: int(u["value"][1]) for u in up} == {
                "apiserver": 25, "coredns": 25, "kube-state-metrics": 25, "waveguard-sim": 25, "etcd": 25}
            clusters = server.query("count by (cluster) (apiserver_flowcontrol_nominal_limit_seats)")
            assert len(clusters) == 25
            # etcd's own series (issue 12), as a real etcd exposes them, for the etcd gate
            for name in ("etcd_network_client_grpc_sent_bytes_total", "etcd_server_leader_changes_seen_total",
                         "etcd_disk_wal_fsync_duration_seconds_bucket", "etcd_request_duration_seconds_bucket"):
                assert server.query(f"count({name})"), name
        finally:
            server.stop()
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "serving 25 clusters" in err


def test_the_same_promql_reads_a_real_kube_apiserver(fleet_prometheus, real_apiserver_metrics):
    """The gates' queries, unchanged, on a real kube-apiserver v1.35's /metrics scraped by the
    same Prometheus: the p99 of single-object requests and of APF queue waits per level equal
    ``histogram_quantile`` computed on the file itself (waveguard.signals.exposition), the
    seats, nominal limits and memory are the file's."""
    prom, _ = fleet_prometheus
    cfg = PrometheusConfig(url=prom.url, scrape_interval_s=SCRAPE_INTERVAL_S)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the rate window needs two scrapes of the target
        s = PrometheusSignals(cfg, 30.0)
        if s.value("apiserver_request_duration_seconds", "real-v1.35", scope="resource", quantile="0.99") is not None:
            break
        time.sleep(0.5)
    real = real_apiserver_metrics
    verbs = {x.labels["verb"] for x in real.series("apiserver_request_duration_seconds_bucket")} - {"WATCH", "CONNECT"}
    want = real.quantile(0.99, "apiserver_request_duration_seconds", {"scope": "resource", "verb": verbs})
    got = s.value("apiserver_request_duration_seconds", "real-v1.35", scope="resource", quantile="0.99")
    assert got == pytest.approx(want, rel=1e-6)
    r = evaluate(GateSpec(kind="apiserver_p99_latency"), s, "real-v1.35")
    assert r.status == "pass" and r.value == pytest.approx(want, rel=1e-6)
    for level in ("workload-low", "system", "node-high"):
        want = real.quantile(0.99, "apiserver_flowcontrol_request_wait_duration_seconds",
                             {"priority_level": level, "execute": "true"})
        got = s.value("apiserver_flowcontrol_request_wait_duration_seconds", "real-v1.35", priority_level=level,
                      quantile="0.99")
        assert (got is None and want is None) or got == pytest.approx(want, rel=1e-6), level
        assert s.value("apiserver_flowcontrol_nominal_limit_seats", "real-v1.35", priority_level=level) == \
            real.value("apiserver_flowcontrol_nominal_limit_seats", {"priority_level": level})
    assert s.value("process_resident_memory_bytes", "real-v1.35") == real.value("process_resident_memory_bytes")
    assert s.value("up", "real-v1.35", job="apiserver") == 1.0
    assert evaluate(GateSpec(kind="apf_seat_utilisation"), s, "real-v1.35").status == "pass"


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_exporter_stops_cleanly_on_sigterm_and_on_sigint_inherited_ignored(tmp_path, stop):
    """A background job of a non-interactive shell (CI, nohup) inherits SIGINT ignored, and Python
    then never raises KeyboardInterrupt: the exporter used to outlive Ctrl-C there. Started that
    way, it stops on SIGINT, and on SIGTERM (systemd, a container runtime), with exit 0 and its
    port closed."""
    import signal
    import socket
    import subprocess
    import sys

    port = free_port()
    log = tmp_path / "stderr"
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "waveguard.cli.main", "exporter", "--builtin",
                                 demo.DEFAULT_SCENARIO, "--listen", f"127.0.0.1:{port}", "--no-dns"],
                                stdout=subprocess.DEVNULL, stderr=err,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        deadline = time.monotonic() + 60
        while "serving" not in log.read_text() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "serving" in log.read_text(), log.read_text()
    finally:
        proc.send_signal(getattr(signal, stop))
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:  # still serving: never leave it behind
            proc.kill()
            proc.wait()
            raise
    assert proc.returncode == 0, log.read_text()
    assert "Traceback" not in log.read_text()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
