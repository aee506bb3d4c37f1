"""Object counts and sizes from kube-apiserver /metrics (``waveguard measure --metrics``): the real
v1.35 file in ../shared/inputs/metrics/, older metric names, the fleet file it writes, bad input."""

from __future__ import annotations

from pathlib import Path

import functools
import http.server
import json
import threading

import pytest

from tests.conftest import APISERVER_METRICS as APISERVER
from tests.conftest import INPUTS, METRICS, SHARED, require_shared
from waveguard.cli.main import app
from waveguard.model.cost import request_cost
from waveguard.model.fleet import load_fleet
from waveguard.model.requests import RequestClass
from waveguard.signals.exposition import parse_exposition, read_exposition
from waveguard.signals.objects import object_inventory



@pytest.fixture(scope="module")
def inventory(real_apiserver_metrics):
    inv = object_inventory(real_apiserver_metrics)
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
        res = runner.invoke(app, ["measure", "--metrics", url, "-o", "json"])
    finally:
        server.shutdown()
        server.server_close()
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["source"] == url
    assert {r["resource"]: r["objects"] for r in doc["resources"]}["pods"] == 21


@pytest.mark.parametrize("args, message", [
    ([], "nothing to measure"),
    (["--metrics", str(METRICS / "coredns-datadog-fixture-metrics_18.txt"), "--fleet-output", "{out}", "--cluster", "c"],
     "not a kube-apiserver"),
    (["--metrics", "http://127.0.0.1:9/metrics", "--fleet-output", "{out}", "--cluster", "c"],
     "http://127.0.0.1:9/metrics"),
    (["--metrics", "http://[::1/metrics", "--fleet-output", "{out}", "--cluster", "c"], "not a usable URL"),
    (["--metrics", "ftp://host/metrics", "--fleet-output", "{out}", "--cluster", "c"], "not an http(s) URL"),
    (["--metrics", str(APISERVER), "--output-file", "{out}"], "request profiles come from audit logs"),
    (["--audit-log", str(INPUTS / "audit" / "audit2rbac-demo-v1.jsonl"), "--fleet-output", "{out}", "--cluster", "c"],
     "the cluster comes from /metrics"),
    (["--metrics", str(APISERVER), "--fleet-output", "{out}"], "give both or neither"),
    (["--metrics", str(APISERVER), "--cluster", "c"], "give both or neither"),
    (["--metrics", str(APISERVER), "--fleet-output", "{out}", "--cluster", " "], "needs a name"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(runner, tmp_path, args, message):
    for arg in args:  # the shared inputs, where a case reads one (skipped without them)
        if arg.startswith(str(SHARED)):
            require_shared(Path(arg))
    out = tmp_path / "out.yaml"
    res = runner.invoke(app, ["measure", *[a.replace("{out}", str(out)) for a in args]])
    assert res.exit_code == 2
    lines = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], res.stderr
    assert not out.exists()


def test_counts_that_are_not_counts_are_noted_and_left_unknown(tmp_path, runner):
    """NaN, a fraction or -1 (the apiserver could not fetch it): noted, never a traceback; without
    a node count there is no fleet entry to write (exit 2, nothing written)."""
    text = ('apiserver_resource_objects{group="",resource="nodes"} -1\n'
            'apiserver_resource_objects{group="",resource="pods"} NaN\n'
            'apiserver_resource_objects{group="",resource="services"} 2.5\n')
    inv = object_inventory(parse_exposition(text))
    assert [r.objects for r in inv.resources] == [None, None, None] and len(inv.notes) == 4  # + no sizes
    path, out = tmp_path / "m.prom", tmp_path / "f.yaml"
    path.write_text(text)
    res = runner.invoke(app, ["measure", "--metrics", str(path), "--fleet-output", str(out), "--cluster", "c"])
    assert res.exit_code == 2 and "could not fetch its count (-1)" in res.stderr and not out.exists()


def test_gzip_and_byte_order_mark(tmp_path):
    import gzip

    text = '\ufeffapiserver_resource_objects{group="",resource="pods"} 7\n'
    (tmp_path / "m.prom.gz").write_bytes(gzip.compress(text.encode()))
    inv = object_inventory(read_exposition(tmp_path / "m.prom.gz"))
    assert inv.resources[0].objects == 7


@pytest.mark.parametrize("object_bytes, message", [
    ("{pods: true}", "valid integer"),
    ("{Pods: 4000}", "should match pattern"),
    ("{replicasets.apps: 4000}", "should match pattern"),
    ("{pods: 0}", "greater than 0"),
    ("{pods: 99999999999}", "less than or equal to 3145728"),
    ("7", "valid dictionary"),
])
def test_bad_object_bytes_in_a_fleet_file(tmp_path, object_bytes, message):
    from waveguard.model.errors import InputError

    path = tmp_path / "fleet.yaml"
    path.write_text(f"clusters:\n  - name: c\n    nodes: 3\n    object_bytes: {object_bytes}\n")
    with pytest.raises(InputError, match=message) as exc:
        load_fleet(path)
    assert exc.value.line == 4


@pytest.mark.parametrize("width", [80, 120])
def test_the_inventory_table_keeps_measured_by_on_one_line(runner, monkeypatch, width):
    """At 80 columns "measured by" was 8 cells wide and "WATCH event ×128" wrapped onto three
    lines beside each resource. Headers now wrap first, and when "WATCH event ×n" still does
    not fit on one line the table says "WATCH ×n", as the note under it explains."""
    import re

    from rich.cells import cell_len

    require_shared(APISERVER)
    monkeypatch.setenv("COLUMNS", str(width))
    result = runner.invoke(app, ["measure", "--metrics", str(APISERVER)], terminal_width=width)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(cell_len(line) for line in lines) <= width
    body = [line for line in lines if line.startswith("│")]
    cells = [line.split("│")[5].strip() for line in body]
    label = re.compile(r"(GET|LIST|WATCH event|WATCH) ×\d+")
    assert all(label.fullmatch(c) for c in cells if c) and sum(map(bool, cells)) >= 20
    names = [line.split("│")[1].strip() for line in body]
    measured = {n: c for n, c in zip(names, cells, strict=True) if c}  # on the resource's own line
    assert measured["clusterrolebindings"] == ("WATCH ×128" if width == 80 else "WATCH event ×128")
    assert measured["configmaps"] == "GET ×6"
    note = " ".join(lines[lines.index(next(line for line in lines if line.startswith("└"))) + 1:])
    assert ("WATCH ×n: n watch events" if width == 80 else "WATCH event ×n: n watch events") in note
