"""A simulated fleet paced against the wall clock, served to a real Prometheus, gated through it.

:class:`PacedSimTarget` is a rollout :class:`~waveguard.rollout.ports.Backend` whose clusters are
the simulator's (:class:`~waveguard.rollout.simtarget.SimTarget`) but whose gates read a real
Prometheus (:class:`~waveguard.signals.prometheus.PrometheusSignals`, rates per simulated second
through :class:`~waveguard.rollout.paced_signals.PacedSignals`) that scrapes the simulator
through :class:`~waveguard.sim.exporter.FleetExporter` — and, for ``dns_probe``, probes the
exporter's simulated CoreDNS with real DNS packets. The whole path a real fleet takes, without one.

**Pacing.** Prometheus scrapes on the wall clock; the simulator runs on its own. With
``time_scale`` S (simulated seconds per wall second), simulated time is held to S × wall time:
:meth:`advance` steps the simulator in slices of about 0.1 wall second, publishes each slice to the
exporter and sleeps until the wall clock catches up (when gate evaluations made it fall behind, it
catches up without sleeping, up to one scrape interval; beyond, it re-anchors: that stretch is
lost to the simulation, as a paused process's would be). So every scrape sees about S ×
scrape-interval simulated seconds more, and ``rate()`` over a wall window is about S × the
simulated rate: :class:`~waveguard.rollout.paced_signals.PacedSignals` divides it by the
simulated clock's own rate over the same window. Gauges lag the simulator by
at most one scrape interval (S × ``scrape_interval_s`` simulated seconds, as a real Prometheus
lags a real cluster).
The PromQL rate window is the gate interval ÷ S, at least 4 scrape intervals.

**History before the rollout.** A real Prometheus has scraped a real fleet for days; the
exporter starts with the rollout. So the fleet runs its baseline for ``warmup_s`` simulated
seconds (default: one PromQL rate window plus one scrape interval, × S) —
and until Prometheus has scraped every cluster's apiserver, CoreDNS and waveguard-sim targets twice — *before*
the rollout's t = 0: ``now()`` is simulated time minus that offset. After a restart
(:meth:`restore`) the logged transitions (applies, rollbacks) of the folded state are replayed,
fast, on a fresh simulator with the same offset, then the exporter attaches and the same wait
runs: time passes during a restart, as for a real fleet.
"""

from __future__ import annotations

import sys
import time
from typing import Callable

import httpx

from waveguard.model.fleet import Fleet
from waveguard.model.requests import RequestProfile
from waveguard.rollout.paced_signals import PacedSignals
from waveguard.rollout.ports import CombinedBackend
from waveguard.rollout.simtarget import SimTarget
from waveguard.rollout.state import RolloutState
from waveguard.signals.prometheus import DNSConfig, DNSTarget, PrometheusConfig, PrometheusSignals
from waveguard.sim import FleetSimulator
from waveguard.sim.exporter import FleetExporter, dns_zone, parse_listen
from waveguard.sim.pacer import SLICE_WALL_S, Pacer
from waveguard.sim.phases.recording import EVERY_STEP


