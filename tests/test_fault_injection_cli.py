"""Fault injection (issue 14) through the command line: pre-flight failures, a cluster down for
the whole rollback, and Prometheus stale, slow, or killed mid-run (a small fake Prometheus HTTP
API, and a real Prometheus from tests/prometheus_server.py) — against the **contract** stub
apiserver (tests/k8s_stub.py; no kube-apiserver can run here). The target's back-off runs on a
fake clock (the ``fake_time`` fixture replaces the ``time`` module of
``waveguard.rollout.k8s_target``); the rollout's own wall clock is real, with gate intervals of
0.2 s and no-data timeouts of 1–2 s, so what is asserted holds whatever the machine's speed (a
halt comes *after* the timeout, never at a time). Each test asserts what the user sees (exit
code, stdout, stderr) and what the state file holds (or that there is none).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
import yaml

from tests.k8s_stub import (  # noqa: F401  (apiservers_fixture: the stub's fixture)
    CHANGE, DS_PATH, FakeTime, apiservers_fixture, kubeconfig,
)
from waveguard.rollout.eventlog import EventLog, fold

class FakePrometheus:
    """A Prometheus HTTP API answering every query with ``value`` per cluster in ``up_clusters``
    (``max_over_time(up`` queries) or 0 (others); ``delay_s`` holds every answer back;
    ``stale``: an empty vector (what the freshness guard leaves of old samples)."""

    def __init__(self, up_clusters: list[str], fail_latency_on: str | None = None) -> None:
        self.up_clusters, self.fail_latency_on = up_clusters, fail_latency_on
        self.stale = False
        self.delay_s = 0.0
        self.drip_s = 0.0  # between two bytes of the body
        self.on_gate = None
        prom = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's name)
                import time as _time

                q = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())["query"][0]
                _time.sleep(prom.delay_s)
                body = json.dumps({"status": "success", "data": {"resultType": "vector",
                                                                 "result": prom.result(q)}}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                step = 1 if prom.drip_s else len(body)
                try:
                    for i in range(0, len(body), step):
                        self.wfile.write(body[i:i + step])
                        self.wfile.flush()
                        _time.sleep(prom.drip_s)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on the drip, as it should

            def log_message(self, *a) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def result(self, q: str) -> list:
        if self.stale:
            return []
        if "max_over_time(up" in q:
            return [{"metric": {"cluster": c}, "value": [0, "1"]} for c in self.up_clusters]
        if "apiserver_request_duration_seconds" in q:
            if self.on_gate is not None:
                self.on_gate()
            return [{"metric": {"cluster": c}, "value": [0, "9" if c == self.fail_latency_on else "0.1"]}
                    for c in self.up_clusters]
        return [{"metric": {"cluster": c}, "value": [0, "0"]} for c in self.up_clusters]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(name="fake_time")
def fake_time_fixture(monkeypatch):
    """Back-off of the Kubernetes target on a fake clock, inside the CLI too."""
    fake = FakeTime()
    monkeypatch.setattr("waveguard.rollout.k8s_target.time", fake)
    return fake


def cli_files(tmp_path, stubs, prom_url, plan_extra=None, k8s_extra=None, bake_s=0.6):
    path, contexts = kubeconfig(tmp_path, stubs)
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(yaml.safe_dump({"clusters": [{"name": n, "labels": {"env": "prod"}, "nodes": s.nodes}
                                                  for n, s in stubs.items()]}))
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({
        "change": str(CHANGE), "gate_interval_s": 0.2,
        "waves": [{"name": "half", "clusters": {"names": list(stubs)}, "node_share": 0.5, "bake_s": bake_s}],
        "gates": [{"kind": "apiserver_p99_latency"}], **(plan_extra or {})}))
    backend = tmp_path / "backend.yaml"
    backend.write_text(yaml.safe_dump({"kubernetes": {"contexts": contexts, "qps": 1000, "burst": 1000,
                                                      **(k8s_extra or {})}}))
    db = tmp_path / "s.db"
    args = ["rollout", "start", str(plan), "--fleet", str(fleet), "--force", "--state", str(db),
            "--target", "kubernetes", "--kubeconfig", str(path), "--backend-config", str(backend),
            "--signals", "prometheus", "--prometheus-url", prom_url, "--scrape-interval", "0.1"]
    return args, db, path


def test_cli_rollback_with_one_cluster_down_reports_it_pending_and_resume_finishes(
        tmp_path, apiservers, runner, fake_time):
    from waveguard.cli.main import app

    stubs = {"prod-a": apiservers(nodes=2), "prod-b": apiservers(nodes=2)}
    prom = FakePrometheus(list(stubs), fail_latency_on="prod-a")
    prom.on_gate = lambda: setattr(stubs["prod-b"], "down", True)  # prod-b goes down once the gates read
    try:
        args, db, _ = cli_files(tmp_path, stubs, prom.url, k8s_extra={"cluster_deadline_s": 60})
        r = runner.invoke(app, args)
        assert r.exit_code == 1, r.output
        assert "rollback pending on prod-b" in r.stdout and "resume retries" in r.stdout
        assert "prod-a: rolled_back" in r.stdout  # each cluster's rollback state
        state = fold(EventLog(db).events())
        assert state.status == "rolling_back" and state.rolled_back == {"prod-a"}
        assert set(state.rollback_pending) == {"prod-b"}
        assert stubs["prod-a"].objects == {} and DS_PATH in stubs["prod-b"].objects
        r = runner.invoke(app, ["rollout", "status", "--state", str(db), "-o", "json"])
        assert json.loads(r.stdout)["clusters"]["prod-b"] == "rollback_pending"
        stubs["prod-b"].down = False
        r = runner.invoke(app, ["rollout", "resume", "--state", str(db)])
        assert "status: rolled_back" in r.stdout, r.output
        assert fold(EventLog(db).events()).rollback_pending == {} and stubs["prod-b"].objects == {}
    finally:
        prom.close()


@pytest.mark.parametrize("problem", ["prometheus_down", "not_scraped", "kubeconfig_missing", "context_missing",
                                     "apiserver_down", "denied"])
def test_preflight_failures_exit_2_with_the_reason_and_write_nothing(
        tmp_path, apiservers, runner, fake_time, problem):
    from tests.prometheus_server import free_port
    from waveguard.cli.main import app

    stub = apiservers(nodes=2)
    stubs = {"prod-a": stub}
    prom = FakePrometheus([] if problem == "not_scraped" else ["prod-a"])
    try:
        url = f"http://127.0.0.1:{free_port()}" if problem == "prometheus_down" else prom.url
        args, db, path = cli_files(tmp_path, stubs, url)
        if problem == "kubeconfig_missing":
            path.unlink()
        if problem == "context_missing":
            (tmp_path / "backend.yaml").write_text(yaml.safe_dump({"kubernetes": {"contexts": {"prod-a": "nope"}}}))
        if problem == "apiserver_down":
            stub.down = True
        if problem == "denied":
            stub.denied.add(("patch", "nodes"))
        r = runner.invoke(app, args)
        assert r.exit_code == 2, r.output
        expected = {"prometheus_down": "unreachable", "not_scraped": "does not scrape that cluster",
                    "kubeconfig_missing": "cannot load kubeconfig", "context_missing": "'nope'",
                    "apiserver_down": "no answer", "denied": "may not patch nodes"}[problem]
        assert expected in r.stderr and "nothing was written" in r.stderr and "Traceback" not in r.output
        assert not db.exists()
        assert not [x for x in stub.requests if x.method in ("PATCH", "DELETE")]  # nothing applied
    finally:
        prom.close()


@pytest.mark.parametrize("mode", ["stale", "slow", "drip", "killed"])
def test_prometheus_failing_mid_run_pauses_then_halts_past_no_data_timeout(
        tmp_path, apiservers, runner, fake_time, mode):
    """Prometheus answers the pre-flight, then goes stale (no fresh samples), slow (past its
    timeout), drips its answers byte by byte, or goes away: the gates have no data, the rollout pauses, keeps evaluating, and past
    ``no_data_timeout_s`` halts and rolls back. Wall-clock bound: 1.5 s of rollout time."""
    from waveguard.cli.main import app

    stub = apiservers(nodes=2)
    prom = FakePrometheus(["prod-a"])

    def fail() -> None:
        if mode == "stale":
            prom.stale = True
        elif mode == "slow":
            prom.delay_s = 2.0
        elif mode == "drip":
            prom.drip_s = 0.05  # ~100 bytes: 5 s for the answer, past the 0.3 s timeout
        else:
            threading.Thread(target=prom.close, daemon=True).start()

    prom.on_gate = fail
    try:
        args, db, _ = cli_files(tmp_path, {"prod-a": stub}, prom.url, plan_extra={"no_data_timeout_s": 1.0},
                                    bake_s=60)
        backend = tmp_path / "backend.yaml"
        conf = yaml.safe_load(backend.read_text())
        conf["prometheus"] = {"timeout_s": 0.3}
        backend.write_text(yaml.safe_dump(conf))
        r = runner.invoke(app, args)
        assert r.exit_code == 1, r.output
        events = EventLog(db).events()
        paused = [e for e in events if e.kind == "paused"]
        assert paused and paused[0].data["no_data"] and "no data on prod-a" in paused[0].data["reason"]
        said = {"stale": ("has no sample of",), "slow": ("did not answer within 0.3 s",),
                "drip": ("did not answer within 0.3 s",),
                "killed": ("is unreachable", "did not answer within 0.3 s")}[mode]  # closing: refused or unanswered
        assert any(text in paused[0].data["reason"] for text in said), paused[0].data["reason"]
        state = fold(events)
        assert state.status == "rolled_back" and "no_data_timeout_s 1" in state.halt["reason"]
        assert not state.passed_waves and stub.objects == {}
        assert "status: rolled_back" in r.stdout
    finally:
        if mode != "killed":
            prom.close()


def test_a_real_prometheus_killed_mid_run_pauses_the_rollout_then_it_halts_and_rolls_back(
        tmp_path, apiservers, runner, fake_time):
    """A real Prometheus (tests/prometheus_server.py) scrapes the stub apiserver's /metrics as
    cluster prod-a: the pre-flight sees its ``up``, the memory gate reads it; Prometheus is
    stopped when the DaemonSet is applied. The gates are then unreachable: the rollout pauses
    with that reason and, past ``no_data_timeout_s`` (2 s), halts and rolls back."""
    import time

    from tests.prometheus_server import PrometheusServer
    from waveguard.cli.main import app

    stub = apiservers(nodes=2)
    host = stub.url.removeprefix("http://")
    prom = PrometheusServer(tmp_path, {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                                       "scrape_configs": [{"job_name": "apiserver", "static_configs": [
                                           {"targets": [host], "labels": {"cluster": "prod-a"}}]}]}).start()
    try:
        deadline = time.monotonic() + 30
        while not prom.query('up{cluster="prod-a"}') and time.monotonic() < deadline:
            time.sleep(0.2)
        assert prom.query('up{cluster="prod-a"}'), "Prometheus never scraped the stub"
        # stopped before the apply is answered: every gate evaluation after it finds no Prometheus
        stub.on_request = lambda r: r.method == "PATCH" and r.path == DS_PATH and prom.stop()
        args, db, _ = cli_files(tmp_path, {"prod-a": stub}, prom.url, plan_extra={
            "no_data_timeout_s": 2.0, "gates": [{"kind": "apiserver_memory"}]}, bake_s=60)
        fleet = tmp_path / "fleet.yaml"
        fleet.write_text(yaml.safe_dump({"clusters": [{"name": "prod-a", "labels": {"env": "prod"}, "nodes": 2,
                                                       "apiserver_memory_bytes": 4e9}]}))
        r = runner.invoke(app, [a if a != "0.1" else "1" for a in args])  # --scrape-interval 1
        assert r.exit_code == 1, r.output
        events = EventLog(db).events()
        paused = [e for e in events if e.kind == "paused"]
        assert paused and "is unreachable" in paused[0].data["reason"]
        state = fold(events)
        assert state.status == "rolled_back" and "no_data_timeout_s 2" in state.halt["reason"]
        assert stub.objects == {} and "status: rolled_back" in r.stdout
    finally:
        prom.stop()


