"""The Kubernetes target against the **contract** of kube-apiserver, not a kube-apiserver.

No kube-apiserver binary can run on these machines (no etcd, no container runtime, no
privileges for one), so what is tested is the contract: the exact HTTP requests the target sends
through the ``kubernetes`` client — methods, paths, query parameters (``fieldManager``,
``force``, ``labelSelector``, ``limit``, ``resourceVersion``, ``propagationPolicy``), content
types (``application/apply-patch+yaml`` for server-side apply, ``application/merge-patch+json``
for node labels), the bearer token of the kubeconfig context — recorded by a stub apiserver on
127.0.0.1, and every object body validated against the Kubernetes OpenAPI schema
(kubernetes-validate, strict). The stub keeps the objects and node labels the requests leave
behind, so outcomes (who runs where, what a rollback restored) are checked too. The whole path
against a real cluster: ``tests/test_k8s_target_live.py`` (set ``WAVEGUARD_TEST_KUBECONFIG``).
"""

from __future__ import annotations

import copy
import json
import threading

import kubernetes_validate
import pytest
import yaml

from tests.k8s_stub import (  # noqa: F401  (apiservers_fixture: the stub's fixture)
    CHANGE, DS_PATH, K8S_VERSION, PATHS, TOKEN, FakeTime, StubApiserver, apiservers_fixture, kubeconfig, labelled,
    with_discovery,
)
from waveguard.analysis import load_change
from waveguard.model.errors import InputError
from waveguard.model.fleet import Cluster, Fleet
from waveguard.rollout.engine import Engine
from waveguard.rollout.eventlog import EventLog, fold
from waveguard.rollout.k8s_target import (
    KubernetesActuator, KubernetesConfig, KubernetesError, NODE_LABEL, TokenBucket, with_wave_affinity,
)
from waveguard.rollout.plan import ClusterSelector, GateSpec, Plan, Wave
from waveguard.rollout.ports import Backend, Readings, SignalSource, WallClock

def target_for(tmp_path, servers: dict[str, StubApiserver], fake_time: FakeTime | None = None,
               **config) -> KubernetesActuator:
    """The target over ``servers``; back-off waits on ``fake_time`` (a fresh one by default)."""
    path, contexts = kubeconfig(tmp_path, servers)
    fleet = Fleet(clusters=[Cluster(name=n, labels={"env": "prod"}, nodes=s.nodes) for n, s in servers.items()])
    config = {"qps": 1000.0, "burst": 1000, **config}  # the default 5/s is tested on its own below
    cfg = KubernetesConfig(kubeconfig=str(path), contexts=contexts, **config)
    fake_time = fake_time or FakeTime()
    return KubernetesActuator(fleet, load_change([str(CHANGE)]), cfg, clock=fake_time.clock, sleep=fake_time.sleep)


def backend_for(actuator: KubernetesActuator) -> Backend:
    """The actuator with a fake wall clock (``advance`` sleeps by moving it) and passing gates."""
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    return Backend(actuator, WallClock(0.0, clock=lambda: now[0], sleep=sleep), PassingSource())


class PassingSource(SignalSource):
    def signals(self, window_s: float) -> "PassingSignals":
        return PassingSignals()


class PassingSignals(Readings):
    def value(self, metric, cluster, **labels):
        return 1.0 if metric == "up" else 0.0

    def rate(self, metric, cluster, **labels):
        return 0.0

    def dns_probe_failure_ratio(self, cluster):
        return 0.0

    def memory_limit_bytes(self, cluster):
        return 1e10

    def workload_error_ratio(self, cluster):
        return 0.0


def validate(body: dict) -> None:
    """Strict OpenAPI validation of an object as the apiserver would see it."""
    kubernetes_validate.validate(body, K8S_VERSION, strict=True)


# --- tests --------------------------------------------------------------------------------------

