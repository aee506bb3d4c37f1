"""Prometheus text exposition: the four real /metrics files in ../shared/inputs/metrics/, robust
parsing, histogram quantiles, and a live endpoint that is down, slow or broken.

Expected figures were read off the files by hand (grep), not from this parser's output.
"""

from __future__ import annotations

import http.server
import math
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import APISERVER_METRICS as APISERVER
from tests.conftest import METRICS, require_shared
from waveguard.model.errors import InputError
from waveguard.signals.exposition import (
    SourceUnavailableError, canonical_name, fetch_exposition, histogram_quantile, parse_exposition, read_exposition,
)

COREDNS = METRICS / "coredns-datadog-fixture-metrics_18.txt"
ETCD = METRICS / "etcd-v1.35-nri-kubernetes.prom"
SLIS = METRICS / "kube-apiserver-slis-datadog-fixture-1.27.3.txt"


@pytest.fixture(scope="module")
def metrics_dir() -> Path:
    return require_shared(METRICS)


@pytest.fixture(scope="module")
def apiserver(real_apiserver_metrics):
    return real_apiserver_metrics


@pytest.fixture(scope="module")
def coredns(metrics_dir):
    return read_exposition(COREDNS)


# --- CoreDNS: several scrapes, repeated HELP/TYPE, old and new names -----------------------------------

def test_coredns_file_holds_two_scrapes(coredns):
    # Two "# TYPE coredns_build_info" lines (CoreDNS 1.1.0, then 1.8.5): two scrapes.
    assert COREDNS.read_text().count("# TYPE coredns_build_info gauge") == 2
    assert len(coredns.scrapes) == 2
    assert [s.labels["version"] for s in coredns.series("coredns_build_info", scrape=0)] == ["1.1.0"]
    assert [s.labels["version"] for s in coredns.series("coredns_build_info", scrape=1)] == ["1.8.5"]
    assert coredns.scrapes[1].first_line == 335  # the second "# HELP coredns_build_info" line


def test_coredns_old_names_read_as_the_current_ones(coredns):
    # Scrape 0 (1.1.0) only has coredns_dns_request_count_total: tcp 4 + udp 8.21967e+06.
    assert coredns.value("coredns_dns_requests_total", scrape=0) == 4 + 8.21967e06
    assert coredns.value("coredns_dns_requests_total", {"proto": "tcp"}, scrape=0) == 4
    # ... and asking by the old name finds the same series.
    assert coredns.value("coredns_dns_request_count_total", scrape=0) == 4 + 8.21967e06
    assert coredns.value("coredns_dns_responses_total", {"rcode": "NXDOMAIN"}, scrape=0) == 6.207949e06
    # Scrape 1 (1.8.5) has the new names: 2 requests, NOERROR 1, SERVFAIL 1.
    assert coredns.value("coredns_dns_requests_total") == 2
    assert coredns.value("coredns_dns_responses_total", {"rcode": "SERVFAIL"}) == 1
    assert coredns.value("coredns_dns_responses_total", {"rcode": ("NOERROR", "SERVFAIL")}) == 2
    # coredns_cache_size (old) → coredns_cache_entries: denial 836, success 52 in scrape 0.
    assert coredns.value("coredns_cache_entries", {"type": "denial"}, scrape=0) == 836
    assert "coredns_dns_request_count_total" in coredns.renamed
    assert any("old metric names" in n for n in coredns.notes)


def test_missing_metric_is_none_not_zero(coredns):
    assert coredns.value("coredns_dns_responses_total", {"rcode": "REFUSED"}) is None
    assert coredns.value("coredns_kubernetes_rest_client_requests_total") is None


def test_canonical_name_keeps_histogram_suffixes():
    assert canonical_name("coredns_dns_request_count_total") == "coredns_dns_requests_total"
    assert canonical_name("coredns_cache_size") == "coredns_cache_entries"
    assert canonical_name("apiserver_request_count") == "apiserver_request_total"
    assert canonical_name("apiserver_request_duration_seconds_bucket") == "apiserver_request_duration_seconds_bucket"


# --- kube-apiserver, etcd, /metrics/slis --------------------------------------------------------------

def test_apiserver_flowcontrol_nominal_seats(apiserver):
    # grep '^apiserver_flowcontrol_nominal_limit_seats' in the v1.35 file.
    seats = {s.labels["priority_level"]: s.value for s in apiserver.series("apiserver_flowcontrol_nominal_limit_seats")}
    assert seats == {"catch-all": 13, "exempt": 0, "global-default": 49, "leader-election": 25, "node-high": 98,
                     "system": 74, "workload-high": 98, "workload-low": 245}
    assert apiserver.value("apiserver_flowcontrol_nominal_limit_seats", {"priority_level": "workload-low"},
                           agg="one") == 245
    with pytest.raises(LookupError):
        apiserver.value("apiserver_flowcontrol_nominal_limit_seats", agg="one")


