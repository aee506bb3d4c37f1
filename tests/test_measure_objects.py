"""Object counts and sizes from kube-apiserver /metrics (``waveguard measure --metrics``): the real
v1.35 file in ../shared/inputs/metrics/, older metric names, the fleet file it writes, bad input."""

from __future__ import annotations

import functools
import http.server
import json
import threading

import pytest

from tests.conftest import INPUTS, require_shared
from waveguard.cli.main import app
from waveguard.model.cost import request_cost
from waveguard.model.fleet import load_fleet
from waveguard.model.requests import RequestClass
from waveguard.signals.exposition import parse_exposition, read_exposition
from waveguard.signals.objects import object_inventory

METRICS = INPUTS / "metrics"
APISERVER = METRICS / "kube-apiserver-v1.35-nri-kubernetes.prom"


@pytest.fixture(scope="module")
def inventory():
    inv = object_inventory(read_exposition(require_shared(APISERVER)))
    return {r.resource: r for r in inv.resources}


def test_counts_and_sizes_of_the_real_v1_35_apiserver(inventory):
    pods, rs, nodes = inventory["pods"], inventory["replicasets"], inventory["nodes"]
    assert (pods.objects, round(pods.bytes_per_object), pods.measured_by) == (21, 3938, "GET ×91")
    assert (rs.objects, round(rs.bytes_per_object), rs.group) == (6, 3026, "apps")
    # One node; its 5 LISTs average 4,056 B, more than its GETs (2,317 B) or watch events.
    assert (nodes.objects, round(nodes.bytes_per_object), nodes.measured_by) == (1, 4056, "LIST ×5")


def test_the_largest_mean_wins_over_metadata_only_requests(inventory):
    """Deployment GETs average 229 B (metadata-only clients); its watch events carry whole objects."""
    dep = inventory["deployments"]
    assert (round(dep.bytes_per_object), dep.measured_by) == (3005, "WATCH event ×45")


def test_resources_with_no_object_have_no_size(inventory):
    """Their watch events are bookmarks (~80 B), not objects."""
    assert inventory["ingresses"].objects == 0 and inventory["ingresses"].bytes_per_object is None


def test_older_count_metrics():
    """apiserver_storage_objects (1.21–1.33) names resource.group; etcd_object_counts before it."""
    text = ('apiserver_storage_objects{resource="replicasets.apps"} 8400\n'
            'apiserver_storage_objects{resource="pods"} 1200\n'
            'apiserver_storage_objects{resource="secrets"} -1\n'
            'apiserver_response_sizes_sum{resource="replicasets",scope="resource",subresource="",verb="GET"} 14000\n'
            'apiserver_response_sizes_count{resource="replicasets",scope="resource",subresource="",verb="GET"} 2\n')
    inv = object_inventory(parse_exposition(text))
    by = {r.resource: r for r in inv.resources}
    assert (by["replicasets"].objects, by["replicasets"].group, by["replicasets"].bytes_per_object) == (8400, "apps", 7000)
    assert by["secrets"].objects is None and any("secrets" in n for n in inv.notes)
    old = object_inventory(parse_exposition('etcd_object_counts{resource="pods"} 500\n'))
    assert old.resources[0].objects == 500


def test_not_an_apiserver_metrics_file():
    with pytest.raises(ValueError, match="not a kube-apiserver"):
        object_inventory(parse_exposition("coredns_dns_requests_total 5\n"))


def test_measured_sizes_reach_the_cost_model(tmp_path, runner):
    """The fleet file it writes loads, and a LIST on that cluster returns count × measured size."""
    require_shared(APISERVER)
    out = tmp_path / "fleet.yaml"
    res = runner.invoke(app, ["measure", "--metrics", str(APISERVER), "--fleet-output", str(out), "--cluster", "kind"])
    assert res.exit_code == 0, res.output
    cluster = load_fleet(out).cluster("kind")
    assert (cluster.nodes, cluster.pods, cluster.object_bytes["pods"]) == (1, 21, 3938)
    lst = request_cost(RequestClass(verb="list", resource="pods", scope="cluster", trigger="start", resource_version="0"), cluster)
    assert lst.response_bytes == 21 * 3938


def test_metrics_from_a_url(runner):
    """A real HTTP server on 127.0.0.1 serves the saved /metrics."""
    require_shared(APISERVER)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(METRICS))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{APISERVER.name}"
        res = runner.invoke(app, ["measure", "--metrics", url, "--json"])
    finally:
        server.shutdown()
        server.server_close()
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["source"] == url
    assert {r["resource"]: r["objects"] for r in doc["resources"]}["pods"] == 21


@pytest.mark.parametrize("args, message", [
    ([], "nothing to measure"),
    (["--metrics", str(METRICS / "coredns-datadog-fixture-metrics_18.txt"), "--fleet-output", "{out}"],
     "not a kube-apiserver"),
    (["--metrics", "http://127.0.0.1:9/metrics", "--fleet-output", "{out}"], "http://127.0.0.1:9/metrics"),
    (["--metrics", str(APISERVER), "-o", "{out}"], "request profiles come from audit logs"),
    (["--audit-log", str(INPUTS / "audit" / "audit2rbac-demo-v1.jsonl"), "--fleet-output", "{out}"],
     "the cluster comes from /metrics"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(runner, tmp_path, args, message):
    out = tmp_path / "out.yaml"
    res = runner.invoke(app, ["measure", *[a.replace("{out}", str(out)) for a in args]])
    assert res.exit_code == 2
    lines = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], res.stderr
    assert not out.exists()
