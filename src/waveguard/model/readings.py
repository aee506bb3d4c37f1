"""What a gate reads, as data: the metric, how it is read and its labels (:class:`Reading`).

A gate declares its :class:`Reading` once (``rollout/gates/<gate>.py``) and evaluates with it;
``waveguard.signals.prometheus.PrometheusSignals.promql`` renders the same reading as the PromQL
it sends to Prometheus, and ``waveguard export`` writes that same text into Argo Rollouts,
Flagger, Prometheus Operator and Grafana objects. The simulator reads it by metric name and
labels. Metric names are the real components' (domain.md §5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from waveguard.model.apf import DEFAULT_PRIORITY_LEVELS

#: The priority levels APF limits (Kubernetes' defaults without ``exempt``, from
#: ``waveguard.model.apf``): per-level readings read each and report the worst.
LIMITED_LEVELS = tuple(level.name for level in DEFAULT_PRIORITY_LEVELS if not level.exempt)

#: How a figure is read: a gauge's newest value, a counter's per-second rate, or a histogram's
#: quantile over the rate window.
How = Literal["gauge", "rate", "quantile"]


@dataclass(frozen=True)
class Reading:
    """One figure per cluster. ``metric``: the series name (a histogram's base name for
    ``quantile``); ``how``: see :data:`How`; ``labels``: (name, value) matchers (``"5xx"`` means
    the code class); ``quantile``: for ``how="quantile"`` (0.99 = p99); ``per_level``: read per
    limited priority level (:data:`LIMITED_LEVELS`), the worst counts; ``over``: divided by this
    reading of the same cluster (and level) — where it is missing or 0 there is no figure."""

    metric: str
    how: How = "gauge"
    labels: tuple[tuple[str, str], ...] = ()
    quantile: float | None = None
    per_level: bool = False
    over: Reading | None = None

    def __post_init__(self) -> None:
        if (self.how == "quantile") != (self.quantile is not None):
            raise ValueError(f"reading {self.metric}: a quantile is given exactly when how='quantile'")

    @property
    def label_dict(self) -> dict[str, str]:
        """The labels as keyword arguments of ``Signals.value`` / ``Signals.rate``."""
        out = dict(self.labels)
        if self.quantile is not None:
            out["quantile"] = f"{self.quantile:g}"
        return out


#: kube-apiserver replicas scraped (``up``): every gate that reads the apiserver fails at 0.
APISERVER_UP = Reading("up", labels=(("job", "apiserver"),))
#: One apiserver replica's memory limit, from kube-state-metrics.
APISERVER_MEMORY_LIMIT = Reading("kube_pod_container_resource_limits",
                                 labels=(("container", "kube-apiserver"), ("resource", "memory")))