def test_first_wave_records_then_server_side_applies_and_labels_a_share_of_nodes(tmp_path, apiservers):
    stub = apiservers(nodes=10)
    t = target_for(tmp_path, {"prod-a": stub})
    recorded = t.prepare("prod-a", 0.1)
    assert recorded == {"previous": {d.ref: None for d in t.documents}}  # nothing existed
    # discovery first (no kind → resource table is kept), once per group/version
    assert [(r.method, r.path) for r in stub.requests] == with_discovery([("GET", p) for p in PATHS])
    stub.requests.clear()

    t.apply("prod-a", 0.1)
    applies = [r for r in stub.requests if r.method == "PATCH" and r.path in PATHS]
    assert [r.path for r in applies] == PATHS  # namespaces, accounts, config, RBAC, then the workload
    for r in applies:
        assert r.query == {"fieldManager": "waveguard", "force": "true"}
        assert r.content_type == "application/apply-patch+yaml"
        assert r.authorization == f"Bearer {TOKEN}-prod-a"
        validate(r.body)
    ds = applies[-1].body
    terms = ds["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": NODE_LABEL, "operator": "Exists"}]}]
    rest = stub.requests[len(applies):]
    assert (rest[0].method, rest[0].path, rest[0].query) == (
        "GET", "/api/v1/nodes", {"limit": "500", "resourceVersion": "0"})  # from the watch cache
    node_patches = rest[1:]
    assert [(r.method, r.path, r.content_type) for r in node_patches] == [
        ("PATCH", "/api/v1/nodes/node-000", "application/merge-patch+json")]
    assert node_patches[0].body == {"metadata": {"labels": {NODE_LABEL: "0.1"}}}
    validate({"apiVersion": "v1", "kind": "Node", **node_patches[0].body})
    assert labelled(stub) == ["node-000"]  # ⌈10 % × 10⌉ = 1 node runs the agent


def test_larger_share_labels_more_nodes_and_full_share_drops_the_constraint(tmp_path, apiservers):
    stub = apiservers(nodes=10, page=4)  # pagination: 3 pages of nodes
    t = target_for(tmp_path, {"prod-a": stub})
    t.prepare("prod-a", 0.1)
    t.apply("prod-a", 0.1)
    stub.requests.clear()
    t.apply("prod-a", 0.5)  # idempotent re-apply, then 4 more nodes
    lists = [r for r in stub.requests if r.path == "/api/v1/nodes"]
    assert [r.query.get("continue") for r in lists] == [None, "4", "8"]
    assert labelled(stub) == [f"node-{i:03d}" for i in range(5)]
    stub.requests.clear()
    t.apply("prod-a", 1.0)
    ds = next(r.body for r in stub.requests if r.path == DS_PATH)
    assert "affinity" not in ds["spec"]["template"]["spec"]  # as written: every node
    validate(ds)
    selectors = [r.query.get("labelSelector") for r in stub.requests if r.path == "/api/v1/nodes"]
    assert selectors == [NODE_LABEL, NODE_LABEL]  # 5 labelled nodes, pages of 4
    assert labelled(stub) == []
    assert all(r.body == {"metadata": {"labels": {NODE_LABEL: None}}}
               for r in stub.requests if r.path.startswith("/api/v1/nodes/"))


