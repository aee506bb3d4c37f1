"""Fluent Bit.

The ``kubernetes`` filter enriches each record with its pod's metadata (Fluent Bit docs,
pipeline/filters/kubernetes.md). What it sends to kube-apiserver, from fluent-bit
plugins/filter_kubernetes/kube_meta.c:

* at start, ``flb_kube_meta_init`` GETs the agent's own pod ("testing connectivity with API
  server");
* per chunk of records, ``flb_kube_pod_meta_get`` looks the record's cache key (namespace, pod,
  container) up in its hash table; on a miss, ``get_and_merge_pod_meta`` GETs
  ``/api/v1/namespaces/{ns}/pods/{name}`` and the answer is cached. So one GET per pod whose logs
  the agent tails: every pod already on the node when the agent starts (the start burst), then
  one per new pod (pod churn). The key holds the container name too, so a multi-container pod
  is fetched once per container: one GET per pod is a lower bound;
* ``Kube_Meta_Cache_TTL`` (default 0: entries stay until evicted, kubernetes.c config map) > 0
  drops every entry after that long, so every pod on the node is fetched again each TTL;
* a failed lookup is not cached (``flb_kube_pod_meta_get`` adds to the hash table only on
  success), and a response larger than ``Buffer_Size`` (default 32k = 32,000 bytes: kubernetes.c
  config map, Fluent Bit unit sizes k = 1,000 bytes, flb_utils.c ``flb_utils_size_to_bytes``)
  is discarded (the filter's docs), so a pod whose JSON exceeds it is looked up again for every
  chunk it logs (rule WG130 in analysis/rules.py; ``Buffer_Size 0`` means no limit).

With ``Use_Kubelet On`` the lookups go to the node's kubelet (``get_pods_from_kubelet``) and
nothing to kube-apiserver; ``Use_Tag_For_Meta On`` and ``Dummy_Meta On`` send nothing either.
The ``kubernetes_events`` input watches Events cluster-wide.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

from waveguard.analysis.recognisers.base import AgentContext, Recognised, truthy
from waveguard.model import constants as C
from waveguard.model.cost import OVERLOAD_UTILISATION, ClusterLoad, request_cost
from waveguard.model.findings import Severity
from waveguard.model.fleet import Cluster
from waveguard.model.requests import RequestClass, informer
from waveguard.model.yamlio import safe_load

_SECTION = re.compile(r"(?im)^\s*\[(\w+)\]\s*$")
#: ``Buffer_Size`` default of the kubernetes filter: "32K" (fluent-bit
#: plugins/filter_kubernetes/kubernetes.c config map) = 32,000 bytes (flb_utils.c: KB = 1000).
DEFAULT_BUFFER_BYTES = 32_000
#: Seconds a failed pod lookup is remembered before it is tried again, where Fluent Bit has
#: ``kube_meta_negative_cache_ttl`` (default "60s" in the newest plugins/filter_kubernetes/kubernetes.c
#: config map); older releases retry at every chunk of records (nothing remembers the failure).
FLUENT_BIT_NEGATIVE_CACHE_TTL_S = 60.0
#: Fluent Bit size suffixes (flb_utils.c ``flb_utils_size_to_bytes``: K, M, G, optionally + B;
#: powers of 1,000).
_SIZE_UNITS = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000}
#: Fluent Bit time suffixes (flb_utils.c ``flb_utils_time_to_seconds``: "10d", "10h", "10m", "10").
_TIME_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@dataclass(frozen=True)
class KubernetesFilter:
    """One ``kubernetes`` [FILTER] as configured: the file it is in, whether it asks the kubelet,
    its response buffer (bytes; None: ``Buffer_Size 0``, no limit) and its metadata cache TTL
    (seconds; 0: entries stay until evicted)."""

    file: str
    use_kubelet: bool
    no_network: bool  # Use_Tag_For_Meta or Dummy_Meta: no lookups at all
    buffer_bytes: int | None
    cache_ttl_s: float

    @property
    def asks_apiserver(self) -> bool:
        return not (self.use_kubelet or self.no_network)


#: A finding's (severity, message, fix), for the rule that reports it (analysis/rules.py).
Found = tuple[Severity, str, str]


@dataclass
class FluentBitRecognised(Recognised):
    """Fluent Bit's answer, with its ``kubernetes`` filters for the rules that need the fleet
    (the Buffer_Size check compares each cluster's pod size with the buffer)."""

    filters: list[KubernetesFilter] = field(default_factory=list)

    def buffer_finding(self, clusters: list[Cluster], loads: list[ClusterLoad]) -> Found | None:
        """WG130 for the first filter whose ``Buffer_Size`` is smaller than a pod's JSON on some
        of ``clusters`` (``Cluster.object_size("pods")``: measured, else the default). The
        repeated lookups are costed at their floor, every pod once per
        ``FLUENT_BIT_NEGATIVE_CACHE_TTL_S``, against the agent's priority level on each cluster
        (``loads``, fleet order): error when that alone fills it, else warning."""
        for flt in self.filters:
            if not flt.asks_apiserver or flt.buffer_bytes is None:
                continue
            over = [c for c in clusters if c.object_size("pods") > flt.buffer_bytes]
            if over:
                return _buffer_found(flt, flt.buffer_bytes, over, len(clusters), loads)
        return None


def _buffer_found(flt: KubernetesFilter, buffer_bytes: int, over: list[Cluster], clusters: int,
                  loads: list[ClusterLoad]) -> Found:
    worst, share = _repeated_lookups_share(over, loads)
    source = "measured" if "pods" in worst.object_bytes else "the default size"
    message = (f"{flt.file}: the kubernetes filter's Buffer_Size ({buffer_bytes:,} bytes) is smaller than a pod's "
               f"JSON on {len(over)} of {clusters} clusters (on {worst.name}: {worst.object_size('pods'):,} bytes, "
               f"{source}): the response is discarded, no metadata is cached, and the GET is sent again for every "
               "chunk of records the pod logs, at least once a minute per pod where Fluent Bit remembers failures "
               f"(kube_meta_negative_cache_ttl): {worst.pod_count / FLUENT_BIT_NEGATIVE_CACHE_TTL_S:,.0f} GET/s on "
               f"{worst.name}, {share:.0%} of its priority level's seats; records ship without pod metadata")
    fix = (f"set 'Buffer_Size 0' (no limit) in the kubernetes [FILTER] of {flt.file}, or a size above the largest "
           f"pod's JSON (at least {max(c.object_size('pods') for c in over):,} bytes); better, 'Use_Kubelet On' "
           "(then size it for the kubelet's /pods list of the node)")
    return ("error" if share >= OVERLOAD_UTILISATION else "warning"), message, fix


def _repeated_lookups_share(over: list[Cluster], loads: list[ClusterLoad]) -> tuple[Cluster, float]:
    """The cluster where the failing lookups' floor (every pod once per negative-cache TTL, one
    GET each) takes the largest share of the agent's priority level (seats, nominal +
    borrowable), and that share."""
    capacity = {load.cluster: load.level_capacity_seats for load in loads}
    shares = []
    for cluster in over:
        get_s = request_cost(RequestClass(verb="get", resource="pods", scope="object", trigger="periodic"),
                             cluster).seat_seconds
        seats = capacity.get(cluster.name, 0)
        rate = cluster.pod_count / FLUENT_BIT_NEGATIVE_CACHE_TTL_S
        shares.append((rate * get_s / seats if seats else 0.0, cluster.pod_count, cluster))
    share, _, worst = max(shares, key=lambda entry: entry[:2])
    return worst, share


def classic_sections(text: str) -> list[tuple[str, dict[str, str]]]:
    """(SECTION, {key_lower: value}) of a classic-format Fluent Bit config."""
    sections: list[tuple[str, dict[str, str]]] = []
    for line in text.splitlines():
        m = _SECTION.match(line)
        if m:
            sections.append((m.group(1).upper(), {}))
            continue
        parts = line.strip().split(None, 1)
        if sections and len(parts) == 2 and not parts[0].startswith(("#", "@")):
            sections[-1][1][parts[0].lower()] = parts[1].strip()
    return sections


def _yaml_plugins(text: str) -> list[tuple[str, dict[str, str]]]:
    try:
        data = safe_load(text)
    except yaml.YAMLError:
        return []
    pipeline = data.get("pipeline") if isinstance(data, dict) else None
    if not isinstance(pipeline, dict):
        return []
    out = []
    for section in ("inputs", "filters"):
        for plugin in pipeline.get(section) or []:
            if isinstance(plugin, dict):
                out.append((section[:-1].upper(), {str(k).lower(): str(v) for k, v in plugin.items()}))
    return out


def size_bytes(value: str | None, default: int | None = DEFAULT_BUFFER_BYTES) -> int | None:
    """A Fluent Bit size ("32k", "1MB", "512000") in bytes; None for 0 / "false" (no limit);
    ``default`` when unset or unreadable (Fluent Bit refuses to start on an unreadable size, so
    the default is the most likely intent)."""
    if value is None:
        return default
    text = value.strip().lower()
    if text == "false":
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmg]?)b?", text)
    if not m:
        return default
    size = int(float(m.group(1)) * _SIZE_UNITS[m.group(2)])
    return size or None


