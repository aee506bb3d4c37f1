"""The gates' :class:`~waveguard.rollout.gates.Signals` read from Prometheus (issue 5, part 1).

:class:`PrometheusSignals` answers every figure a gate asks for with **one PromQL query over the
whole fleet** (``… by (cluster[, priority_level])``, sent to ``/api/v1/query`` with httpx) and
caches the result for that evaluation, so one evaluation costs one query per figure whatever the
fleet's size. The metric names are the real components' (domain.md §5); the same queries read a
real fleet and :class:`waveguard.sim.exporter.FleetExporter`, which exposes the same names,
labels and histograms. What a gate reads is data, its ``Gate.reading``
(:class:`waveguard.model.readings.Reading`); :meth:`PrometheusSignals.promql` renders a reading as
the query below, and ``waveguard export`` writes that same text into Argo Rollouts, Flagger,
PrometheusRule and Grafana objects (``waveguard export prometheus-rule`` prints every query in
full). Per-level queries read the limited levels only (``{lvl}`` =
``priority_level=~"system|node-high|…|catch-all"``, ``waveguard.model.readings.LIMITED_LEVELS``).
The queries (``{W}`` the rate window, ``{F}`` the freshness bound, both below; ``{api}`` the
apiserver selector, default ``job="apiserver"``):

========================================  ==========================================================================
figure (gate)                             PromQL
========================================  ==========================================================================
apiserver replicas up (every apiserver    ``sum by (cluster) (up{{api}})``
gate: 0 fails them)
p99 single-object latency                 ``histogram_quantile(0.99, sum by (cluster, le) (rate(apiserver_request_duration_seconds_bucket{{api},scope="resource",verb!~"WATCH|CONNECT"}[{W}])))``
(``apiserver_p99_latency``)
429s/s per level (``apiserver_rejections``) ``sum by (cluster, priority_level) (rate(apiserver_flowcontrol_rejected_requests_total{{api},{lvl}}[{W}]))``
seats in use / nominal per level          ``sum by (cluster, priority_level) (apiserver_flowcontrol_current_executing_seats{{api},{lvl}})`` and
(``apf_seat_utilisation``)                ``sum by (cluster, priority_level) (apiserver_flowcontrol_nominal_limit_seats{{api},{lvl}})``
p99 APF queue wait per level              ``histogram_quantile(0.99, sum by (cluster, priority_level, le) (rate(apiserver_flowcontrol_request_wait_duration_seconds_bucket{{api},{lvl},execute="true"}[{W}])))``
(``apf_queue_wait``)
apiserver memory / limit                  ``max by (cluster) (process_resident_memory_bytes{{api}})`` /
(``apiserver_memory``)                    ``max by (cluster) (kube_pod_container_resource_limits{resource="memory",container="kube-apiserver"})``
                                          (kube-state-metrics; else the fleet file's ``apiserver_memory_bytes`` when set)
etcd p99 (``etcd_p99_latency``)           ``histogram_quantile(0.99, sum by (cluster, le) (rate(etcd_request_duration_seconds_bucket{{api}}[{W}])))``
CoreDNS → API errors/s                    ``sum by (cluster) (rate(coredns_kubernetes_rest_client_requests_total{code=~"5.."}[{W}]))``
(``coredns_api_errors``)
DNS failure ratio (``dns_probe``)         with a DNS server configured for the cluster: the share of
                                          :func:`~waveguard.signals.dns.probe_authoritative` probes that fail; else
                                          ``sum by (cluster) (rate(coredns_dns_responses_total{rcode="SERVFAIL"}[{W}])) / sum by (cluster) (rate(coredns_dns_requests_total[{W}]))``
workload error ratio                      configurable (no standard metric); default, the simulator's ground truth:
(``workload_error_rate``)                 ``max by (cluster) (waveguard_sim_workload_error_ratio)``
========================================  ==========================================================================

**Freshness.** ``F`` = ``staleness_intervals`` (3) × ``scrape_interval_s``. Gauges are read as
their newest sample within ``F`` (``last_over_time(M[{F}])``; ``max_over_time`` for ``up``), so
the table's gauge queries are wrapped that way; rates and histograms are guarded: ``(Q) and on
(cluster[, priority_level]) (count by (cluster[, priority_level]) (count_over_time(M[{F}])))``
with M the series Q reads. Either way a cluster with no sample within ``F`` is absent from the
answer (the workload query, user-given, is not guarded). Absent, NaN (a histogram with no observations in the window, 0/0) or
±Inf → ``None``: no data, which a gate reports as ``no-data`` and the engine pauses on.

**Rate window.** ``W`` = the gate interval in wall seconds (simulated seconds ÷ ``time_scale``)
but at least 4 scrape intervals (``rate`` needs two samples; four tolerate a missed scrape).
Rates are per wall second: a simulated fleet paced at ``time_scale`` S ≠ 1 simulated seconds per
wall second reads them through :class:`waveguard.rollout.paced_signals.PacedSignals`, which
turns them into per simulated second.

**Failures.** Connection refused, a timeout (``timeout_s``, default 5 s, for each read and for
the whole answer — a body dripped byte by byte is a timeout; also sent to Prometheus as the
query's ``timeout``), an HTTP error, a body over ``max_response_bytes`` (16 MiB, read in a
stream and abandoned beyond) or a Prometheus ``"status": "error"`` make that figure ``None``, and
the source is not asked again during this evaluation (no retry storm: at most one timeout per
evaluation); :meth:`PrometheusSignals.explain` says what happened, for the pause message.
"""

