"""Settings of the Prometheus signal source (the ``prometheus`` and ``dns`` sections of a backend
configuration) for :mod:`waveguard.signals.prometheus`: where and how to query, which DNS servers
to probe. Seconds are wall-clock seconds. Errors: :class:`~waveguard.model.errors.InputError`
naming the key (:func:`load_config`).
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from waveguard.model.errors import first_error, key_error
from waveguard.model.durations import Seconds
from waveguard.signals import dns as dnsprobe

#: Largest Prometheus response read. Policy: a fleet-wide answer is one sample per cluster and
#: level (1,000 clusters × 8 levels ≈ 1 MB of JSON); 16 MiB is a runaway.
MAX_RESPONSE_BYTES = 16 << 20
#: Prometheus' ``rate()`` needs two samples in its window; four scrape intervals tolerate one
#: missed scrape (the customary "rate window ≥ 4 × scrape interval").
MIN_RATE_WINDOW_SCRAPES = 4


class PrometheusConfig(BaseModel):
    """Where and how to query. Seconds are wall-clock seconds. NaN and infinite figures are
    refused (an infinite time scale cannot pace a simulated step)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    url: str
    #: Prometheus' scrape interval for these targets (kube-prometheus scrapes apiservers every 30 s).
    scrape_interval_s: Seconds = Field(default=30.0, gt=0)
    #: A sample older than this many scrape intervals is stale (no data).
    staleness_intervals: float = Field(default=3.0, gt=0)
    #: Per-request timeout (connect, read), also Prometheus' query timeout.
    timeout_s: Seconds = Field(default=5.0, gt=0, le=120)
    #: Simulated seconds per wall second of the scraped fleet (1 for real clusters): sizes the
    #: rate window; the paced path's wrapper corrects the rates.
    time_scale: float = Field(default=1.0, gt=0)
    #: The label that names the cluster (Prometheus target label, or external label when federated).
    cluster_label: str = Field(default="cluster", pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")
    #: Selects kube-apiserver's series (its scrape job).
    apiserver_selector: str = 'job="apiserver"'
    #: Selects kube-state-metrics' series (empty: the metric name is enough).
    kube_state_metrics_selector: str = ""
    #: Selects CoreDNS's series (empty: the metric names are enough).
    coredns_selector: str = ""
    #: PromQL giving the workloads' error ratio per cluster (0..1); ``{W}`` = rate window and
    #: ``{F}`` = freshness bound are filled in. No standard metric exists; the default reads the
    #: simulator's ground truth.
    workload_error_query: str = "max by (cluster) (last_over_time(waveguard_sim_workload_error_ratio[{F}]))"
    max_response_bytes: int = Field(default=MAX_RESPONSE_BYTES, gt=0)

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        try:
            u = httpx.URL(v)
        except Exception as exc:
            raise ValueError(f"not a URL: {exc}") from None
        if u.scheme not in ("http", "https") or not u.host:
            raise ValueError("must be http(s)://HOST[:PORT][/prefix]")
        return v.rstrip("/")

    @property
    def staleness_s(self) -> float:
        return self.staleness_intervals * self.scrape_interval_s

    def rate_window_s(self, gate_interval_s: float) -> float:
        """The rate window in wall seconds for a gate interval in simulated/rollout seconds."""
        return max(gate_interval_s / self.time_scale, MIN_RATE_WINDOW_SCRAPES * self.scrape_interval_s)


class DNSTarget(BaseModel):
    """A cluster's authoritative DNS server (CoreDNS's Service IP, or a node-local address)."""

    model_config = ConfigDict(extra="forbid")

    server: str
    port: int = Field(default=53, gt=0, lt=65536)
    zone: str = "cluster.local"


class DNSConfig(BaseModel):
    """Cache-bypassing probes per cluster; clusters without a server use CoreDNS's metrics."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    #: Probes per cluster per evaluation; the failure ratio has this resolution.
    probes: int = Field(default=3, ge=1, le=100)
    timeout_s: Seconds = Field(default=dnsprobe.DEFAULT_TIMEOUT_S, gt=0, le=30)
    latency_threshold_s: Seconds = Field(default=dnsprobe.DEFAULT_LATENCY_THRESHOLD_S, gt=0)
    clusters: dict[str, DNSTarget] = Field(default_factory=dict)
    #: Probes in flight at once (bounds threads and sockets).
    parallel: int = Field(default=32, ge=1, le=256)


def load_config(data: dict[str, Any], source: str = "backend config") -> tuple[PrometheusConfig | None,
                                                                             DNSConfig | None]:
    """Validate the ``prometheus`` and ``dns`` sections of a backend configuration. Raises
    InputError naming the key."""
    out: list[Any] = []
    for key, model in (("prometheus", PrometheusConfig), ("dns", DNSConfig)):
        section = data.get(key)
        if section is None:
            out.append(None)
            continue
        try:
            out.append(model.model_validate(section))
        except ValidationError as exc:
            raise key_error(source, first_error(exc), prefix=(key,), hint="see 'Real clusters' in README.md") from None
    return out[0], out[1]


def promql_duration(seconds: float) -> str:
    """A PromQL duration in whole milliseconds (``2500ms``, ``30s``)."""
    ms = max(1, int(round(seconds * 1000)))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"
