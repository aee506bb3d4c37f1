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
address and port (:mod:`.dns_server`), authoritative for ``svc.<cluster>.local``
(:func:`dns_zone`).

Threads: :meth:`FleetExporter.update` is called by whoever steps the simulator (after each
step batch, in that thread; :class:`waveguard.sim.pacer.Pacer` does it once per slice) and
publishes an immutable snapshot; the HTTP and DNS threads only read the latest snapshot. Errors:
:class:`~waveguard.model.errors.InputError` for a listen address that is not a loopback address
or a port in use.

Modules: :mod:`.snapshot` (the simulator's state as counters, gauges, histograms),
:mod:`.families` (metric families per component), :mod:`.http_server`, :mod:`.dns_server`,
:mod:`.scrape` (listen address, Prometheus scrape configuration), :mod:`.fleet` (the exporter).
"""

from waveguard.sim.exporter.dns_server import dns_zone
from waveguard.sim.exporter.families import COMPONENTS
from waveguard.sim.exporter.fleet import FleetExporter
from waveguard.sim.exporter.scrape import parse_listen, scrape_config
from waveguard.sim.exporter.snapshot import REQUEST_DURATION_BUCKETS, WAIT_DURATION_BUCKETS, exponential_cdf

__all__ = ["COMPONENTS", "REQUEST_DURATION_BUCKETS", "WAIT_DURATION_BUCKETS", "FleetExporter", "dns_zone",
           "exponential_cdf", "parse_listen", "scrape_config"]
