"""PrometheusSignals, the exporter and the rollout when Prometheus fails — no Prometheus needed.

A stub HTTP server on 127.0.0.1 plays a Prometheus that answers, errs (HTTP 500, garbage, a
runaway body), is slow or is not there: every failure is no-data (never a pass), the rollout
pauses with the reason, and a failing Prometheus is asked once per evaluation, not per figure.
The exporter's output is checked against the real components' /metrics files
(``../shared/inputs/metrics``) and its simulated CoreDNS with the real DNS probe.
"""

from __future__ import annotations

import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import numpy as np
import pytest

from tests.conftest import INPUTS, require_shared
from tests.prometheus_server import free_port
from waveguard.model.fleet import Cluster, Fleet
from waveguard.rollout.engine import Engine
from waveguard.rollout.eventlog import EventLog
from waveguard.rollout.gates import evaluate
from waveguard.rollout.paced import PacedSimTarget
from waveguard.rollout.paced_signals import PacedSignals
from waveguard.rollout.plan import ClusterSelector, GateSpec, Plan, Wave
from waveguard.rollout.simtarget import SimTarget
from waveguard.sim.options import SimulatorOptions
from waveguard.sim.phases.recording import EVERY_STEP
from waveguard.signals.dns import probe_authoritative
from waveguard.signals.exposition import histogram_quantile, parse_exposition, read_exposition
from waveguard.signals.prometheus import PrometheusConfig, PrometheusSignals
from waveguard.sim.exporter import (
    REQUEST_DURATION_BUCKETS, WAIT_DURATION_BUCKETS, FleetExporter, dns_zone, exponential_cdf, scrape_config,
)

METRICS = INPUTS / "metrics"


class StubPrometheus:
    """``/api/v1/query`` answering per ``mode``: ok (``vector`` samples), 500, garbage, huge,
    slow. Records the queries it got."""

    def __init__(self, mode: str = "ok", vector: list | None = None, delay_s: float = 0.0) -> None:
        self.mode, self.vector, self.delay_s = mode, vector or [], delay_s
        self.queries: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                stub.queries.append({k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()})
                if stub.mode == "slow":
                    time.sleep(stub.delay_s)
                if stub.mode == "500":
                    body, status = b'{"status":"error","errorType":"internal","error":"storage is on fire"}', 500
                elif stub.mode == "garbage":
                    body, status = b"<html>proxy error</html>", 200
                elif stub.mode == "huge":
                    body, status = b'{"status":"success","data":{"resultType":"vector","result":[' + b" " * (2 << 20) + b"]}}", 200
                else:
                    body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": stub.vector}}).encode()
                    status = 200
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

            def log_message(self, *a) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub():
    made: list[StubPrometheus] = []

    def make(*a, **kw) -> StubPrometheus:
        made.append(StubPrometheus(*a, **kw))
        return made[-1]

    yield make
    for s in made:
        s.close()


def _sample(cluster: str, value, **labels) -> dict:
    return {"metric": {"cluster": cluster, **labels}, "value": [time.time(), str(value)]}


# --- queries ---------------------------------------------------------------------------------

