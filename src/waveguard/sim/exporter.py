"""Serve a live simulated fleet the way real components expose themselves to Prometheus.

:class:`FleetExporter` reads a running :class:`~waveguard.sim.FleetSimulator` and serves, on
127.0.0.1 only, one ``/metrics`` target per cluster and component, with the metric and label
names of the real components (``../shared/inputs/metrics/``, domain.md §5):

================================  =====================================================  ===================
path                              what                                                   Prometheus job
================================  =====================================================  ===================
``/metrics/<cluster>/apiserver``  kube-apiserver: APF gauges/counters, request latency   ``apiserver``
                                  and APF wait **histograms** (``_bucket``, real bucket
                                  bounds), 429s, resident memory. HTTP 503 while no
                                  replica is up, so Prometheus records ``up == 0``.
``/metrics/<cluster>/coredns``    ``coredns_dns_requests_total``,                        ``coredns``
                                  ``coredns_dns_responses_total{rcode}``
``/metrics/<cluster>/kube-state-  ``kube_pod_container_resource_limits`` of the          ``kube-state-metrics``
metrics``                         kube-apiserver containers (memory)
``/metrics/<cluster>/waveguard-   ground truth a real cluster does not expose            ``waveguard-sim``
sim``                             (``waveguard_sim_*``: workload error ratio, rollout
                                  share, simulated clock)
================================  =====================================================  ===================

Prometheus puts the ``cluster`` label on every series from its target labels
(:func:`scrape_config` writes the jobs), so the same PromQL reads the exporter and a real fleet.

**Histograms.** The simulator computes, per step, the p99 of single-object request latency per
scope and the p99 APF queue wait per priority level (its M/M/c model, docs/simulator.md). The
exporter turns each step into histogram observations: ``dispatched`` requests (the step's
``apiserver_flowcontrol_dispatched_requests_total`` increase; per level for the wait, all levels
for the latency) spread over the buckets as an exponential distribution whose p99 is the
simulator's (F(b) = 1 − 100^(−b / p99); the M/M/c wait is exponential). ``histogram_quantile(0.99,
rate(..._bucket[w]))`` then gives back the simulator's p99 when it is constant over the window,
exactly at bucket bounds (the gates' thresholds 1 s sit on bounds of both real bucket layouts)
and within a bucket otherwise; over a window it is the p99 of the window's requests, as on a
real apiserver.

**Counters** start at 0 when the exporter attaches (a restarted process does the same; Prometheus'
``rate`` handles the reset). Values are per *simulated* second: at ``time_scale`` simulated
seconds per wall second, ``rate()`` over a wall-clock window is ``time_scale`` times the
simulated rate (:mod:`waveguard.signals.prometheus` divides it back).

**Simulated CoreDNS.** With ``dns=True`` the exporter also answers DNS on UDP at the same
address and port: it is authoritative for ``svc.<cluster>.local`` (:func:`dns_zone`) and answers
a name in it NXDOMAIN with the AA flag — or SERVFAIL, for the share of lookups the simulated
CoreDNS of that cluster failed in the latest step (deterministically: an error-diffusion
counter per cluster, so a failure ratio r gives r of the answers as SERVFAIL). So the
cache-bypassing DNS probe (:func:`waveguard.signals.dns.probe_authoritative`) runs for real.

Threads: :meth:`FleetExporter.update` is called by whoever steps the simulator (after each
step batch, in that thread) and publishes an immutable snapshot; the HTTP and DNS threads only
read the latest snapshot. Errors: :class:`~waveguard.model.errors.InputError` for a listen
address that is not a loopback address or a port in use.
"""

from __future__ import annotations

import ipaddress
import math
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterable

import numpy as np
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from waveguard.model.errors import InputError
from waveguard.sim.engine import FleetSimulator

#: kube-apiserver's ``apiserver_request_duration_seconds`` buckets (seconds), as exposed by
#: v1.35 (``../shared/inputs/metrics/kube-apiserver-v1.35-nri-kubernetes.prom``).
REQUEST_DURATION_BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0,
                            6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0)