def test_apiserver_request_totals(apiserver):
    text = APISERVER.read_text()
    lines = [l for l in text.splitlines() if l.startswith("apiserver_request_total{")]
    assert len(apiserver.series("apiserver_request_total")) == len(lines) == 171
    assert apiserver.value("apiserver_request_total") == sum(float(l.rsplit(" ", 1)[1]) for l in lines)
    assert apiserver.value("apiserver_request_total", {"code": "429"}) is None  # no 429 in this cluster
    assert apiserver.value("apiserver_request_total", {"code": "403", "verb": "POST", "resource": "pods"}) == 8
    assert apiserver.value("apiserver_current_inflight_requests", {"request_kind": "mutating"}) == 1


def test_apiserver_latency_quantile_lies_in_the_right_bucket(apiserver):
    # LIST pods, scope=cluster: both observations are ≤ 0.005 s (le="0.005" 2 = le="+Inf" 2).
    p99 = apiserver.quantile(0.99, "apiserver_request_duration_seconds",
                             {"verb": "LIST", "resource": "pods", "scope": "cluster"})
    assert 0 < p99 <= 0.005
    assert apiserver.quantile(0.99, "apiserver_request_duration_seconds", {"verb": "NOSUCHVERB"}) is None


def test_etcd_figures(metrics_dir):
    etcd = read_exposition(ETCD)
    assert etcd.value("etcd_server_has_leader") == 1
    assert etcd.value("etcd_mvcc_db_total_size_in_bytes") == 2.093056e06
    # wal fsync p99 by hand: rank 0.99 × 855 = 846.45 falls in (0.004, 0.008] (842 → 848):
    # 0.004 + 0.004 × (846.45 − 842) / (848 − 842).
    expected = 0.004 + 0.004 * (0.99 * 855 - 842) / (848 - 842)
    assert etcd.quantile(0.99, "etcd_disk_wal_fsync_duration_seconds") == pytest.approx(expected)


def test_apiserver_slis_healthchecks(metrics_dir):
    slis = read_exposition(SLIS)
    assert len(slis.series("kubernetes_healthcheck")) == 20
    assert slis.value("kubernetes_healthcheck", {"name": "etcd", "type": "readyz"}) == 1
    assert slis.value("kubernetes_healthchecks_total", {"name": "etcd", "status": "success", "type": "readyz"}) == 2025


# --- Robustness --------------------------------------------------------------------------------------------

def test_garbage_lines_are_skipped_and_noted():
    exp = parse_exposition(
        "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 3\na_total{x=\"2\" 4\na_total{x=\"3\"} 5\n"
        "<html>\n# HELP b A gauge.\n# TYPE b gauge\nb 7\n", source="t.prom")
    assert exp.value("a_total") == 8 and exp.value("b") == 7
    assert any("t.prom:4" in n for n in exp.notes) and any("t.prom:6" in n for n in exp.notes)


@pytest.mark.parametrize("text", ["", "   \n", "<html><body>502 Bad Gateway</body></html>", '{"status": "ok"}'])
def test_not_exposition_is_an_input_error(text):
    with pytest.raises(InputError, match="x.prom"):
        parse_exposition(text, source="x.prom")


def test_histogram_quantile_matches_prometheus():
    b = [(0.1, 10.0), (0.5, 60.0), (1.0, 100.0), (math.inf, 100.0)]
    assert histogram_quantile(0.5, b) == pytest.approx(0.1 + 0.4 * (50 - 10) / 50)
    assert histogram_quantile(0.05, b) == pytest.approx(0.05)  # first bucket starts at 0
    assert histogram_quantile(1.0, [(0.1, 1.0), (math.inf, 2.0)]) == 0.1  # +Inf bucket: highest finite bound
    assert histogram_quantile(0.5, [(0.1, 0.0), (math.inf, 0.0)]) is None
    assert histogram_quantile(0.5, [(0.1, 3.0)]) is None  # no +Inf bucket
    with pytest.raises(ValueError):
        histogram_quantile(1.5, b)


# --- Live endpoint: down, slow, erroring, wrong content ------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        if self.path == "/slow":
            time.sleep(1.0)
        if self.path == "/error":
            self.send_error(503, "apiserver overloaded")
            return
        body = b"<html>hi</html>" if self.path == "/html" else b"# TYPE up gauge\nup 1\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:  # the client gave up (the /slow case)
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=2)


def test_fetch_ok(http_server):
    assert fetch_exposition(http_server + "/metrics", timeout_s=1).value("up") == 1


@pytest.mark.parametrize("path,reason", [("/error", "http-error"), ("/slow", "timeout"), ("/html", "not-exposition")])
def test_fetch_failures_are_source_unavailable(http_server, path, reason):
    with pytest.raises(SourceUnavailableError) as err:
        fetch_exposition(http_server + path, timeout_s=0.3)
    assert err.value.reason == reason


def test_fetch_unreachable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connection refused
        with pytest.raises(SourceUnavailableError) as err:
            fetch_exposition(f"http://127.0.0.1:{port}/metrics", timeout_s=0.5)
    assert err.value.reason == "unreachable"


def test_fetch_too_large(http_server):
    with pytest.raises(SourceUnavailableError) as err:
        fetch_exposition(http_server + "/metrics", timeout_s=1, max_bytes=5)
    assert err.value.reason == "too-large"