def test_one_documented_query_per_figure():
    s = PrometheusSignals(PrometheusConfig(url="http://127.0.0.1:9", scrape_interval_s=30), 30.0)
    assert s.W == "120s" and s.F == "90s"  # rate window ≥ 4 scrapes; freshness 3 scrapes
    expr, by = s.histogram_query("apiserver_request_duration_seconds", 0.99, {"scope": "resource"})
    assert expr == ('(histogram_quantile(0.99, sum by (cluster, le) (rate(apiserver_request_duration_seconds_bucket'
                    '{job="apiserver",scope="resource",verb!~"WATCH|CONNECT"}[120s])))) and on (cluster) (count by '
                    '(cluster) (count_over_time(apiserver_request_duration_seconds_bucket{job="apiserver",'
                    'scope="resource",verb!~"WATCH|CONNECT"}[90s])))')
    expr, by = s.rate_query("apiserver_flowcontrol_rejected_requests_total", {"priority_level": "workload-low"})
    assert by == ("cluster", "priority_level")
    assert expr.startswith('(sum by (cluster, priority_level) (rate(apiserver_flowcontrol_rejected_requests_total'
                           '{job="apiserver",priority_level=~"system|node-high|leader-election|workload-high|'
                           'workload-low|global-default|catch-all"}[120s]))) and on (cluster, priority_level)')
    expr, _ = s.gauge_query("up", {"job": "apiserver"})
    assert expr == 'sum by (cluster) (max_over_time(up{job="apiserver"}[90s]))'
    expr, _ = s.gauge_query("kube_pod_container_resource_limits", {"resource": "memory", "container": "kube-apiserver"})
    assert expr == ('max by (cluster) (last_over_time(kube_pod_container_resource_limits{container="kube-apiserver",'
                    'resource="memory"}[90s]))')
    expr, _ = s.rate_query("coredns_kubernetes_rest_client_requests_total", {"code": "5xx"})
    assert 'code=~"5.."' in expr
    # Gate interval 30 s at 100 simulated s per wall s: the window is 4 scrapes, not 0.3 s.
    fast = PrometheusSignals(PrometheusConfig(url="http://127.0.0.1:9", scrape_interval_s=1, time_scale=100), 30.0)
    assert fast.W == "4s" and fast.F == "3s"


def test_values_per_cluster_and_level_nan_is_no_data_and_rates_per_simulated_second(stub):
    p = stub(vector=[_sample("a", 3.0, priority_level="workload-low"), _sample("a", "NaN", priority_level="system"),
                     _sample("b", "+Inf", priority_level="workload-low")])
    cfg = PrometheusConfig(url=p.url, scrape_interval_s=1, time_scale=10)
    s = PacedSignals(PrometheusSignals(cfg, 30.0), cfg.time_scale, measure_clock=False)
    assert s.rate("apiserver_flowcontrol_rejected_requests_total", "a", priority_level="workload-low") == 0.3
    assert s.rate("apiserver_flowcontrol_rejected_requests_total", "a", priority_level="system") is None
    assert s.rate("apiserver_flowcontrol_rejected_requests_total", "b", priority_level="workload-low") is None
    assert s.rate("apiserver_flowcontrol_rejected_requests_total", "c", priority_level="workload-low") is None
    assert len(p.queries) == 1  # one query served every level and cluster
    assert p.queries[0]["timeout"] == "5s"
    assert "newer than" in s.explain("c")


@pytest.mark.parametrize("mode,expect", [("500", "answered HTTP 500: storage is on fire"),
                                         ("garbage", "not a Prometheus API answer"),
                                         ("huge", "more than 1048576 bytes"),
                                         ("slow", "did not answer within 0.3 s")])
def test_a_failing_prometheus_is_no_data_for_every_gate_and_asked_once(stub, mode, expect):
    """Bounded by what is asked, not by a wall-clock figure (no test depends on the machine's
    speed): one query for the nine gates, and the slow one given up at the 0.3 s time-out (the
    stub would answer after 1.5 s, and its answer is not what the gates read)."""
    p = stub(mode, delay_s=1.5)
    s = PrometheusSignals(PrometheusConfig(url=p.url, scrape_interval_s=1, timeout_s=0.3, max_response_bytes=1 << 20), 30.0)
    results = [evaluate(GateSpec(kind=k), s, "a") for k in (
        "apiserver_p99_latency", "apiserver_rejections", "apf_seat_utilisation", "apf_queue_wait", "apiserver_memory",
        "dns_probe", "coredns_api_errors", "etcd_p99_latency", "workload_error_rate")]
    assert {r.status for r in results} == {"no-data"}
    assert all(expect in r.detail for r in results), results[0].detail
    assert len(p.queries) == 1  # the first failure ends this evaluation's queries: no retry storm


def test_unreachable_prometheus_is_no_data():
    s = PrometheusSignals(PrometheusConfig(url=f"http://127.0.0.1:{free_port()}", timeout_s=1), 30.0)
    r = evaluate(GateSpec(kind="apiserver_p99_latency"), s, "a")
    assert r.status == "no-data" and "is unreachable" in r.detail


