"""A stub kube-apiserver on 127.0.0.1 for the Kubernetes actuator's contract tests
(tests/test_k8s_target_contract.py, tests/test_actuator_contract.py, tests/test_fault_injection.py):
it records every request and keeps the objects and node labels they leave behind; it answers
``GET /version`` and ``SelfSubjectAccessReview`` (allowed unless in ``denied``). ``apiservers`` is
its fixture.

Faults (issue 14): ``script`` holds :class:`Fault` s consumed in order by the requests they
match — a status with an optional Retry-After (429 storms, 5xx), a connection reset, an answer
held back (a timeout), a body dripped byte by byte; ``down`` resets every connection (a cluster
that is unreachable). :class:`FakeTime` is a clock whose ``sleep`` only moves it (no test waits
real back-off)."""

from __future__ import annotations

import copy
import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from tests.conftest import EXAMPLES
from waveguard.rollout.k8s_target import NODE_LABEL

K8S_VERSION = "1.30"
TOKEN = "contract-test-token"
CHANGE = EXAMPLES / "incident-telemetry"
DS_PATH = "/apis/apps/v1/namespaces/telemetry/daemonsets/telemetry-agent"
#: The change's objects in apply order, and their paths.
PATHS = [
    "/api/v1/namespaces/telemetry",
    "/api/v1/namespaces/telemetry/serviceaccounts/telemetry-agent",
    "/api/v1/namespaces/telemetry/configmaps/telemetry-agent",
    "/apis/rbac.authorization.k8s.io/v1/clusterroles/telemetry-agent",
    "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/telemetry-agent",
    DS_PATH,
]


#: What the stub's discovery serves (``GET /api/v1``, ``GET /apis/<group>/<version>``): the
#: resources of a v1.30 kube-apiserver for the groups the tests' changes use, as ``kubectl
#: api-resources`` lists them (Kubernetes API reference v1.30: name, kind, namespaced), with a
#: subresource each to check that those are skipped. The actuator keeps no table of its own.
DISCOVERY: dict[str, list[tuple[str, str, bool]]] = {
    "/api/v1": [("namespaces", "Namespace", False), ("nodes", "Node", False), ("nodes/status", "Node", False),
                ("serviceaccounts", "ServiceAccount", True), ("configmaps", "ConfigMap", True),
                ("secrets", "Secret", True), ("services", "Service", True), ("pods", "Pod", True),
                ("pods/log", "Pod", True)],
    "/apis/apps/v1": [("daemonsets", "DaemonSet", True), ("daemonsets/status", "DaemonSet", True),
                      ("deployments", "Deployment", True), ("statefulsets", "StatefulSet", True),
                      ("replicasets", "ReplicaSet", True)],
    "/apis/rbac.authorization.k8s.io/v1": [("clusterroles", "ClusterRole", False),
                                           ("clusterrolebindings", "ClusterRoleBinding", False),
                                           ("roles", "Role", True), ("rolebindings", "RoleBinding", True)],
    "/apis/flowcontrol.apiserver.k8s.io/v1": [("flowschemas", "FlowSchema", False),
                                              ("prioritylevelconfigurations", "PriorityLevelConfiguration", False)],
    "/apis/monitoring.coreos.com/v1": [("servicemonitors", "ServiceMonitor", True),
                                       ("servicemonitors/status", "ServiceMonitor", True)],
}


def group_version_of(path: str) -> str:
    """``/api/v1`` or ``/apis/<group>/<version>`` of an object path."""
    parts = path.split("/")
    return "/".join(parts[:3]) if parts[1] == "api" else "/".join(parts[:4])