from __future__ import annotations

import math
import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from waveguard.model.errors import SourceUnavailableError
from waveguard.model.readings import APISERVER_MEMORY_LIMIT, LIMITED_LEVELS, Reading
from waveguard.signals import dns as dnsprobe
from waveguard.signals.prometheus_config import (  # noqa: F401  (re-exported: their old import path)
    MAX_RESPONSE_BYTES, MIN_RATE_WINDOW_SCRAPES, DNSConfig, DNSTarget, PrometheusConfig, load_config, promql_duration,
)

#: Labels a gate reads per value (one query grouped by them serves every value).
GROUP_LABELS = frozenset({"priority_level"})
#: Histograms (quantiles come from ``histogram_quantile`` over their ``_bucket`` series).
HISTOGRAMS = frozenset({"apiserver_request_duration_seconds", "apiserver_flowcontrol_request_wait_duration_seconds",
                        "etcd_request_duration_seconds"})
#: Matchers the figure always carries (real dashboards' conventions).
EXTRA_MATCHERS = {
    "apiserver_request_duration_seconds": 'verb!~"WATCH|CONNECT"',  # long-running requests excluded (SLO)
    "apiserver_flowcontrol_request_wait_duration_seconds": 'execute="true"',  # requests that ran
}
#: Gauges aggregated with ``max`` over a cluster's series (one replica's figure); others ``sum``.
MAX_AGGREGATED = frozenset({"process_resident_memory_bytes", "kube_pod_container_resource_limits",
                            "waveguard_sim_workload_error_ratio"})
class SourceError(SourceUnavailableError):
    """Prometheus could not answer (the message says why, for a person). Gates read it as
    no-data."""

    def __init__(self, message: str) -> None:
        super().__init__("", "unavailable", message)