def test_rollback_deletes_what_did_not_exist_in_reverse_order_and_unlabels(tmp_path, apiservers):
    stub = apiservers(nodes=4)
    t = target_for(tmp_path, {"prod-a": stub})
    t.prepare("prod-a", 0.5)
    t.apply("prod-a", 0.5)
    assert labelled(stub) == ["node-000", "node-001"]
    stub.requests.clear()
    t.rollback("prod-a")
    deletes = [r for r in stub.requests if r.method == "DELETE"]
    assert [r.path for r in deletes] == list(reversed(PATHS))  # the DaemonSet first, the namespace last
    for r in deletes:
        assert r.query == {"propagationPolicy": "Background"}
        assert r.body == {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
    assert stub.objects == {} and labelled(stub) == []
    t.rollback("prod-a")  # idempotent: 404s are fine


def test_rollback_restores_the_recorded_previous_objects(tmp_path, apiservers):
    stub = apiservers(nodes=4)
    old = yaml.safe_load((CHANGE / "telemetry-agent.yaml").read_text().split("---")[-1])
    old = copy.deepcopy(old)
    old["spec"]["template"]["spec"]["containers"][0]["image"] = "otel/opentelemetry-collector-contrib:0.90.0"
    old["spec"]["template"]["spec"]["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]}]}}}
    served = copy.deepcopy(old)
    served["metadata"].update({"uid": "abc", "resourceVersion": "7", "generation": 3, "creationTimestamp": "2024-12-01T00:00:00Z",
                               "managedFields": [{"manager": "helm"}]})
    served["status"] = {"numberReady": 4}
    stub.objects[DS_PATH] = served
    t = target_for(tmp_path, {"prod-a": stub})
    previous = t.prepare("prod-a", 0.5)["previous"]
    assert previous["DaemonSet/telemetry/telemetry-agent"] == old  # server fields stripped
    t.apply("prod-a", 0.5)
    applied = next(r.body for r in stub.requests if r.method == "PATCH" and r.path == DS_PATH)
    # the change as written (no affinity of its own) plus the wave constraint; the old object's
    # fields are not carried over (nodeSelectorTerms is an atomic list: the forced apply owns it)
    assert applied["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"] == [
            {"matchExpressions": [{"key": NODE_LABEL, "operator": "Exists"}]}]
    assert applied["spec"]["template"]["spec"]["containers"][0]["image"] != old["spec"]["template"]["spec"][
        "containers"][0]["image"]
    stub.requests.clear()
    t.rollback("prod-a")
    restore = [r for r in stub.requests if r.method == "PATCH" and r.path == DS_PATH]
    assert len(restore) == 1 and restore[0].content_type == "application/apply-patch+yaml"
    assert restore[0].query == {"fieldManager": "waveguard", "force": "true"}
    assert restore[0].body == old
    validate(restore[0].body)
    assert [r.path for r in stub.requests if r.method == "DELETE"] == list(reversed(PATHS[:-1]))


def test_affinity_is_added_to_every_existing_term():
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "x"},
          "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {
              "containers": [{"name": "c", "image": "i"}],
              "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                  {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
                  {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]}}}}}}}
    out = with_wave_affinity(ds)
    terms = out["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert all({"key": NODE_LABEL, "operator": "Exists"} in t["matchExpressions"] for t in terms)
    assert len(terms) == 2 and ds != out  # the input is not modified
    assert with_wave_affinity(out) == out  # idempotent
    validate(out)


def test_each_cluster_uses_its_own_context(tmp_path, apiservers):
    a, b = apiservers(nodes=2), apiservers(nodes=3)
    t = target_for(tmp_path, {"prod-a": a, "prod-b": b})
    for name in ("prod-a", "prod-b"):
        t.prepare(name, 1.0)
        t.apply(name, 1.0)
    assert {r.authorization for r in a.requests} == {f"Bearer {TOKEN}-prod-a"}
    assert {r.authorization for r in b.requests} == {f"Bearer {TOKEN}-prod-b"}
    assert DS_PATH in a.objects and DS_PATH in b.objects


def test_engine_logs_previous_objects_before_applying_and_a_restarted_guard_rolls_back(tmp_path, apiservers):
    """The engine writes what ``prepare`` read into ``apply_started`` before the apply; a new
    process (new target, state from the log) restores from it."""
    stub = apiservers(nodes=10)
    t = target_for(tmp_path, {"prod-a": stub})
    plan = Plan(change=str(CHANGE), waves=[Wave(name="one", clusters=ClusterSelector(names=["prod-a"]), node_share=0.1, bake_s=60),
                                            Wave(name="ten", clusters=ClusterSelector(names=["prod-a"]), node_share=0.2, bake_s=60)],
                gates=[GateSpec(kind="apiserver_p99_latency")], gate_interval_s=30)
    log = EventLog(str(tmp_path / "s.db"), create=True)
    state = Engine(plan=plan, fleet=t.fleet, target=backend_for(t), log=log, analysed_profiles=[]).run()
    assert state.status == "completed"
    started = [e for e in log.events() if e.kind == "apply_started"]
    assert "previous" in started[0].data and "previous" not in started[1].data  # recorded once, before the first apply
    first_apply = next(i for i, r in enumerate(stub.requests) if r.method == "PATCH")
    assert all(r.method == "GET" for r in stub.requests[:first_apply])
    assert labelled(stub) == ["node-000", "node-001"]
    fresh = target_for(tmp_path, {"prod-a": stub})
    fresh.restore(fold(log.events()))
    assert fresh.shares == {"prod-a": 0.2}
    fresh.rollback("prod-a")
    assert stub.objects == {} and labelled(stub) == []


def test_apiserver_refusal_and_unreachable_apiserver_are_clear_errors(tmp_path, apiservers):
    stub = apiservers(nodes=2, fail={("PATCH", DS_PATH): 403})
    t = target_for(tmp_path, {"prod-a": stub})
    t.prepare("prod-a", 1.0)
    with pytest.raises(KubernetesError) as err:
        t.apply("prod-a", 1.0)
    assert err.value.status == 403
    assert str(err.value).startswith(f"prod-a: PATCH {DS_PATH}: 403")
    assert "forbidden" in str(err.value)
    assert len([r for r in stub.requests if r.method == "PATCH" and r.path == DS_PATH]) == 1  # a refusal: no retry
    stub.close()
    fake = FakeTime()
    t2 = target_for(tmp_path, {"prod-a": stub}, fake, connect_timeout_s=1, read_timeout_s=1, request_deadline_s=3600)
    with pytest.raises(KubernetesError, match="no answer") as err:
        t2.prepare("prod-a", 1.0)
    assert err.value.attempts == 11 and len(fake.slept) == 10  # client-go's maxRetries 10, on the fake clock
    # full jitter: the n-th wait is drawn from 0 .. min(30 s, 0.5 s × 2^n)
    assert all(0 <= wait <= min(30.0, 0.5 * 2 ** n) for n, wait in enumerate(fake.slept, start=1))
    with pytest.raises(KubernetesError, match="no previous objects were recorded"):
        target_for(tmp_path, {"prod-a": stub}).rollback("prod-a")


def test_unknown_context_is_an_input_error(tmp_path, apiservers):
    stub = apiservers(nodes=1)
    t = target_for(tmp_path, {"prod-a": stub})
    t.config.contexts["prod-a"] = "no-such-context"
    with pytest.raises(InputError, match="no-such-context"):
        t.prepare("prod-a", 1.0)
    with pytest.raises(InputError, match="kubernetes.qps"):
        KubernetesConfig.from_backend({"qps": 0})


def test_custom_kinds_are_found_by_discovery(tmp_path, apiservers):
    stub = apiservers(nodes=1)
    path, contexts = kubeconfig(tmp_path, {"prod-a": stub})
    change_dir = tmp_path / "change"
    change_dir.mkdir()
    (change_dir / "sm.yaml").write_text(yaml.safe_dump({
        "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
        "metadata": {"name": "agent", "namespace": "telemetry"}, "spec": {"endpoints": [{"port": "metrics"}]}}))
    t = KubernetesActuator(Fleet(clusters=[Cluster(name="prod-a", nodes=1)]), load_change([str(change_dir)]),
                           KubernetesConfig(kubeconfig=str(path), contexts=contexts))
    t.prepare("prod-a", 1.0)
    t.apply("prod-a", 1.0)
    assert [(r.method, r.path) for r in stub.requests] == [
        ("GET", "/apis/monitoring.coreos.com/v1"),
        ("GET", "/apis/monitoring.coreos.com/v1/namespaces/telemetry/servicemonitors/agent"),
        ("PATCH", "/apis/monitoring.coreos.com/v1/namespaces/telemetry/servicemonitors/agent")]


def test_guard_client_is_rate_limited():
    """Token bucket: ``burst`` requests at once, then ``qps`` per second (client-go's defaults 5/10)."""
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    bucket = TokenBucket(5.0, 10, clock=lambda: now[0], sleep=sleep)
    for _ in range(30):
        bucket.take()
    assert not slept[:0] and len(slept) == 20
    assert now[0] == pytest.approx(20 / 5.0)  # 30 requests: 10 free, then 20 at 5/s
    assert KubernetesConfig().qps == 5.0 and KubernetesConfig().burst == 10


def test_every_request_takes_a_token(tmp_path, apiservers):
    import time

    stub = apiservers(nodes=3)
    t = target_for(tmp_path, {"prod-a": stub}, qps=40, burst=1)
    t0 = time.monotonic()
    t.prepare("prod-a", 0.5)
    t.apply("prod-a", 0.5)
    c = t.client("prod-a")
    assert c.requests == len(stub.requests) == 18  # 3 of them discovery, rate-limited like the rest
    assert sum(r.path in ("/api/v1", "/apis/apps/v1", "/apis/rbac.authorization.k8s.io/v1") for r in stub.requests) == 3
    assert time.monotonic() - t0 >= 17 / 40 - 0.01 and c.bucket.waited_s > 0  # 18 requests at 40/s, burst 1


def test_rollout_cli_on_real_clusters_applies_through_the_contract_and_gates_through_prometheus(
        tmp_path, apiservers, runner):
    """``waveguard rollout start --target kubernetes --signals prometheus``: the stub apiserver
    gets the change at the wave's node share, the gates read a (stub) Prometheus, the rollout
    completes; the backend — kubeconfig, contexts, QPS — is stored for ``resume``."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs

    from waveguard.cli.main import app

    class PromHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            q = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())["query"][0]
            value = (1 if "max_over_time(up" in q else 1e9 if "process_resident" in q else 1e10 if "limits" in q
                     else 100 if "nominal_limit_seats" in q else 0)
            levels = ["workload-low", "system"] if "priority_level" in q else [None]
            result = [{"metric": {"cluster": "prod-a", **({"priority_level": lv} if lv else {})},
                       "value": [0, str(value)]} for lv in levels]
            body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a) -> None:
            pass

    prom = ThreadingHTTPServer(("127.0.0.1", 0), PromHandler)
    threading.Thread(target=prom.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    stub = apiservers(nodes=4)
    try:
        path, contexts = kubeconfig(tmp_path, {"prod-a": stub})
        fleet = tmp_path / "fleet.yaml"
        fleet.write_text(yaml.safe_dump({"clusters": [{"name": "prod-a", "labels": {"env": "prod"}, "nodes": 4}]}))
        plan = tmp_path / "plan.yaml"
        plan.write_text(yaml.safe_dump({
            "change": str(CHANGE), "gate_interval_s": 0.5,
            "waves": [{"name": "half", "clusters": {"names": ["prod-a"]}, "node_share": 0.5, "bake_s": 1.0}],
            "gates": [{"kind": "apiserver_p99_latency"}, {"kind": "apf_seat_utilisation"}, {"kind": "apiserver_memory"}]}))
        backend = tmp_path / "backend.yaml"
        backend.write_text(yaml.safe_dump({"kubernetes": {"contexts": contexts, "qps": 50, "burst": 20}}))
        db = tmp_path / "s.db"
        r = runner.invoke(app, ["rollout", "start", str(plan), "--fleet", str(fleet), "--force", "--state", str(db),
                                "--target", "kubernetes", "--kubeconfig", str(path), "--backend-config", str(backend),
                                "--signals", "prometheus",
                                "--prometheus-url", f"http://127.0.0.1:{prom.server_address[1]}"])
        assert r.exit_code == 0, r.output
        assert "status: completed" in r.stdout and "every wave passed (1)" in r.stdout  # not the index past the plan
        assert labelled(stub) == ["node-000", "node-001"] and DS_PATH in stub.objects
        started = EventLog(str(db)).events()[0].data["backend"]
        assert started["kind"] == "kubernetes" and started["kubernetes"]["kubeconfig"] == str(path)
        assert started["kubernetes"]["contexts"] == contexts and started["kubernetes"]["qps"] == 50
        # An apiserver that refuses: one line, exit 1, resume retries.
        stub.fail[("PATCH", DS_PATH)] = 403
        db2 = tmp_path / "s2.db"
        r = runner.invoke(app, ["rollout", "start", str(plan), "--fleet", str(fleet), "--force", "--state", str(db2),
                                "--target", "kubernetes", "--kubeconfig", str(path), "--backend-config", str(backend),
                                "--signals", "prometheus",
                                "--prometheus-url", f"http://127.0.0.1:{prom.server_address[1]}"])
        assert r.exit_code == 1 and "403" in r.stderr and "resume retries" in r.stderr
        del stub.fail[("PATCH", DS_PATH)]
        r = runner.invoke(app, ["rollout", "resume", "--state", str(db2)])
        assert r.exit_code == 0, r.output
    finally:
        prom.shutdown()
        prom.server_close()