def test_dns_probe_timeouts_fail_the_gate_and_a_bad_probe_configuration_is_no_data():
    """A CoreDNS that does not answer within the timeout fails the probe (not answering *is* the
    signal, signals/dns.py), in parallel and bounded in time; a probe that cannot be made is
    no-data with the reason."""
    import socket

    from waveguard.signals.prometheus import DNSConfig, DNSTarget

    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))  # receives, never answers
    try:
        dns = DNSConfig(probes=3, timeout_s=0.3, clusters={
            "a": DNSTarget(server="127.0.0.1", port=silent.getsockname()[1], zone="cluster.local"),
            "b": DNSTarget(server="not-an-address", zone="cluster.local")})
        s = PrometheusSignals(PrometheusConfig(url=f"http://127.0.0.1:{free_port()}"), 30.0, dns=dns)
        r = evaluate(GateSpec(kind="dns_probe"), s, "a")
        assert r.status == "fail" and r.value == 1.0  # every probe timed out (parallel: see below)
        r = evaluate(GateSpec(kind="dns_probe"), s, "b")
        assert r.status == "no-data" and "invalid probe" in r.detail
    finally:
        silent.close()


def _answer_when_all_arrived(sock, n: int) -> None:
    """Receive ``n`` DNS queries on ``sock``, then answer each (authoritative NXDOMAIN)."""
    import dns.flags
    import dns.message
    import dns.rcode

    sock.settimeout(60)
    queries = [sock.recvfrom(512) for _ in range(n)]
    for data, address in queries:
        response = dns.message.make_response(dns.message.from_wire(data))
        response.flags |= dns.flags.AA
        response.set_rcode(dns.rcode.NXDOMAIN)
        sock.sendto(response.to_wire(), address)


def test_dns_probes_run_in_parallel():
    """A server that answers only once all three probes have arrived: probes sent one after the
    other would wait for it in turn and the first would fail at its time-out; in parallel every
    one passes. Shown by the outcome, not by a wall-clock bound (the time-out is only a limit on
    a broken run)."""
    import socket

    from waveguard.signals.prometheus import DNSConfig, DNSTarget

    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    answering = threading.Thread(target=_answer_when_all_arrived, args=(server, 3), daemon=True)
    answering.start()
    try:
        dns = DNSConfig(probes=3, timeout_s=10, latency_threshold_s=30, clusters={
            "a": DNSTarget(server="127.0.0.1", port=server.getsockname()[1], zone="cluster.local")})
        s = PrometheusSignals(PrometheusConfig(url=f"http://127.0.0.1:{free_port()}"), 30.0, dns=dns)
        assert s.dns_probe_failure_ratio("a") == 0.0, s.explain("a")
    finally:
        answering.join(timeout=60)
        server.close()


def test_memory_limit_falls_back_to_the_fleet_file_and_no_limit_is_no_data(stub):
    p = stub(vector=[])
    s = PrometheusSignals(PrometheusConfig(url=p.url), 30.0, memory_limits={"a": 8 << 30})
    assert s.memory_limit_bytes("a") == 8 << 30
    assert s.memory_limit_bytes("b") is None


def test_bad_configuration_is_an_input_error():
    from waveguard.model.errors import InputError
    from waveguard.signals.prometheus import load_config

    with pytest.raises(InputError, match="prometheus.url"):
        load_config({"prometheus": {"url": "ftp://x"}})
    with pytest.raises(InputError, match="dns.clusters.a.port"):
        load_config({"dns": {"clusters": {"a": {"server": "10.0.0.10", "port": 0}}}})
    with pytest.raises(InputError, match="unknown key"):
        load_config({"prometheus": {"url": "http://p:9090", "scrape_intervall_s": 1}})


# --- the rollout pauses ------------------------------------------------------------------------

def _tiny():
    fleet = Fleet(clusters=[Cluster(name="staging", labels={"env": "staging"}, nodes=50),
                            Cluster(name="prod", labels={"env": "prod"}, nodes=500)])
    plan = Plan(change="x", waves=[Wave(name="staging", clusters=ClusterSelector(names=["staging"]), bake_s=300)],
                gates=[GateSpec(kind="apiserver_p99_latency"), GateSpec(kind="apiserver_memory")], gate_interval_s=30,
                no_data_timeout_s=60)
    return fleet, plan