class PrometheusSignals:
    """:class:`~waveguard.rollout.gates.Signals` from Prometheus for one gate evaluation.

    ``window_s``: the gate interval in rollout (simulated) seconds. ``memory_limits``: cluster →
    bytes, used when kube-state-metrics has no limit (set only from explicit fleet-file values).
    ``eval_time``: evaluate at this Unix time instead of now (replays; tests of staleness).
    ``client``: an httpx.Client to reuse (its timeout is replaced by the config's)."""

    def __init__(self, config: PrometheusConfig, window_s: float, *, dns: DNSConfig | None = None,
                 memory_limits: dict[str, float] | None = None, client: httpx.Client | None = None,
                 eval_time: float | None = None) -> None:
        self.config = config
        self.window_s = window_s
        self.dns = dns
        self.memory_limits = dict(memory_limits or {})
        self.eval_time = eval_time
        self._client = client
        self._own_client = client is None
        self._results: dict[str, dict[tuple, float] | None] = {}
        self._dns_ratio: dict[str, float | None] | None = None
        self._dns_notes: dict[str, str] = {}
        self.problem: str | None = None  # why the source failed this evaluation
        self._missing: dict[str, str] = {}  # cluster → what had no fresh sample last
        #: query → label values → a sample that is no reading (-1, NaN), as answered
        self._refused: dict[str, dict[tuple, str]] = {}
        c = config
        self.W = promql_duration(c.rate_window_s(window_s))
        self.F = promql_duration(c.staleness_s)

    # --- the Signals protocol --------------------------------------------------------------
    def value(self, metric: str, cluster: str, **labels: str) -> float | None:
        """Latest value of a gauge, or a histogram quantile with ``quantile="0.99"``."""
        q = labels.pop("quantile", None)
        if q is not None:
            if metric not in HISTOGRAMS:
                return None  # summaries are not exposed by these components
            expr, by = self.histogram_query(metric, float(q), labels)
        else:
            expr, by = self.gauge_query(metric, labels)
        return self._lookup(expr, by, cluster, labels, what=metric)

    def rate(self, metric: str, cluster: str, **labels: str) -> float | None:
        """Per-wall-second increase of a counter over the rate window."""
        expr, by = self.rate_query(metric, labels)
        return self._lookup(expr, by, cluster, labels, what=f"rate of {metric}")

    def dns_probe_failure_ratio(self, cluster: str) -> float | None:
        """Probes when ``dns`` names a server for ``cluster``; CoreDNS's SERVFAIL ratio otherwise."""
        if self.dns is not None and cluster in self.dns.clusters:
            if self._dns_ratio is None:
                self._dns_ratio = self._probe_all()
            ratio = self._dns_ratio.get(cluster)
            if ratio is None:
                self._missing[cluster] = self._dns_notes.get(cluster, "no DNS probe could be made")
            return ratio
        expr, by = self.dns_ratio_query()
        return self._lookup(expr, by, cluster, {}, what="CoreDNS SERVFAIL ratio", clamp=1.0)

    def memory_limit_bytes(self, cluster: str) -> float | None:
        expr, by = self.gauge_query(APISERVER_MEMORY_LIMIT.metric, dict(APISERVER_MEMORY_LIMIT.labels))
        v = self._lookup(expr, by, cluster, {}, what="kube-apiserver memory limit")
        if v is None and cluster in self.memory_limits:
            self._missing.pop(cluster, None)
            return float(self.memory_limits[cluster])
        return v

    def workload_error_ratio(self, cluster: str) -> float | None:
        expr = self.config.workload_error_query.replace("{W}", self.W).replace("{F}", self.F)
        return self._lookup(expr, (self.config.cluster_label,), cluster, {}, what="workload error ratio",
                            guard=False)

    def explain(self, cluster: str) -> str:
        """Why the last figure read for ``cluster`` had no data (one line)."""
        if self.problem:
            return self.problem
        return self._missing.get(cluster, "")

    # --- queries ----------------------------------------------------------------------------
    def promql(self, reading: Reading, matchers: dict[str, str] | None = None) -> str:
        """The PromQL this source sends for ``reading`` (a gate's ``Gate.reading``): one sample
        per cluster, and per limited priority level for a per-level reading; ``over`` applied as
        ``(reading) / (over > 0)`` (a missing or 0 divisor: no sample). ``matchers`` (label →
        value) are added to every selector: ``waveguard export`` narrows to one cluster with them."""
        labels = {**dict(reading.labels), **(matchers or {})}
        if reading.per_level:
            labels["priority_level"] = ""  # a group label: grouped by, filtered to LIMITED_LEVELS
        if reading.how == "quantile":
            assert reading.quantile is not None, "Reading checks it"
            expr, _ = self.histogram_query(reading.metric, reading.quantile, labels)
        elif reading.how == "rate":
            expr, _ = self.rate_query(reading.metric, labels)
        else:
            expr, _ = self.gauge_query(reading.metric, labels)
        if reading.over is None:
            return expr
        return f"({expr}) / ({self.promql(reading.over, matchers)} > 0)"

    def _selector(self, metric: str, labels: dict[str, str]) -> str:
        c = self.config
        parts = []
        if metric == "up" or metric.startswith(("apiserver_", "process_", "etcd_")):
            if c.apiserver_selector:
                parts.append(c.apiserver_selector)
            labels = {k: v for k, v in labels.items() if not (metric == "up" and k == "job")}
        elif metric.startswith("coredns_") and c.coredns_selector:
            parts.append(c.coredns_selector)
        elif metric.startswith("kube_") and c.kube_state_metrics_selector:
            parts.append(c.kube_state_metrics_selector)
        for k, v in sorted(labels.items()):
            if k == "priority_level":  # read per level: the limited levels only (exempt has no seats)
                parts.append(f'priority_level=~"{"|".join(LIMITED_LEVELS)}"')
                continue
            if k in GROUP_LABELS:
                continue
            if re.fullmatch(r"[1-5]xx", str(v)):
                parts.append(f'{k}=~"{str(v)[0]}.."')  # "5xx": the code class
            else:
                parts.append(f'{k}="{_escape(str(v))}"')
        if metric in EXTRA_MATCHERS:
            parts.append(EXTRA_MATCHERS[metric])
        return "{" + ",".join(parts) + "}"

    def _by(self, labels: dict[str, str]) -> tuple[str, ...]:
        return (self.config.cluster_label, *sorted(k for k in labels if k in GROUP_LABELS))

    def _guard(self, expr: str, by: tuple[str, ...], series: str) -> str:
        """``expr`` only for the groups with a sample of ``series`` within the freshness bound."""
        b = ", ".join(by)
        return f"({expr}) and on ({b}) (count by ({b}) (count_over_time({series}[{self.F}])))"

    def gauge_query(self, metric: str, labels: dict[str, str]) -> tuple[str, tuple[str, ...]]:
        """PromQL for a gauge per cluster (and group label): the newest sample within the
        freshness bound (``last_over_time``: one failed scrape does not hide it); for ``up``,
        the replicas up at least once within it (``max_over_time``)."""
        by = self._by(labels)
        sel = f"{metric}{self._selector(metric, labels)}"
        agg = "max" if metric in MAX_AGGREGATED else "sum"
        over = "max_over_time" if metric == "up" else "last_over_time"
        return f"{agg} by ({', '.join(by)}) ({over}({sel}[{self.F}]))", by

    def rate_query(self, metric: str, labels: dict[str, str]) -> tuple[str, tuple[str, ...]]:
        """PromQL for a counter's per-second rate per cluster (and group label)."""
        by = self._by(labels)
        sel = f"{metric}{self._selector(metric, labels)}"
        return self._guard(f"sum by ({', '.join(by)}) (rate({sel}[{self.W}]))", by, sel), by

    def histogram_query(self, metric: str, q: float, labels: dict[str, str]) -> tuple[str, tuple[str, ...]]:
        """PromQL for a histogram quantile per cluster (and group label)."""
        by = self._by(labels)
        sel = f"{metric}_bucket{self._selector(metric, labels)}"
        expr = f"histogram_quantile({q:g}, sum by ({', '.join(by)}, le) (rate({sel}[{self.W}])))"
        return self._guard(expr, by, sel), by

    def dns_ratio_query(self) -> tuple[str, tuple[str, ...]]:
        by = (self.config.cluster_label,)
        b = by[0]
        fail = f"coredns_dns_responses_total{self._selector('coredns_dns_responses_total', {'rcode': 'SERVFAIL'})}"
        asked = f"coredns_dns_requests_total{self._selector('coredns_dns_requests_total', {})}"
        expr = f"sum by ({b}) (rate({fail}[{self.W}])) / sum by ({b}) (rate({asked}[{self.W}]))"
        return self._guard(expr, by, asked), by

    def _lookup(self, expr: str, by: tuple[str, ...], cluster: str, labels: dict[str, str], *, what: str,
                clamp: float | None = None, guard: bool = True) -> float | None:
        result = self.query(expr, by)
        if result is None:
            return None
        key = (cluster, *(str(labels[k]) for k in by[1:] if k in labels))
        if len(key) != len(by):
            return None
        v = result.get(key)
        if v is None:
            refused = self._refused.get(expr, {}).get(key)
            self._missing[cluster] = (
                f"Prometheus answered {refused!r} for {what} of {cluster!r}: not a reading (every figure "
                "a gate reads is a finite number ≥ 0)" if refused is not None else
                f"Prometheus has no sample of {what} for {self.config.cluster_label}={cluster!r} newer than {self.F}"
                if guard else f"Prometheus returned no {what} for {cluster!r}")
            return None
        return min(v, clamp) if clamp is not None else v

    def query(self, expr: str, by: tuple[str, ...]) -> dict[tuple, float] | None:
        """{values of the ``by`` labels: value} of one instant query, cached for this evaluation;
        None when the source failed (:meth:`explain` says why)."""
        if expr in self._results:
            return self._results[expr]
        if self.problem:  # the source already failed during this evaluation: do not ask again
            return None
        try:
            out = self._fetch(expr, by)
        except SourceError as exc:
            self.problem = str(exc)
            out = None
        self._results[expr] = out
        return out

    def _fetch(self, expr: str, by: tuple[str, ...]) -> dict[tuple, float]:
        """One instant query → {(values of the ``by`` labels): value}. Raises SourceError."""
        c = self.config
        params = {"query": expr, "timeout": promql_duration(c.timeout_s)}
        if self.eval_time is not None:
            params["time"] = f"{self.eval_time:.3f}"
        url = f"{c.url}/api/v1/query"
        timeout = httpx.Timeout(c.timeout_s, connect=min(c.timeout_s, 2.0))
        client = self._client or httpx.Client()
        give_up = time.monotonic() + c.timeout_s  # httpx's timeout is per read: a dripped body needs a total
        try:
            with client.stream("POST", url, data=params, timeout=timeout,
                               headers={"Accept": "application/json"}) as resp:
                body = bytearray()
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > c.max_response_bytes:
                        raise SourceError(f"Prometheus at {c.url} sent more than {c.max_response_bytes} bytes "
                                          "for one query: abandoned")
                    if time.monotonic() > give_up:
                        raise httpx.ReadTimeout("the whole answer took too long")
                status = resp.status_code
        except httpx.TimeoutException:
            raise SourceError(f"Prometheus at {c.url} did not answer within {c.timeout_s:g} s") from None
        except httpx.TransportError as exc:
            raise SourceError(f"Prometheus at {c.url} is unreachable ({_transport_why(exc)})") from None
        finally:
            if self._own_client:
                client.close()
        try:
            doc = httpx.Response(200, content=bytes(body)).json()
        except ValueError:
            doc = None
        if status >= 400 or not isinstance(doc, dict) or doc.get("status") != "success":
            msg = doc.get("error", "") if isinstance(doc, dict) else ""
            raise SourceError(f"Prometheus at {c.url} answered HTTP {status}"
                              + (f": {msg}" if msg else "" if isinstance(doc, dict) else ": not a Prometheus API answer"))
        data = doc.get("data") or {}
        if data.get("resultType") != "vector":
            raise SourceError(f"Prometheus at {c.url} answered a {data.get('resultType')!r}, not a vector")
        refused: dict[tuple, str] = {}
        self._refused[expr] = refused  # this answer's only: an earlier refusal says nothing of it
        return self._parse_vector(data.get("result") or [], by, refused)

    @staticmethod
    def _parse_vector(result: list, keys: tuple[str, ...], refused: dict[tuple, str] | None = None
                      ) -> dict[tuple, float]:
        """{values of ``keys``: value} of a vector's samples. A value that is not a finite number
        ≥ 0 is no data — NaN (no observations, 0/0), ±Inf, and a negative one, which no count,
        rate, ratio, duration or size can be (the exported queries drop it with ``>= 0``; a gate
        reading -1 s of latency would pass) — and goes, as answered, into ``refused``."""
        out: dict[tuple, float] = {}
        for item in result:
            try:
                labels = item["metric"]
                raw = item["value"][1]
                v = float(raw)
            except (KeyError, IndexError, TypeError, ValueError):
                continue
            key = tuple(str(labels.get(k, "")) for k in keys)
            if not key[0]:
                continue
            if not (math.isfinite(v) and v >= 0):
                if refused is not None:
                    refused[key] = str(raw)
                continue
            out[key] = v
        return out

    # --- DNS probes --------------------------------------------------------------------------
    def _probe_all(self) -> dict[str, float | None]:
        """Probe every configured cluster ``probes`` times, in parallel (bounded): cluster → share
        of its probes that failed (None when none could be made)."""
        assert self.dns is not None
        d = self.dns
        jobs = [(name, t) for name, t in d.clusters.items() for _ in range(d.probes)]
        with ThreadPoolExecutor(max_workers=min(d.parallel, max(1, len(jobs)))) as pool:
            results = list(pool.map(lambda job: dnsprobe.probe_authoritative(
                job[1].server, job[1].zone, port=job[1].port, timeout_s=d.timeout_s,
                latency_threshold_s=d.latency_threshold_s), jobs))
        counts: dict[str, list[int]] = {}
        for (name, _), r in zip(jobs, results, strict=True):
            n = counts.setdefault(name, [0, 0])
            if r.status == "pass":
                n[0] += 1
            elif r.status == "fail":
                n[1] += 1
                self._dns_notes.setdefault(name, r.detail)
            else:
                self._dns_notes[name] = r.detail
        return {name: (f / (p + f) if p + f else None) for name, (p, f) in counts.items()}


def _transport_why(exc: Exception) -> str:
    """Why a connection failed, in the system's words (``connection refused``), without the
    exception class and errno (``ConnectError: [Errno 111] …``)."""
    import re

    text = re.sub(r"^\[Errno -?\d+\]\s*", "", str(exc).strip()).rstrip(".") or type(exc).__name__
    return text[:1].lower() + text[1:]


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"')