#: ``apiserver_flowcontrol_request_wait_duration_seconds`` buckets (seconds), same source.
WAIT_DURATION_BUCKETS = (0.0, 0.005, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0)
#: The components served per cluster (path segment = Prometheus job name).
COMPONENTS = ("apiserver", "coredns", "kube-state-metrics", "waveguard-sim")
_LN100 = math.log(100.0)


def dns_zone(cluster: str) -> str:
    """The zone the exporter's simulated CoreDNS is authoritative for: ``svc.<cluster>.local``."""
    return f"svc.{cluster}.local"


def parse_listen(address: str, *, what: str = "--serve-metrics") -> tuple[str, int]:
    """``HOST:PORT`` → (host, port); the host must be a loopback address (the exporter never
    listens elsewhere). Port 0 picks a free one. Raises InputError."""
    host, sep, port_s = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_s) if sep else -1
    except ValueError:
        port = -1
    if not 0 <= port < 65536:
        raise InputError(what, f"{address!r} is not HOST:PORT", hint="e.g. 127.0.0.1:9464")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise InputError(what, f"{host} is not a loopback address: the exporter listens on 127.0.0.1 only",
                         hint="use 127.0.0.1:PORT")
    return ("127.0.0.1" if host == "localhost" else host), port


def exponential_cdf(bounds: np.ndarray, p99: np.ndarray) -> np.ndarray:
    """Share of observations ≤ each bucket bound for an exponential distribution with the given
    p99 (seconds). ``p99`` any shape; result ``p99.shape + (len(bounds),)``. p99 ≤ 0: all
    observations at 0."""
    p = np.asarray(p99, dtype=np.float64)[..., None]
    b = np.asarray(bounds, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        cdf = 1.0 - np.exp(-_LN100 * b / np.where(p > 0, p, 1.0))
    return np.where(p > 0, cdf, np.where(b >= 0, 1.0, 0.0))


@dataclass(frozen=True)
class _Snapshot:
    """Everything the HTTP/DNS threads need, fixed at one simulated instant."""

    version: int
    time_s: float
    up: np.ndarray                       # (C,) replicas up
    gauges: dict[str, np.ndarray]        # name → (C,) or (X, C)
    counters: dict[str, np.ndarray]      # name → (C,) or (X, C), since attach
    latency_buckets: np.ndarray          # (S, C, B) cumulative counts per scope
    latency_sum: np.ndarray              # (S, C)
    latency_count: np.ndarray            # (S, C)
    wait_buckets: np.ndarray             # (L, C, B)
    wait_sum: np.ndarray                 # (L, C)
    wait_count: np.ndarray               # (L, C)
    dns_fail_ratio: np.ndarray           # (C,) latest step's SERVFAIL share


_GAUGES_LEVEL = ("apiserver_flowcontrol_current_executing_seats", "apiserver_flowcontrol_current_inqueue_requests",
                 "apiserver_flowcontrol_current_limit_seats", "apiserver_flowcontrol_nominal_limit_seats")
_COUNTERS_LEVEL = ("apiserver_flowcontrol_rejected_requests_total", "apiserver_flowcontrol_dispatched_requests_total")
_COUNTERS = ("apiserver_request_total", "coredns_dns_requests_total", "coredns_dns_responses_total")
_SIM_GAUGES = ("waveguard_sim_workload_error_ratio", "waveguard_sim_dns_client_failure_ratio",
               "waveguard_sim_rollout_share", "waveguard_sim_apiserver_cpu_demand_ratio",
               "waveguard_sim_apiserver_memory_limit_bytes")


class FleetExporter:
    """Serves ``sim``'s latest state as Prometheus targets (and, with ``dns``, its CoreDNS).

    Call :meth:`update` after stepping the simulator; :meth:`start` / :meth:`close` the servers.
    ``scrapes(path)`` counts the scrapes served per target (for a caller that waits until
    Prometheus has history)."""

    def __init__(self, sim: FleetSimulator, *, host: str = "127.0.0.1", port: int = 0, dns: bool = True) -> None:
        self.sim = sim
        self.host, self.port, self.dns = host, port, dns
        self.clusters = list(sim.cluster_names)
        self._index = {c: i for i, c in enumerate(self.clusters)}
        self._zones = {dns_zone(c).lower() + ".": i for i, c in enumerate(self.clusters)}
        self.replicas = [c.replicas for c in sim.clusters]
        reader = sim.reader
        self.levels = list(reader.labels.priority_level)
        self.scopes = list(reader.labels.scope)
        C = len(self.clusters)
        self._n = sim.store.n  # first step not yet turned into observations
        self._base = {name: np.array(sim.store.totals[name], dtype=np.float64) for name in
                      _COUNTERS_LEVEL + _COUNTERS}
        self._lat_b = np.zeros((len(self.scopes), C, len(REQUEST_DURATION_BUCKETS)))
        self._lat_s = np.zeros((len(self.scopes), C))
        self._lat_c = np.zeros((len(self.scopes), C))
        self._wait_b = np.zeros((len(self.levels), C, len(WAIT_DURATION_BUCKETS)))
        self._wait_s = np.zeros((len(self.levels), C))
        self._wait_c = np.zeros((len(self.levels), C))
        self._version = 0
        self._snapshot: _Snapshot | None = None
        self._scrapes: dict[str, int] = {}
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[int, bytes]] = {}
        self._dns_credit = np.zeros(C)
        self._http: ThreadingHTTPServer | None = None
        self._udp: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._connections: set[socket.socket] = set()
        self.update()

    # --- simulator side ---------------------------------------------------------------------
    def update(self) -> None:
        """Turn the steps recorded since the last call into observations and publish a new
        snapshot. Call from the thread that steps the simulator."""
        sim, store = self.sim, self.sim.store
        n = store.n
        if n > self._n:
            arrays = store.arrays
            disp = np.asarray(arrays["apiserver_flowcontrol_dispatched_requests_total"][self._n:n], dtype=np.float64)
            wait = np.asarray(arrays["apiserver_flowcontrol_request_wait_duration_seconds"][self._n:n], dtype=np.float64)
            lat = np.asarray(arrays["apiserver_request_duration_seconds"][self._n:n], dtype=np.float64)
            # wait: (k, L, C); weight per level. latency: (k, S, C); weight = all dispatched.
            self._wait_b += (disp[..., None] * exponential_cdf(WAIT_DURATION_BUCKETS, wait)).sum(axis=0)
            self._wait_s += (disp * wait / _LN100).sum(axis=0)
            self._wait_c += disp.sum(axis=0)
            total = disp.sum(axis=1)  # (k, C)
            self._lat_b += (total[:, None, :, None] * exponential_cdf(REQUEST_DURATION_BUCKETS, lat)).sum(axis=0)
            self._lat_s += (total[:, None, :] * lat / _LN100).sum(axis=0)
            self._lat_c += np.broadcast_to(total[:, None, :], lat.shape).sum(axis=0)
            self._n = n
        reader = sim.reader
        up_rows = store.arrays["up"][n - 1] if n else np.zeros((sim.R, len(self.clusters)))
        gauges = {name: reader.latest(name) if name not in _GAUGES_LEVEL else
                  np.stack([reader.latest(name, priority_level=l) for l in self.levels])
                  for name in _GAUGES_LEVEL + _SIM_GAUGES}
        gauges["process_resident_memory_bytes"] = reader.latest("process_resident_memory_bytes")
        counters = {name: np.asarray(store.totals[name], dtype=np.float64) - self._base[name]
                    for name in _COUNTERS_LEVEL + _COUNTERS}
        if n:
            asked = np.asarray(store.arrays["coredns_dns_requests_total"][n - 1], dtype=np.float64)
            failed = np.asarray(store.arrays["coredns_dns_responses_total"][n - 1], dtype=np.float64)
            dns_fail = np.where(asked > 0, np.minimum(1.0, failed / np.maximum(asked, 1e-12)), 0.0)
        else:
            dns_fail = np.zeros(len(self.clusters))
        self._version += 1
        self._snapshot = _Snapshot(
            version=self._version, time_s=sim.time_s, up=np.asarray(up_rows, dtype=np.float64).sum(axis=0),
            gauges=gauges, counters=counters, latency_buckets=self._lat_b.copy(), latency_sum=self._lat_s.copy(),
            latency_count=self._lat_c.copy(), wait_buckets=self._wait_b.copy(), wait_sum=self._wait_s.copy(),
            wait_count=self._wait_c.copy(), dns_fail_ratio=dns_fail)

    # --- exposition -------------------------------------------------------------------------
    def paths(self) -> list[str]:
        """Every target path served: ``/metrics/<cluster>/<component>``."""
        return [f"/metrics/{c}/{comp}" for c in self.clusters for comp in COMPONENTS]

    def scrapes(self, path: str) -> int:
        """Scrapes served on ``path`` since the exporter started."""
        with self._lock:
            return self._scrapes.get(path, 0)

    def exposition(self, cluster: str, component: str) -> bytes | None:
        """The text exposition of one target; None while the target is down (kube-apiserver
        with no replica up). KeyError for an unknown cluster or component."""
        c = self._index[cluster]
        if component not in COMPONENTS:
            raise KeyError(component)
        snap = self._snapshot
        assert snap is not None
        if component == "apiserver" and snap.up[c] <= 0:
            return None
        key = f"{cluster}/{component}"
        with self._lock:
            cached = self._cache.get(key)
        if cached and cached[0] == snap.version:
            return cached[1]
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Families(lambda: getattr(self, f"_{component.replace('-', '_')}")(snap, c, cluster)))
        body = generate_latest(registry)
        with self._lock:
            self._cache[key] = (snap.version, body)
        return body

    def _apiserver(self, s: _Snapshot, c: int, cluster: str) -> Iterable:
        help_ = {  # help texts as kube-apiserver exposes them (shortened)
            "apiserver_flowcontrol_current_executing_seats": "[BETA] Concurrency (number of seats) occupied by the currently executing requests in the API Priority and Fairness subsystem",
            "apiserver_flowcontrol_current_inqueue_requests": "[BETA] Number of requests currently pending in queues of the API Priority and Fairness subsystem",
            "apiserver_flowcontrol_current_limit_seats": "[ALPHA] current derived number of execution seats available to each priority level",
            "apiserver_flowcontrol_nominal_limit_seats": "[BETA] Nominal number of execution seats configured for each priority level",
        }
        for name in _GAUGES_LEVEL:
            g = GaugeMetricFamily(name, help_[name], labels=["priority_level"])
            for i, level in enumerate(self.levels):
                g.add_metric([level], float(s.gauges[name][i, c]))
            yield g
        for name, doc in (("apiserver_flowcontrol_rejected_requests_total", "[BETA] Number of requests rejected by API Priority and Fairness subsystem"),
                          ("apiserver_flowcontrol_dispatched_requests_total", "[BETA] Number of requests executed by API Priority and Fairness subsystem")):
            fam = CounterMetricFamily(name[: -len("_total")], doc, labels=["priority_level"])
            for i, level in enumerate(self.levels):
                fam.add_metric([level], float(s.counters[name][i, c]))
            yield fam
        fam = CounterMetricFamily("apiserver_request", "[STABLE] Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.",
                                  labels=["code"])
        fam.add_metric(["429"], float(s.counters["apiserver_request_total"][c]))
        yield fam
        yield _histogram("apiserver_request_duration_seconds", "[STABLE] Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.",
                         ["component", "scope"], [["apiserver", scope] for scope in self.scopes], REQUEST_DURATION_BUCKETS,
                         s.latency_buckets[:, c], s.latency_count[:, c], s.latency_sum[:, c])
        yield _histogram("apiserver_flowcontrol_request_wait_duration_seconds", "[BETA] Length of time a request spent waiting in its queue",
                         ["execute", "priority_level"], [["true", level] for level in self.levels], WAIT_DURATION_BUCKETS,
                         s.wait_buckets[:, c], s.wait_count[:, c], s.wait_sum[:, c])
        g = GaugeMetricFamily("process_resident_memory_bytes", "Resident memory size in bytes.")
        g.add_metric([], float(s.gauges["process_resident_memory_bytes"][c]))
        yield g

    def _coredns(self, s: _Snapshot, c: int, cluster: str) -> Iterable:
        labels = ["server", "zone", "proto", "family", "type"]
        fam = CounterMetricFamily("coredns_dns_requests", "Counter of DNS requests made per zone, protocol and family.", labels=labels)
        asked = float(s.counters["coredns_dns_requests_total"][c])
        fam.add_metric(["dns://:53", ".", "udp", "1", "A"], asked)
        yield fam
        failed = float(s.counters["coredns_dns_responses_total"][c])
        fam = CounterMetricFamily("coredns_dns_responses", "Counter of response status codes.", labels=["server", "zone", "rcode"])
        fam.add_metric(["dns://:53", ".", "NOERROR"], max(0.0, asked - failed))
        fam.add_metric(["dns://:53", ".", "SERVFAIL"], failed)
        yield fam

    def _kube_state_metrics(self, s: _Snapshot, c: int, cluster: str) -> Iterable:
        g = GaugeMetricFamily("kube_pod_container_resource_limits", "The number of requested limit resource by a container.",
                              labels=["namespace", "pod", "container", "resource", "unit"])
        limit = float(s.gauges["waveguard_sim_apiserver_memory_limit_bytes"][c])
        for r in range(self.replicas[c]):
            g.add_metric(["kube-system", f"kube-apiserver-{r}", "kube-apiserver", "memory", "byte"], limit)
        yield g

    def _waveguard_sim(self, s: _Snapshot, c: int, cluster: str) -> Iterable:
        for name in _SIM_GAUGES:
            g = GaugeMetricFamily(name, "waveguard simulator ground truth (no real counterpart)")
            g.add_metric([], float(s.gauges[name][c]))
            yield g
        g = GaugeMetricFamily("waveguard_sim_time_seconds", "Simulated seconds since the simulation started.")
        g.add_metric([], float(s.time_s))
        yield g

    # --- DNS ----------------------------------------------------------------------------------
    def dns_answer(self, wire: bytes) -> bytes | None:
        """Answer one DNS query (wire format) as the simulated CoreDNS of the cluster whose zone
        the name is in: NXDOMAIN + AA, or SERVFAIL in the share of the latest step's failures;
        REFUSED outside every zone. None for a message that is not a query."""
        import dns.flags
        import dns.message
        import dns.rcode
        import dns.rdataclass
        import dns.rdatatype
        import dns.rrset

        try:
            query = dns.message.from_wire(wire)
        except Exception:
            return None
        if not query.question:
            return None
        qname = query.question[0].name.to_text().lower()
        reply = dns.message.make_response(query)
        reply.flags &= ~dns.flags.RA
        zone = next((z for z in self._zones if qname == z or qname.endswith("." + z)), None)
        if zone is None:
            reply.set_rcode(dns.rcode.REFUSED)
            return reply.to_wire()
        c = self._zones[zone]
        snap = self._snapshot
        with self._lock:
            self._dns_credit[c] += float(snap.dns_fail_ratio[c]) if snap is not None else 0.0
            fail = self._dns_credit[c] >= 1.0 - 1e-9
            if fail:
                self._dns_credit[c] -= 1.0
        if fail:
            reply.set_rcode(dns.rcode.SERVFAIL)
            return reply.to_wire()
        reply.flags |= dns.flags.AA
        reply.set_rcode(dns.rcode.NXDOMAIN)
        soa = dns.rrset.from_text(zone, 5, dns.rdataclass.IN, dns.rdatatype.SOA,
                                  f"ns.dns.{zone} hostmaster.{zone} 1 7200 1800 86400 5")
        reply.authority.append(soa)
        return reply.to_wire()

    # --- servers --------------------------------------------------------------------------------
    def start(self) -> "FleetExporter":
        """Start the HTTP (and DNS) servers on ``host:port`` (127.0.0.1 only). Raises InputError
        when the port is taken."""
        host, port = parse_listen(f"{self.host}:{self.port}")
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: Prometheus reuses its connection per target

            def setup(self) -> None:
                super().setup()
                with exporter._lock:
                    exporter._connections.add(self.connection)

            def finish(self) -> None:
                with exporter._lock:
                    exporter._connections.discard(self.connection)
                try:
                    super().finish()
                except OSError:
                    pass

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                if exporter._stop.is_set():
                    self.close_connection = True
                    try:
                        self.send_error(503, "exporter stopped")
                    except OSError:
                        pass
                    return
                parts = self.path.split("?", 1)[0].strip("/").split("/")
                body: bytes | None = b""
                status = 404
                if len(parts) == 3 and parts[0] == "metrics":
                    try:
                        body = exporter.exposition(parts[1], parts[2])
                        status = 200 if body is not None else 503
                    except KeyError:
                        body = b""
                    with exporter._lock:
                        p = "/" + "/".join(parts)
                        exporter._scrapes[p] = exporter._scrapes.get(p, 0) + 1
                elif parts == [""] or parts == ["metrics"]:
                    status, body = 200, ("\n".join(exporter.paths()) + "\n").encode()
                if body is None:
                    body = b"no kube-apiserver replica is up\n"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", CONTENT_TYPE_LATEST if status == 200 else "text/plain")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the scraper went away (timeout): nothing to do
                    self.close_connection = True

            def log_message(self, *args) -> None:  # quiet
                pass

        try:
            self._http = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise InputError(f"{host}:{port}", f"cannot listen: {exc.strerror}", hint="pick another port") from exc
        self._http.daemon_threads = True
        self.host, self.port = self._http.server_address[:2]
        t = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True,
                             name="waveguard-exporter-http")
        t.start()
        self._threads.append(t)
        if self.dns:
            try:
                self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self._udp.bind((self.host, self.port))
            except OSError as exc:
                self.close()
                raise InputError(f"{host}:{self.port}/udp", f"cannot listen for DNS: {exc.strerror}",
                                 hint="pick another port") from exc
            self._udp.settimeout(0.1)
            t = threading.Thread(target=self._serve_dns, daemon=True, name="waveguard-exporter-dns")
            t.start()
            self._threads.append(t)
        return self

    def _serve_dns(self) -> None:
        sock = self._udp
        while not self._stop.is_set() and sock is not None:
            try:
                wire, addr = sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            answer = self.dns_answer(wire)
            if answer is not None:
                try:
                    sock.sendto(answer, addr)
                except OSError:
                    pass

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def close(self) -> None:
        """Stop the servers and close every open (keep-alive) connection (idempotent): a scraper
        holding a connection must not go on reading this exporter's frozen state."""
        self._stop.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        with self._lock:
            conns = list(self._connections)
            self._connections.clear()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        for t in self._threads:
            t.join(timeout=2)
        self._threads.clear()

    def __enter__(self) -> "FleetExporter":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


