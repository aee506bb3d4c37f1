"""The exporter itself: a running simulator's latest state, served over HTTP and DNS.

:class:`FleetExporter` ties the pieces together: :class:`~.snapshot.SnapshotTaker` (in the
thread that steps the simulator), the metric families (:mod:`.families`), the HTTP server
(:mod:`.http_server`) and the simulated CoreDNS (:mod:`.dns_server`).
"""

from __future__ import annotations

import threading

from waveguard.model.errors import InputError
from waveguard.sim.engine import FleetSimulator
from waveguard.sim.exporter.dns_server import DNSServer, SimulatedCoreDNS
from waveguard.sim.exporter.families import COMPONENTS, FleetLayout, render
from waveguard.sim.exporter.http_server import MetricsServer
from waveguard.sim.exporter.scrape import parse_listen
from waveguard.sim.exporter.snapshot import Snapshot, SnapshotTaker


class FleetExporter:
    """Serves ``sim``'s latest state as Prometheus targets on ``host:port`` (127.0.0.1 only;
    port 0 picks one) and, with ``dns``, its CoreDNS on UDP at the same address.

    Call :meth:`update` after stepping the simulator; :meth:`start` / :meth:`close` the servers
    (or use it as a context manager). ``scrapes(path)`` counts the scrapes served per target
    (for a caller that waits until Prometheus has history)."""

    def __init__(self, sim: FleetSimulator, *, host: str = "127.0.0.1", port: int = 0, dns: bool = True) -> None:
        self.sim = sim
        self.host, self.port, self.dns = host, port, dns
        self.clusters = list(sim.cluster_names)
        self._index = {c: i for i, c in enumerate(self.clusters)}
        labels = sim.reader.labels
        self.levels = list(labels.priority_level)
        self.scopes = list(labels.scope)
        self.replicas = [c.replicas for c in sim.clusters]
        self._layout = FleetLayout(levels=self.levels, scopes=self.scopes, replicas=self.replicas)
        self._taker = SnapshotTaker(sim, self.levels, self.scopes)
        self._snapshot: Snapshot = self._taker.take()
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[int, bytes]] = {}  # "cluster/component" → (snapshot version, body)
        self._coredns = SimulatedCoreDNS(self.clusters, self._dns_fail_ratio)
        self._http = MetricsServer(self.exposition, self.paths)
        self._dns_server: DNSServer | None = None

    # --- simulator side ---------------------------------------------------------------------
    def update(self) -> None:
        """Turn the steps recorded since the last call into observations and publish a new
        snapshot. Call from the thread that steps the simulator."""
        self._snapshot = self._taker.take()

    # --- exposition -------------------------------------------------------------------------
    def paths(self) -> list[str]:
        """Every target path served: ``/metrics/<cluster>/<component>``."""
        return [f"/metrics/{c}/{component}" for c in self.clusters for component in COMPONENTS]

    def scrapes(self, path: str) -> int:
        """Scrapes served on ``path`` since the exporter started."""
        return self._http.scrapes(path)

    def exposition(self, cluster: str, component: str) -> bytes | None:
        """The text exposition of one target; None while the target is down (kube-apiserver
        with no replica up). KeyError for an unknown cluster or component."""
        c = self._index[cluster]
        if component not in COMPONENTS:
            raise KeyError(component)
        snapshot = self._snapshot
        if component == "apiserver" and snapshot.up[c] <= 0:
            return None
        key = f"{cluster}/{component}"
        with self._lock:
            cached = self._cache.get(key)
        if cached and cached[0] == snapshot.version:
            return cached[1]
        body = render(component, snapshot, c, self._layout)
        with self._lock:
            self._cache[key] = (snapshot.version, body)
        return body

    # --- DNS ----------------------------------------------------------------------------------
    def dns_answer(self, wire: bytes) -> bytes | None:
        """Answer one DNS query (wire format) as the simulated CoreDNS of the cluster whose zone
        the name is in (:class:`~.dns_server.SimulatedCoreDNS`). None for a message that is not
        a query."""
        return self._coredns.answer(wire)

    def _dns_fail_ratio(self, c: int) -> float:
        return float(self._snapshot.dns_fail_ratio[c])

    # --- servers --------------------------------------------------------------------------------
    def start(self) -> FleetExporter:
        """Start the HTTP (and DNS) servers on ``host:port`` (127.0.0.1 only). Raises InputError
        for an address that is not loopback or a port that is taken."""
        host, port = parse_listen(f"{self.host}:{self.port}")
        self.host, self.port = self._http.start(host, port)
        if self.dns:
            self._dns_server = DNSServer(self.dns_answer)
            try:
                self._dns_server.start(self.host, self.port)
            except InputError:
                self.close()
                raise
        return self

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` of the HTTP server."""
        return f"http://{self.host}:{self.port}"

    def close(self) -> None:
        """Stop the servers and close every open (keep-alive) connection (idempotent): a scraper
        holding a connection must not go on reading this exporter's frozen state."""
        self._http.close()
        if self._dns_server is not None:
            self._dns_server.close()
            self._dns_server = None

    def __enter__(self) -> FleetExporter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
