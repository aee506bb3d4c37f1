"""Prometheus readings of a *simulated* fleet paced against the wall clock, per simulated second.

Prometheus scrapes on the wall clock; a simulator paced at ``time_scale`` S runs S simulated
seconds per wall second (:mod:`waveguard.rollout.paced`), so ``rate()`` over a wall window is
about S × the simulated rate. :class:`PacedSignals` wraps
:class:`~waveguard.signals.prometheus.PrometheusSignals` and divides every rate by the simulated
clock's own rate over the same window (``rate(waveguard_sim_time_seconds[W])``, from the
``waveguard-sim`` target), which corrects for gate evaluations making the simulator fall behind
(to ~10 %: the clock and a counter are different targets, scraped at different moments); by S
when that series has no sample. Gauges, quantiles, DNS probes and ``explain`` pass through.
"""

from __future__ import annotations

from waveguard.rollout.ports import Readings
from waveguard.signals.prometheus import PrometheusSignals

#: The simulated clock's counter (seconds since the simulation started), served by the exporter.
SIM_CLOCK_METRIC = "waveguard_sim_time_seconds"


class PacedSignals(Readings):
    """``inner``'s readings with counter rates per simulated second. ``time_scale``: simulated
    seconds per wall second, used when ``measure_clock`` is off or the simulated clock's rate
    is not read."""

    def __init__(self, inner: PrometheusSignals, time_scale: float, *, measure_clock: bool = True) -> None:
        self.inner = inner
        self.time_scale = time_scale
        self.measure_clock = measure_clock

    def value(self, metric: str, cluster: str, **labels: str) -> float | None:
        return self.inner.value(metric, cluster, **labels)

    def rate(self, metric: str, cluster: str, **labels: str) -> float | None:
        """Per-simulated-second increase of a counter over the rate window."""
        per_wall_s = self.inner.rate(metric, cluster, **labels)
        return None if per_wall_s is None else per_wall_s / self.measured_time_scale(cluster)

    def measured_time_scale(self, cluster: str) -> float:
        """Simulated seconds per wall second over the rate window, from the simulated clock
        (``time_scale`` when not measured, or without a positive sample)."""
        if not self.measure_clock:
            return self.time_scale
        result = self.inner.query(*self.inner.rate_query(SIM_CLOCK_METRIC, {}))
        measured = result.get((cluster,)) if result else None
        return measured if measured and measured > 0 else self.time_scale

    def dns_probe_failure_ratio(self, cluster: str) -> float | None:
        return self.inner.dns_probe_failure_ratio(cluster)

    def memory_limit_bytes(self, cluster: str) -> float | None:
        return self.inner.memory_limit_bytes(cluster)

    def workload_error_ratio(self, cluster: str) -> float | None:
        return self.inner.workload_error_ratio(cluster)

    def explain(self, cluster: str) -> str:
        return self.inner.explain(cluster)