class _Families:
    """A prometheus-client collector yielding the families a function builds."""

    def __init__(self, build) -> None:
        self._build = build

    def collect(self):
        yield from self._build()


def _histogram(name: str, doc: str, labels: list[str], rows: list[list[str]], bounds: tuple[float, ...],
               buckets: np.ndarray, counts: np.ndarray, sums: np.ndarray) -> HistogramMetricFamily:
    """One histogram family, a series per row of label values (``buckets`` cumulative, one row each)."""
    h = HistogramMetricFamily(name, doc, labels=labels)
    for i, values in enumerate(rows):
        h.add_metric(values, _buckets(bounds, buckets[i], counts[i]), float(sums[i]))
    return h


def _buckets(bounds: tuple[float, ...], counts: np.ndarray, total: float) -> list[tuple[str, float]]:
    out = [(_le(b), float(v)) for b, v in zip(bounds, counts)]
    out.append(("+Inf", float(total)))
    return out


def _le(b: float) -> str:
    """A bucket bound as kube-apiserver writes it (Go's shortest form: ``0.005``, ``1``, ``60``)."""
    return f"{b:g}"


def scrape_config(clusters: Iterable[str], address: str, *, scrape_interval_s: float = 1.0,
                  components: Iterable[str] = COMPONENTS) -> dict:
    """A Prometheus configuration (a dict to dump as YAML) scraping the exporter at
    ``address`` (HOST:PORT): one job per component, one target per cluster, each with its
    ``cluster`` label and ``__metrics_path__``. ``scrape_timeout`` = the interval."""
    interval = _duration(scrape_interval_s)
    jobs = []
    for comp in components:
        jobs.append({
            "job_name": comp, "scrape_interval": interval, "scrape_timeout": interval,
            "static_configs": [{"targets": [address], "labels": {"cluster": c, "__metrics_path__": f"/metrics/{c}/{comp}"}}
                               for c in clusters],
        })
    return {"global": {"scrape_interval": interval, "evaluation_interval": interval}, "scrape_configs": jobs}


def _duration(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"