@pytest.mark.parametrize("mode", ["unreachable", "500", "slow"])
def test_rollout_pauses_when_prometheus_fails(stub, tmp_path, mode):
    fleet, plan = _tiny()
    prometheus = None if mode == "unreachable" else stub(mode, delay_s=3)
    url = f"http://127.0.0.1:{free_port()}" if prometheus is None else prometheus.url
    cfg = PrometheusConfig(url=url, scrape_interval_s=0.05, time_scale=1000, timeout_s=0.5)
    notes: list[str] = []
    target = PacedSimTarget(SimTarget(fleet, [], SimulatorOptions(seed=1)), cfg, listen="127.0.0.1:0", log=notes.append)
    try:
        log = EventLog(str(tmp_path / "s.db"), create=True)
        state = Engine(plan=plan, fleet=fleet, target=target, log=log, analysed_profiles=[]).run()
    finally:
        target.close()
    # Issue 14: the pause is as before, then the engine re-evaluates on its own and, with no data
    # past the plan's no_data_timeout_s, halts and rolls back.
    paused = [e for e in log.events() if e.kind == "paused"]
    assert paused and "has no data on staging" in paused[0].data["reason"]
    assert {"unreachable": "is unreachable", "500": "HTTP 500", "slow": "did not answer within 0.5 s"}[mode] \
        in paused[0].data["reason"]
    assert state.status == "rolled_back" and "no_data_timeout_s 60" in state.halt["reason"]
    assert notes[0].startswith("serving the simulated fleet at http://127.0.0.1:")
    assert "Prometheus has not scraped" in notes[1]  # nobody scraped the exporter either
    # Bounded by the plan, not by a wall-clock figure (which depended on the machine's speed): an
    # evaluation every gate_interval_s (30 s) until no_data_timeout_s (60 s) past the pause, each
    # asking Prometheus once (no retries), a slow one given up at its 0.5 s time-out (above).
    evaluations = sorted({e.t for e in log.events() if e.kind == "gate"})
    assert evaluations == [30.0, 60.0, 90.0, 120.0]
    if prometheus is not None:
        assert len(prometheus.queries) == len(evaluations)
    assert not [e for e in log.events() if e.kind == "wave_passed"]


def test_a_restarted_paced_target_replays_the_log_after_its_warm_up(tmp_path):
    """After a crash the fleet is rebuilt: the baseline before t = 0, the logged applies at their
    times (shifted by the same offset), then time passes while Prometheus catches up."""
    from waveguard.rollout.eventlog import Event, fold

    fleet, _ = _tiny()
    cfg = PrometheusConfig(url=f"http://127.0.0.1:{free_port()}", scrape_interval_s=0.05, time_scale=2000)
    target = PacedSimTarget(SimTarget(fleet, [], SimulatorOptions(seed=1)), cfg, listen="127.0.0.1:0", log=lambda m: None)
    try:
        events = [Event(1, 0.0, "started", None, None, {}), Event(2, 0.0, "applied", 0, "staging", {"share": 1.0}),
                  Event(3, 600.0, "applied", 1, "prod", {"share": 0.5}),
                  Event(4, 900.0, "rolled_back", 1, "prod", {})]
        target.restore(fold(events))
        assert target.inner.shares == {"staging": 1.0, "prod": 0.0}
        assert target.offset == target.warmup_s  # applies happened: the rollout clock keeps its origin
        assert target.now() >= 900.0
        share = target.sim.reader.series("waveguard_sim_rollout_share", "prod")
        t = target.sim.reader.times - target.offset
        assert share[(t > 650) & (t < 880)].max() > 0 and share[t < 590].max() == 0  # applied at 600, not before
        fresh = PacedSimTarget(SimTarget(fleet, [], SimulatorOptions(seed=1)), cfg, listen="127.0.0.1:0", log=lambda m: None)
        try:
            fresh.restore(fold([Event(1, 0.0, "started", None, None, {})]))
            assert fresh.now() == pytest.approx(0.0)  # nothing applied yet: the rollout starts now
        finally:
            fresh.close()
    finally:
        target.close()