def time_seconds(value: str | None) -> float:
    """A Fluent Bit time ("60", "60s", "5m", "1h", "1d") in seconds; 0 when unset or unreadable."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhd]?)", (value or "").strip().lower())
    return float(m.group(1)) * _TIME_UNITS[m.group(2)] if m else 0.0


def kubernetes_filter(file_name: str, keys: dict[str, str]) -> KubernetesFilter:
    """The settings of one ``kubernetes`` [FILTER] (``keys``: lower-case key → value)."""
    return KubernetesFilter(
        file=file_name, use_kubelet=truthy(keys.get("use_kubelet")),
        no_network=truthy(keys.get("use_tag_for_meta")) or truthy(keys.get("dummy_meta")),
        buffer_bytes=size_bytes(keys.get("buffer_size")), cache_ttl_s=time_seconds(keys.get("kube_meta_cache_ttl")))


def pod_lookups(component: str, config_key: str, fix: str, cache_ttl_s: float = 0.0) -> list[RequestClass]:
    """The GETs of an agent that looks up the metadata of every pod whose logs it reads, once per
    pod, caching the answer: every pod already on its node when it starts (one after another),
    one per new pod afterwards (a pod's writes over its life: 1 / POD_WRITES_PER_POD_LIFETIME
    GETs per pod write event), and, when its cache entries expire after ``cache_ttl_s`` > 0,
    every pod on the node again each TTL. Reusable by any recogniser of this pattern (WG103)."""
    common = dict(verb="get", resource="pods", resource_version="", config_key=config_key, fix=fix)
    classes = [
        RequestClass(scope="node", trigger="start", component=f"{component} (every pod on the node, at start)",
                     **common),
        RequestClass(scope="object", trigger="per_event", rate_per_s=1 / C.POD_WRITES_PER_POD_LIFETIME,
                     component=f"{component} (pod metadata per new pod)", **common),
    ]
    if cache_ttl_s > 0:
        classes.append(RequestClass(scope="node", trigger="periodic", rate_per_s=1 / cache_ttl_s,
                                    component=f"{component} (every pod on the node again each "
                                              f"Kube_Meta_Cache_TTL, {cache_ttl_s:.0f} s)", **common))
    return classes


def _filter_classes(flt: KubernetesFilter) -> list[RequestClass]:
    """What one ``kubernetes`` filter sends to kube-apiserver (none through the kubelet)."""
    if not flt.asks_apiserver:
        return []
    fix = (f"set 'Use_Kubelet On' and 'Kubelet_Port 10250' in the kubernetes [FILTER] of {flt.file} "
           "so metadata comes from the node's kubelet (Fluent Bit ≥ 1.7.2; the DaemonSet needs "
           "hostNetwork: true, dnsPolicy: ClusterFirstWithHostNet and RBAC get on nodes/proxy)")
    own_pod = RequestClass(verb="get", resource="pods", scope="object", trigger="start", resource_version="",
                           component=f"{flt.file}: [FILTER] kubernetes (its own pod, at start)",
                           config_key=f"{flt.file}: [FILTER] Name kubernetes / Use_Kubelet", fix=fix)
    lookups = pod_lookups(f"{flt.file}: [FILTER] kubernetes", f"{flt.file}: [FILTER] Name kubernetes / Use_Kubelet",
                          fix, flt.cache_ttl_s)
    # The per-new-pod lookup first: WG103 and existing reports name it first.
    return [lookups[1], own_pod, lookups[0], *lookups[2:]]


class FluentBit:
    name = "fluent-bit"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        if not ctx.image_matches("fluent-bit", "fluentbit"):
            return None
        result = FluentBitRecognised(agent=self.name)
        for file_name, text in ctx.config.items():
            for section, keys in classic_sections(text) + _yaml_plugins(text):
                name = keys.get("name", "").lower()
                if section == "FILTER" and name == "kubernetes":
                    flt = kubernetes_filter(file_name, keys)
                    result.filters.append(flt)
                    result.classes += _filter_classes(flt)
                elif section == "INPUT" and name == "kubernetes_events":
                    result.classes += informer("events", "cluster", component=f"{file_name}: [INPUT] kubernetes_events",
                                               config_key=f"{file_name}: [INPUT] Name kubernetes_events",
                                               fix="run kubernetes_events in one Deployment replica, not per node")
        return result
