"""The published cases and what each compares: a small declarative table.

Each :class:`Check` names its source, what was measured there, the published figure, the bounds
the simulated figure must fall within, how to read it from the runs (:mod:`.runs`), and the
physical constants of :mod:`waveguard.model.constants` it exercises. The scenarios behind them
hold only the setup each source describes (``src/waveguard/data/fidelity/``); every case runs
on the same constants. docs/fidelity.md discusses each case and the tensions between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from waveguard.fidelity import runs as R
from waveguard.fidelity.runs import Runs

GB = 1e9

ANTREA = "antrea-io/antrea#1044 (Kubernetes 1.18.6)"
CALICO = "projectcalico/node#1200 (EKS, Kubernetes 1.18)"
KINDLING = "harmonycloud/kindling#459"
INCIDENT = "11 Dec 2024 postmortem (domain.md §1)"


@dataclass(frozen=True)
class Check:
    """One compared figure. ``bounds`` (low, high) apply to the simulated value, in ``unit``;
    ``published`` is the source's figure in the same unit (None when it gives none)."""

    name: str
    case: int
    source: str
    measured: str
    unit: str
    published: float | None
    published_text: str
    bounds: tuple[float | None, float | None]
    measure: Callable[[Runs], float]
    scenarios: tuple[str, ...]
    constants: tuple[str, ...]

    def within(self, value: float) -> bool:
        low, high = self.bounds
        return value == value and (low is None or value >= low) and (high is None or value <= high)

    @property
    def bounds_text(self) -> str:
        low, high = self.bounds
        if low is not None and high is not None:
            return f"{_num(low)}–{_num(high)}" if low != high else f"= {_num(low)}"
        if low is not None:
            return f"≥ {_num(low)}"
        assert high is not None, "a check has at least one bound"
        return f"≤ {_num(high)}"