# --- the exporter --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def running():
    from waveguard.sim import load_builtin

    target = SimTarget.for_scenario(load_builtin("incident-2024-12-11"), recording=EVERY_STEP)  # a live exporter
    exporter = FleetExporter(target.sim, dns=True)
    target.apply("prod-24-7500", 0.01)
    target.advance(120)
    exporter.update()
    return target, exporter


@pytest.mark.parametrize("component,real", [("apiserver", "kube-apiserver-v1.35-nri-kubernetes.prom"),
                                            ("coredns", "coredns-datadog-fixture-metrics_18.txt")])
def test_exporter_speaks_the_real_components_names_and_labels(running, component, real):
    require_shared(METRICS / real)
    _, exporter = running
    ours = parse_exposition(exporter.exposition("prod-24-7500", component).decode())
    theirs = read_exposition(METRICS / real)
    # A labelled counter appears only once incremented; the sample apiserver rejected nothing. Its
    # labels per kube-apiserver's apf metrics.go (domain.md §5 names it).
    real_labels: dict[str, set[str]] = {
        "apiserver_flowcontrol_rejected_requests_total": {"flow_schema", "priority_level", "reason"}}
    for name in theirs.names():
        for sample in theirs.series(name):
            real_labels.setdefault(name, set()).update(sample.labels)
    for name in ours.names():
        assert name in real_labels, f"{name} is not exposed by the real {component}"
        for sample in ours.series(name):
            assert set(sample.labels) <= real_labels[name] | {"le"}, (name, sample.labels)


def test_exporter_histograms_give_back_the_simulators_p99(running):
    target, exporter = running
    # An exponential with p99 = 1 s puts exactly 99 % at the 1 s bound; any p99 within a bucket.
    for p99 in (0.0, 0.003, 0.3, 1.0, 2.5, 12.0):
        cdf = exponential_cdf(REQUEST_DURATION_BUCKETS, np.array(p99))
        q = histogram_quantile(0.99, list(zip(REQUEST_DURATION_BUCKETS + (math.inf,), [*cdf, 1.0], strict=True)))
        lo = max([b for b in (0.0,) + REQUEST_DURATION_BUCKETS if b < p99], default=0.0)
        hi = min(b for b in REQUEST_DURATION_BUCKETS if b >= p99)
        assert lo <= q <= hi
        if p99 in REQUEST_DURATION_BUCKETS:
            assert q == pytest.approx(p99)
    assert exponential_cdf(WAIT_DURATION_BUCKETS, np.array(0.0))[0] == 1.0  # no wait: all in le="0"
    text = parse_exposition(exporter.exposition("staging", "apiserver").decode())
    latest = target.sim.reader.latest("apiserver_request_duration_seconds", scope="resource")[0]
    q = text.quantile(0.99, "apiserver_request_duration_seconds", {"scope": "resource"})
    assert q is not None and q >= 0 and (latest < 0.005 or q == pytest.approx(latest, rel=1.0))


def test_exporter_serves_503_while_no_apiserver_replica_is_up_so_prometheus_records_up_0():
    import httpx

    fleet = Fleet(clusters=[Cluster(name="c", nodes=100, apiserver_replicas=1)])
    target = SimTarget(fleet, [], SimulatorOptions(seed=1), EVERY_STEP)  # a live exporter reads the latest frame
    target.advance(5)
    with FleetExporter(target.sim, dns=False) as exporter:
        assert httpx.get(f"{exporter.url}/metrics/c/apiserver").status_code == 200
        target.sim.hold_apiserver_down("c", 0, until_s=1000)
        target.advance(1)
        exporter.update()
        assert httpx.get(f"{exporter.url}/metrics/c/apiserver").status_code == 503
        assert httpx.get(f"{exporter.url}/metrics/c/coredns").status_code == 200  # CoreDNS still answers
        assert httpx.get(f"{exporter.url}/metrics/nope/apiserver").status_code == 404
        assert exporter.scrapes("/metrics/c/apiserver") == 2