def with_discovery(requests: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``requests`` (method, path) with the discovery GET the actuator sends before the first
    object of each group/version (one per cluster and group/version: it is cached)."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for method, path in requests:
        base = group_version_of(path)
        if base not in seen:
            seen.add(base)
            out.append(("GET", base))
        out.append((method, path))
    return out


def discovery_document(path: str) -> dict:
    """The APIResourceList the stub serves at ``path`` (a key of :data:`DISCOVERY`)."""
    group_version = path.removeprefix("/api/").removeprefix("/apis/")
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": [
        {"name": name, "kind": kind, "namespaced": namespaced, "verbs": ["get", "patch", "delete"]}
        for name, kind, namespaced in DISCOVERY[path]]}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    content_type: str | None
    authorization: str | None
    body: dict | None


@dataclass
class Fault:
    """One scripted fault: ``kind`` status | reset | hang | slow_body, for requests whose method is
    ``method`` (None: any) and whose path starts with ``path``; ``times`` requests get it."""

    kind: str
    method: str | None = None
    path: str = "/"
    times: int = 1
    status: int = 429
    retry_after: str | None = None
    seconds: float = 0.0  # hang: how long before answering; slow_body: between two bytes

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and (self.method is None or self.method == method) and path.startswith(self.path)


class FakeTime:
    """Monotonic seconds that only ``sleep`` advances; ``slept`` lists every wait."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(0.0, seconds)

    # a stand-in for the ``time`` module of waveguard.rollout.k8s_target
    monotonic = clock


@dataclass
class StubApiserver:
    """Records every request; serves GET/PATCH (apply, merge)/DELETE of objects and nodes."""

    nodes: int = 10
    objects: dict[str, dict] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    fail: dict[tuple[str, str], int] = field(default_factory=dict)  # (method, path) → status
    page: int = 500
    script: list[Fault] = field(default_factory=list)
    down: bool = False
    denied: set[tuple[str, str]] = field(default_factory=set)  # (verb, resource) SelfSubjectAccessReview refuses
    #: Called with every recorded request before it is answered (tests act on the rollout's progress).
    on_request: Callable[[Recorded], None] | None = None
    #: What ``GET /metrics`` serves (Prometheus text format), unrecorded.
    metrics_text: str = "process_resident_memory_bytes 1e8\n"

    def __post_init__(self) -> None:
        self.node_objs = {f"node-{i:03d}": {"apiVersion": "v1", "kind": "Node",
                                            "metadata": {"name": f"node-{i:03d}", "labels": {"kubernetes.io/os": "linux"}}}
                          for i in range(self.nodes)}
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                rec = Recorded(self.command, url.path, query, self.headers.get("Content-Type"),
                               self.headers.get("Authorization"), body)
                if url.path == "/metrics":  # scraped by a real Prometheus (tests/test_fault_injection.py)
                    self._metrics()
                    return
                stub.requests.append(rec)
                if stub.on_request is not None:
                    stub.on_request(rec)
                fault = stub.take_fault(rec)
                if stub.down or (fault is not None and fault.kind == "reset"):
                    self._reset()
                    return
                if fault is not None and fault.kind == "hang":
                    time.sleep(fault.seconds)
                if fault is not None and fault.kind == "status":
                    status, out = fault.status, stub._status(fault.status, "TooManyRequests" if fault.status == 429
                                                              else "InternalError", "injected")
                else:
                    status, out = stub.answer(rec)
                data = json.dumps(out).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if fault is not None and fault.retry_after is not None:
                    self.send_header("Retry-After", fault.retry_after)
                self.end_headers()
                if fault is not None and fault.kind == "slow_body":
                    try:
                        for i in range(len(data)):
                            self.wfile.write(data[i:i + 1])
                            self.wfile.flush()
                            time.sleep(fault.seconds)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the client gave up on the drip, as it should
                    return
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out first (a "hang" fault)

            def _metrics(self) -> None:
                data = stub.metrics_text.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _reset(self) -> None:
                """Close with RST (SO_LINGER 0): the client sees a connection reset."""
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True

            do_GET = do_PATCH = do_DELETE = do_POST = do_PUT = _handle  # noqa: N815  (http.server's names)

            def log_message(self, *a) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def _status(code: int, reason: str, message: str) -> dict:
        return {"apiVersion": "v1", "kind": "Status", "status": "Failure", "message": message, "reason": reason,
                "code": code}

    def take_fault(self, r: Recorded) -> Fault | None:
        for fault in self.script:
            if fault.matches(r.method, r.path):
                fault.times -= 1
                return fault
        return None

    def answer(self, r: Recorded) -> tuple[int, dict]:
        if r.path == "/version" and r.method == "GET":
            return 200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0"}
        if r.path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" and r.method == "POST":
            attrs = r.body["spec"]["resourceAttributes"]
            allowed = (attrs["verb"], attrs["resource"]) not in self.denied
            return 201, {**r.body, "status": {"allowed": allowed, **({} if allowed else {"reason": "RBAC: denied"})}}
        if (r.method, r.path) in self.fail:
            code = self.fail[(r.method, r.path)]
            return code, self._status(code, "Forbidden", 'daemonsets.apps "telemetry-agent" is forbidden')
        if r.path == "/api/v1/nodes" and r.method == "GET":
            names = sorted(n for n, o in self.node_objs.items()
                           if "labelSelector" not in r.query or r.query["labelSelector"] in o["metadata"]["labels"])
            start = int(r.query.get("continue") or 0)
            limit = int(r.query.get("limit") or len(names))
            chunk = names[start:start + min(limit, self.page)]
            more = start + len(chunk) < len(names)
            return 200, {"apiVersion": "v1", "kind": "NodeList",
                         "metadata": {"resourceVersion": "1", **({"continue": str(start + len(chunk))} if more else {})},
                         "items": [copy.deepcopy(self.node_objs[n]) for n in chunk]}
        if r.path.startswith("/api/v1/nodes/") and r.method == "PATCH":
            node = self.node_objs[r.path.rsplit("/", 1)[1]]
            for k, v in r.body["metadata"]["labels"].items():
                if v is None:
                    node["metadata"]["labels"].pop(k, None)
                else:
                    node["metadata"]["labels"][k] = v
            return 200, node
        if r.path in DISCOVERY and r.method == "GET":
            return 200, discovery_document(r.path)
        if r.method == "GET":
            if r.path in self.objects:
                return 200, self.objects[r.path]
            return 404, self._status(404, "NotFound", f"{r.path} not found")
        if r.method == "PATCH":
            created = r.path not in self.objects
            obj = copy.deepcopy(r.body)
            obj["metadata"].update({"uid": "u-1", "resourceVersion": "2", "managedFields": [{"manager": "waveguard"}]})
            self.objects[r.path] = obj
            return (201 if created else 200), obj
        if r.method == "DELETE":
            if self.objects.pop(r.path, None) is None:
                return 404, self._status(404, "NotFound", "gone")
            return 200, {"apiVersion": "v1", "kind": "Status", "status": "Success"}
        return 405, self._status(405, "MethodNotAllowed", r.method)


@pytest.fixture(name="apiservers")
def apiservers_fixture():
    made: list[StubApiserver] = []

    def make(**kw) -> StubApiserver:
        made.append(StubApiserver(**kw))
        return made[-1]

    yield make
    for s in made:
        s.close()


def kubeconfig(tmp_path, servers: dict[str, StubApiserver]):
    """One context per cluster (named ``ctx-<cluster>``), each with its own server and token."""
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": f"ctx-{next(iter(servers))}",
           "clusters": [{"name": n, "cluster": {"server": s.url}} for n, s in servers.items()],
           "users": [{"name": f"u-{n}", "user": {"token": f"{TOKEN}-{n}"}} for n in servers],
           "contexts": [{"name": f"ctx-{n}", "context": {"cluster": n, "user": f"u-{n}"}} for n in servers]}
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return path, {n: f"ctx-{n}" for n in servers}


def labelled(stub: StubApiserver) -> list[str]:
    return sorted(n for n, o in stub.node_objs.items() if NODE_LABEL in o["metadata"]["labels"])