def _num(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 or x == int(x) else f"{x:g}"


# --- measurements ---------------------------------------------------------------------------------

#: The agents (or kubelets) of case 1 restart at this second of their scenarios.
ANTREA_RESTART_S = 60.0


def antrea_rise_gb(runs: Runs) -> float:
    return R.memory_rise_bytes(runs["antrea-1044"], ANTREA_RESTART_S) / GB


def kubelet_share_pct(runs: Runs) -> float:
    kubelet = R.memory_rise_bytes(runs["antrea-1044-kubelet"], ANTREA_RESTART_S)
    return 100.0 * kubelet / max(R.memory_rise_bytes(runs["antrea-1044"], ANTREA_RESTART_S), 1.0)


def calico_lists(runs: Runs) -> float:
    return R.lists_sent(runs["calico-1200"])


def calico_backoff_share_pct(runs: Runs) -> float:
    return 100.0 * R.lists_sent(runs["calico-1200-backoff"]) / max(R.lists_sent(runs["calico-1200"]), 1.0)


def calico_backoff_saturated_min(runs: Runs) -> float:
    return R.minutes_saturated_at_end(runs["calico-1200-backoff"])


def kindling_oom(runs: Runs) -> float:
    return float(R.oom_kills(runs["kindling-459"]))


def kindling_unavailable_min(runs: Runs) -> float:
    return R.minutes_unavailable(runs["kindling-459"])


def kindling_max_unavailable_oom(runs: Runs) -> float:
    return float(R.oom_kills(runs["kindling-459-max-unavailable-1"]))


def incident_staging_saturated_min(runs: Runs) -> float:
    r = runs[R.INCIDENT]
    return float(r.result.saturated("staging").sum() * r.result.step_s / 60.0)


def _largest_cluster_minutes(runs: Runs, since: str, until: str) -> float:
    """Minutes between two moments (summary-row fields, seconds) on the incident's largest
    cluster; NaN when either never came."""
    r = runs[R.INCIDENT]
    row = R.row_of(r, R.largest_cluster(r))
    start, end = getattr(row, since), getattr(row, until)
    return float("nan") if start is None or end is None else (end - start) / 60.0


def incident_largest_saturation_min(runs: Runs) -> float:
    return _largest_cluster_minutes(runs, "change_at_s", "saturated_at_s")


def incident_dns_lag_min(runs: Runs) -> float:
    return _largest_cluster_minutes(runs, "saturated_at_s", "dns_failing_at_s")


def incident_large_down_pct(runs: Runs) -> float:
    large = [s for s in runs[R.INCIDENT].result.summary() if s.nodes >= 3000]
    down = [s for s in large if s.oom_kills > 0 and s.peak_error_rate >= 0.3]
    return 100.0 * len(down) / max(1, len(large))


# --- the table -------------------------------------------------------------------------------------

_ETCD_LIST = ("OBJECT_BYTES", "LIST_FROM_ETCD_MEMORY_MULTIPLIER", "GO_HEAP_GROWTH_FACTOR", "ETCD_READ_BYTES_PER_S",
              "ETCD_RANGE_BYTES_PER_S", "ETCD_DECODE_S_PER_BYTE", "ENCODE_S_PER_BYTE", "PROTOBUF_BYTES_PER_JSON_BYTE")
#: Before 1.20 (cases 1 and 2 ran 1.18): the max-in-flight filter, not APF seats.
_MAX_INFLIGHT = ("APF_DEFAULT_SINCE", "MAX_REQUESTS_INFLIGHT", "MAX_MUTATING_REQUESTS_INFLIGHT")
_BASELINE_MEMORY = ("APISERVER_BASE_MEMORY_BYTES", "WATCH_CACHE_MEMORY_MULTIPLIER")
_CRASH = ("APISERVER_MEMORY_BYTES_PER_CORE", "CRASHLOOP_BACKOFF_INITIAL_S", "CRASHLOOP_BACKOFF_MAX_S",
          "APISERVER_STARTUP_S")
_RETRY = ("CLIENT_TIMEOUT_S", "CLIENT_NO_BACKOFF_RETRY_S", "APF_QUEUE_WAIT_LIMIT_S")
_BACKOFF = ("CLIENT_BACKOFF_INITIAL_S", "CLIENT_BACKOFF_MAX_S", "CLIENT_BACKOFF_FACTOR", "CLIENT_BACKOFF_JITTER")

CHECKS: tuple[Check, ...] = (
    Check("antrea-1044", 1, ANTREA,
          "kube-apiserver memory rise: 50 agents LIST their node's pods with no resourceVersion (etcd)",
          "GB", 1.0, "> 1 GB", (0.5, 3.0), antrea_rise_gb, ("antrea-1044",),
          _ETCD_LIST + _MAX_INFLIGHT + _BASELINE_MEMORY + ("DAEMONSET_PODS_CREATED_PER_S",
                                                           "APISERVER_MEMORY_BYTES_PER_CORE")),
    Check("antrea-1044-kubelet", 1, ANTREA,
          "the same restart by kubelets (resourceVersion=\"0\", watch cache): rise as % of the agents'",
          "%", None, "barely moved", (None, 10.0), kubelet_share_pct, ("antrea-1044", "antrea-1044-kubelet"),
          ("LIST_FROM_CACHE_MEMORY_MULTIPLIER", "CACHE_SCAN_S_PER_OBJECT", "OBJECT_BYTES")),
    Check("calico-1200", 2, CALICO,
          "pod LISTs in 30 min: one of two apiservers down, full LISTs retried at once after the 60 s timeout",
          "LISTs", 6700.0, "~6,700 (from ~225 nodes)", (3350.0, 13400.0), calico_lists, ("calico-1200",),
          _ETCD_LIST + _MAX_INFLIGHT + _RETRY + ("APISERVER_MEMORY_BYTES_PER_CORE",)),
    Check("calico-1200-backoff", 2, CALICO,
          "with exponential back-off and jitter: pod LISTs as % of the count without",
          "%", None, "— (the fix asked for)", (None, 50.0), calico_backoff_share_pct,
          ("calico-1200", "calico-1200-backoff"), _BACKOFF + ("ETCD_READ_BYTES_PER_S",)),
    Check("calico-1200-backoff-recovery", 2, CALICO,
          "with back-off: minutes the control plane is still saturated in the last 10 of the 30",
          "min", None, "— (recovers)", (0.0, 0.0), calico_backoff_saturated_min, ("calico-1200-backoff",),
          _BACKOFF + _ETCD_LIST + ("APISERVER_MEMORY_BYTES_PER_CORE",) + _CRASH),
    Check("kindling-459", 3, KINDLING,
          "OOM kills of the single 16 GB apiserver: all 30 agents replaced at once",
          "kills", None, "repeatedly", (2.0, None), kindling_oom, ("kindling-459",),
          ("OBJECT_BYTES", "LIST_FROM_CACHE_MEMORY_MULTIPLIER", "GO_HEAP_GROWTH_FACTOR", "ENCODE_S_PER_BYTE",
           "DAEMONSET_PODS_CREATED_PER_S") + _BASELINE_MEMORY + _CRASH),
    Check("kindling-459-unavailable", 3, KINDLING,
          "minutes the API was unavailable (no apiserver up: kubectl fails)",
          "min", 7.5, "5–10 min", (3.0, 20.0), kindling_unavailable_min, ("kindling-459",),
          _CRASH + _BACKOFF),
    Check("kindling-459-max-unavailable-1", 3, KINDLING,
          "OOM kills when the update replaces one pod at a time (maxUnavailable 1)",
          "kills", None, "— (never)", (0.0, 0.0), kindling_max_unavailable_oom, ("kindling-459-max-unavailable-1",),
          ("OBJECT_BYTES", "LIST_FROM_CACHE_MEMORY_MULTIPLIER", "GO_HEAP_GROWTH_FACTOR")),
    Check("incident-staging", 4, INCIDENT,
          "staging cluster: minutes its control plane is saturated",
          "min", 0.0, "healthy", (0.0, 0.0), incident_staging_saturated_min, (R.INCIDENT,),
          ("APISERVER_MEMORY_BYTES_PER_CORE",) + _ETCD_LIST[:3]),
    Check("incident-first-impact", 4, INCIDENT,
          "largest cluster (7,500 nodes): minutes from the change reaching it to saturation",
          "min", None, "within minutes", (0.0, 10.0), incident_largest_saturation_min, (R.INCIDENT,),
          ("LIST_FROM_CACHE_MEMORY_MULTIPLIER", "GO_HEAP_GROWTH_FACTOR", "DAEMONSET_PODS_CREATED_PER_S",
           "APISERVER_MEMORY_BYTES_PER_CORE", "SEATS_PER_REPLICA")),
    Check("incident-dns", 4, INCIDENT,
          "largest cluster: minutes from saturation to DNS failing for most lookups",
          "min", 20.0, "~20 min (caches expiring)", (8.0, 30.0), incident_dns_lag_min, (R.INCIDENT,),
          ("DNS_CLIENT_CACHE_TTL_S", "DNS_NODE_CACHE_TTL_S", "DNS_REFETCH_S")),
    Check("incident-large-clusters", 4, INCIDENT,
          "clusters of ≥ 3,000 nodes whose control plane fell over (OOM, ≥ 30 % errors), %",
          "%", None, "most large clusters", (50.0, 100.0), incident_large_down_pct, (R.INCIDENT,),
          ("LIST_FROM_CACHE_MEMORY_MULTIPLIER", "GO_HEAP_GROWTH_FACTOR", "APISERVER_MEMORY_BYTES_PER_CORE") + _CRASH),
)