def test_simulated_coredns_answers_the_real_probe_and_fails_its_share():
    fleet = Fleet(clusters=[Cluster(name="c", nodes=100)])
    target = SimTarget(fleet, [], SimulatorOptions(seed=1), EVERY_STEP)  # a live exporter reads the latest frame
    target.advance(5)
    exporter = FleetExporter(target.sim, dns=True).start()
    try:
        zone = dns_zone("c")
        ok = probe_authoritative("127.0.0.1", zone, port=exporter.port)
        assert ok.status == "pass" and ok.data["rcode"] == "NXDOMAIN" and ok.data["authoritative"]
        outside = probe_authoritative("127.0.0.1", "svc.cluster.local", port=exporter.port)
        assert outside.status == "fail" and outside.data["rcode"] == "REFUSED"
        snap = exporter._snapshot
        object.__setattr__(snap, "dns_fail_ratio", np.array([0.5]))  # half of CoreDNS's answers fail
        statuses = [probe_authoritative("127.0.0.1", zone, port=exporter.port).status for _ in range(6)]
        assert statuses.count("fail") == 3
    finally:
        exporter.close()


def test_scrape_config_one_target_per_cluster_and_component():
    cfg = scrape_config(["a", "b"], "127.0.0.1:9464", scrape_interval_s=0.5)
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    assert set(jobs) == {"apiserver", "coredns", "kube-state-metrics", "waveguard-sim", "etcd"}
    assert jobs["apiserver"]["scrape_interval"] == "500ms"
    assert [sc["labels"] for sc in jobs["coredns"]["static_configs"]] == [
        {"cluster": "a", "__metrics_path__": "/metrics/a/coredns"},
        {"cluster": "b", "__metrics_path__": "/metrics/b/coredns"}]


def test_exporter_listens_on_loopback_only():
    from waveguard.model.errors import InputError
    from waveguard.sim.exporter import parse_listen

    assert parse_listen("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert parse_listen("localhost:1") == ("127.0.0.1", 1)
    for bad in ("0.0.0.0:9464", "10.0.0.1:9464", "127.0.0.1:99999", "nonsense"):
        with pytest.raises(InputError):
            parse_listen(bad)


# --- CLI bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("args,needle", [
    (["--signals", "prometheus"], "no Prometheus URL"),
    (["--signals", "prometheus", "--prometheus-url", "http://127.0.0.1:9"], "needs --serve-metrics"),
    (["--signals", "prometheus", "--prometheus-url", "http://127.0.0.1:9", "--serve-metrics", "0.0.0.0:9464"],
     "not a loopback address"),
    (["--signals", "prometheus", "--prometheus-url", "http://127.0.0.1:9", "--serve-metrics", "127.0.0.1:0"],
     "give a fixed port"),
    (["--prometheus-url", "http://127.0.0.1:9"], "only used with --signals prometheus"),
    (["--signals", "carrier-pigeon"], "unknown signals"),
    (["--target", "kubernetes"], "real clusters need --signals prometheus"),
    (["--signals", "prometheus", "--prometheus-url", "gopher://x"], "prometheus.url"),
])
def test_rollout_start_bad_backend_options_are_one_line_exit_2(runner, tmp_path, args, needle):
    from tests.conftest import EXAMPLES
    from waveguard.cli.main import app

    plan = tmp_path / "plan.yaml"
    assert runner.invoke(app, ["plan", str(EXAMPLES / "incident-telemetry"), "--output-file", str(plan)]).exit_code == 0
    r = runner.invoke(app, ["rollout", "start", str(plan), "--state", str(tmp_path / "s.db"), *args])
    assert r.exit_code == 2, r.output
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_backend_config_file_with_an_unknown_section_is_exit_2(runner, tmp_path):
    from tests.conftest import EXAMPLES
    from waveguard.cli.main import app

    plan = tmp_path / "plan.yaml"
    runner.invoke(app, ["plan", str(EXAMPLES / "incident-telemetry"), "--output-file", str(plan)])
    conf = tmp_path / "backend.yaml"
    conf.write_text("prometheus: {url: 'http://127.0.0.1:9'}\ngrafana: {}\n")
    r = runner.invoke(app, ["rollout", "start", str(plan), "--backend-config", str(conf), "--signals", "prometheus"])
    assert r.exit_code == 2 and "prometheus, dns and kubernetes" in r.stderr