class PacedSimTarget(CombinedBackend):
    """``inner``'s simulated fleet, served at ``listen`` (127.0.0.1:PORT; port 0 picks one) and
    gated through the Prometheus of ``prometheus`` (whose ``time_scale`` paces the simulator).

    ``dns_probe``: probe the exporter's simulated CoreDNS (real DNS packets) for the ``dns_probe``
    gate; else CoreDNS's SERVFAIL ratio from Prometheus. ``gate_interval_s`` sizes the warm-up.
    ``log``: where progress notes go (default stderr). Call :meth:`close` at the end (stops the
    exporter's servers). Raises InputError for a bad listen address or a port in use."""

    def __init__(self, inner: SimTarget, prometheus: PrometheusConfig, *, listen: str = "127.0.0.1:0",
                 dns_probe: bool = True, dns: DNSConfig | None = None, gate_interval_s: float = 30.0,
                 warmup_s: float | None = None, memory_limits: dict[str, float] | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 log: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self.inner = inner
        inner.record_as(EVERY_STEP)  # its exporter serves the latest frame to every scrape
        self.config = prometheus
        self.scale = prometheus.time_scale
        self.host, self.port = parse_listen(listen)
        self.dns_probe = dns_probe
        #: One probe per cluster per evaluation by default: the simulated CoreDNS fails a share of
        #: answers deterministically, so every failure shows within 1/ratio evaluations.
        self._dns_base = dns or DNSConfig(probes=1)
        self.memory_limits = memory_limits or {}
        interval = prometheus.scrape_interval_s
        # A full rate window plus one scrape of this fleet's own history before t = 0: the first
        # gate's window then holds nothing older (e.g. an earlier run's series on the same port).
        self.warmup_s = warmup_s if warmup_s is not None else (
            prometheus.rate_window_s(gate_interval_s) + interval) * self.scale
        self._sleep, self._clock = sleep, clock
        self._log = log or (lambda msg: print(msg, file=sys.stderr))
        self.offset = 0.0
        self.exporter: FleetExporter | None = None
        self._client = httpx.Client()
        self._anchor: tuple[float, float] | None = None  # (wall, sim) pacing reference

    # --- actuator, clock, signal source ---------------------------------------------------------
    @property
    def fleet(self) -> Fleet:
        return self.inner.fleet

    @property
    def sim(self) -> FleetSimulator:
        return self.inner.sim

    def now(self) -> float:
        return self.inner.now() - self.offset

    def advance(self, seconds: float) -> None:
        self._step_paced(self.inner.now() + seconds)

    def apply(self, cluster: str, share: float) -> None:
        self.inner.apply(cluster, share)

    def rollback(self, cluster: str) -> None:
        self.inner.rollback(cluster)

    def signals(self, window_s: float = 30.0) -> PacedSignals:
        dns = None
        if self.dns_probe and self.exporter is not None:
            # Probe only the clusters the change has reached (the only ones gates read).
            clusters = {c: DNSTarget(server=self.exporter.host, port=self.exporter.port, zone=dns_zone(c))
                        for c, share in self.inner.shares.items() if share > 0}
            dns = self._dns_base.model_copy(update={"clusters": clusters})
        inner = PrometheusSignals(self.config, window_s, dns=dns, memory_limits=self.memory_limits,
                                  client=self._client)
        return PacedSignals(inner, self.scale)

    def measured_profiles(self) -> list[RequestProfile]:
        return self.inner.measured_profiles()

    def restore(self, state: RolloutState) -> None:
        """Fresh simulator; the baseline before t = 0 and the logged applies/rollbacks replayed
        fast; then the exporter attaches and the fleet runs paced until Prometheus has history."""
        if self.exporter is not None:
            self.exporter.close()
            self.exporter = None
        inner = self.inner
        inner.reset()
        replay = state.transitions
        resume_at = max((e.t for e in replay), default=0.0)
        # Fast: everything but the last warm-up stretch before the resume point (events are
        # shifted by the warm-up, so that is everything up to resume_at).
        self.offset = self.warmup_s
        fast_until = max(0.0, resume_at)
        pending = list(replay)
        while pending and pending[0].t + self.offset <= fast_until + 1e-9:
            e = pending.pop(0)
            inner.advance(e.t + self.offset - inner.now())
            inner.replay(e)
        inner.advance(fast_until - inner.now())
        self.exporter = FleetExporter(inner.sim, host=self.host, port=self.port, dns=self.dns_probe).start()
        self.port = self.exporter.port  # keep it across restores
        self._log(f"serving the simulated fleet at {self.exporter.url}/metrics/<cluster>/<component>"
                  + (f" and its CoreDNS on udp/{self.port}" if self.dns_probe else "")
                  + f"; {self.scale:g} simulated s per wall s; gates read {self.config.url}")
        self._anchor = None
        for e in pending:
            self._step_paced(e.t + self.offset)
            inner.replay(e)
        self._step_paced(max(inner.now(), resume_at + self.offset))
        self._await_history()
        if not state.applied:
            self.offset = inner.now() - resume_at  # nothing applied yet: the rollout starts now

    # --- pacing ------------------------------------------------------------------------------
    def _step_paced(self, until_sim: float) -> None:
        """Step to ``until_sim`` (simulated seconds) held to the wall clock by the one
        :class:`~waveguard.sim.pacer.Pacer`, re-anchoring beyond one scrape interval of lag; the
        (wall, simulated) anchor lives on in ``self._anchor`` between calls (None: re-anchor)."""
        exporter = self.exporter
        pacer = Pacer(self.inner.advance, self.inner.now, time_scale=self.scale, min_slice_s=self.inner.sim.dt,
                      max_lag_s=self.config.scrape_interval_s, anchor=self._anchor, clock=self._clock,
                      sleep=self._sleep, on_slice=exporter.update if exporter is not None else None)
        pacer.run_until(until_sim)
        self._anchor = pacer.anchor

    def _await_history(self) -> None:
        """Step (paced) until every cluster's apiserver, CoreDNS and waveguard-sim targets were
        scraped twice, for at most 20 scrape intervals (then gates will say no-data, and why)."""
        ex = self.exporter
        assert ex is not None
        paths = [f"/metrics/{c}/{comp}" for c in ex.clusters for comp in ("apiserver", "coredns", "waveguard-sim")]
        deadline = self._clock() + 20 * self.config.scrape_interval_s
        while min(ex.scrapes(p) for p in paths) < 2:
            if self._clock() > deadline:
                missing = [p for p in paths if ex.scrapes(p) < 2]
                self._log(f"warning: Prometheus has not scraped {len(missing)} exporter targets (e.g. "
                          f"{ex.url}{missing[0]}) within {20 * self.config.scrape_interval_s:g} s; "
                          "gates will have no data until it does")
                return
            self._step_paced(self.inner.now() + self.scale * SLICE_WALL_S)

    def close(self) -> None:
        """Stop the exporter's servers and the HTTP client (idempotent)."""
        if self.exporter is not None:
            self.exporter.close()
            self.exporter = None
        self._client.close()
