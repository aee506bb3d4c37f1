"""Which read-path behaviours a Kubernetes version has on by default: one table of the feature
gates that change what a request costs, and :func:`features_for`, the one function the cost
model, the simulator and the recognisers ask.

Every entry is read from the versioned feature-gate tables of the Kubernetes source (the
``{Version, Default, PreRelease}`` lists; "on from X" = the first version whose entry has
``Default: true``, "off again from Y" = a later entry with ``Default: false``):

* server gates — ``staging/src/k8s.io/apiserver/pkg/features/kube_features.go`` (generic
  apiserver) and ``pkg/features/versioned_kube_features.go`` (kube-apiserver's copy);
* client gates — ``staging/src/k8s.io/client-go/features/known_features.go``
  (``defaultVersionedKubernetesFeatureGates``), overridable per process with the
  ``KUBE_FEATURE_<Gate>`` environment variable (client-go ``features/envvar.go``).

Where the issue text differed from the source, the source wins; there was no difference for
the gates below (checked at master, Kubernetes 1.35).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

Version = tuple[int, int]

#: Default-on periods of each gate: ``(on_from, off_from)`` spans, ``off_from`` None = still on.
#: Source path and entries are given per gate.
GATE_PERIODS: dict[str, tuple[tuple[Version, Version | None], ...]] = {
    # APIPriorityAndFairness: alpha 1.18–1.19 (off), beta 1.20 (on) — kubernetes.io "Feature
    # Gates" reference; kube_features.go (unversioned table then) {Default: true, Beta}, later GA
    # locked on ("remove in 1.31"). model.constants.APF_DEFAULT_SINCE is the same 1.20.
    "APIPriorityAndFairness": (((1, 20), None),),
    # apiserver kube_features.go ConsistentListFromCache: alpha 1.28 (off), beta 1.31 (on),
    # GA 1.34 (locked on). KEP-2340: a resourceVersion="" LIST is served from the watch cache.
    "ConsistentListFromCache": (((1, 31), None),),
    # apiserver kube_features.go ResilientWatchCacheInitialization: beta 1.31 (on), GA 1.34
    # (locked on). KEP-4568: a not-ready cache answers 429 instead of sending rv=0 to etcd.
    "ResilientWatchCacheInitialization": (((1, 31), None),),
    # apiserver kube_features.go WatchList: alpha 1.27 (off), beta 1.32 (on), 1.33 back to off
    # ("the json and proto streaming encoders appear to work better"), 1.34 on again.
    "WatchList": (((1, 32), (1, 33)), ((1, 34), None)),
    # client-go features/known_features.go WatchListClient: beta 1.30 (off), 1.35 (on).
    "WatchListClient": (((1, 35), None),),
    # apiserver kube_features.go StreamingCollectionEncodingToJSON / ToProtobuf: beta 1.33
    # (on), GA 1.34 (locked on). A LIST response is encoded item by item as it is written.
    "StreamingCollectionEncodingToJSON": (((1, 33), None),),
    "StreamingCollectionEncodingToProtobuf": (((1, 33), None),),
    # apiserver kube_features.go SizeBasedListCostEstimate: beta 1.34 (on). APF's LIST work
    # estimate from the bytes a LIST loads (list_work_estimator.go seatsBasedOnObjectSize).
    "SizeBasedListCostEstimate": (((1, 34), None),),
}


def gate_on(gate: str, version: Version) -> bool:
    """Whether ``gate`` is on by default in Kubernetes ``version`` (major, minor). Raises
    KeyError for a gate not in :data:`GATE_PERIODS`."""
    return any(start <= version and (end is None or version < end) for start, end in GATE_PERIODS[gate])


@dataclass(frozen=True, slots=True)
class Features:
    """The read-path behaviours of one Kubernetes version (defaults of the gates above)."""

    version: Version
    apf: bool  #: API Priority and Fairness admits requests (else max-in-flight)
    consistent_list_from_cache: bool  #: rv="" LISTs (unpaginated) served from the watch cache
    resilient_watch_cache_init: bool  #: not-ready cache: 429 unless paginated without selector
    watch_list_server: bool  #: the server streams a WATCH's initial events (sendInitialEvents)
    watch_list_client: bool  #: client-go informers start with a WatchList instead of a LIST
    streaming_list_encoding: bool  #: LIST responses encoded item by item (JSON and protobuf)
    size_based_list_cost: bool  #: APF's LIST seats from bytes loaded (else from object counts)

    def with_client_env(self, env: Mapping[str, str]) -> Features:
        """These features for a client process whose environment is ``env``: client-go reads
        ``KUBE_FEATURE_WatchListClient`` ("true" / "false", case-insensitive; anything else
        keeps the default — features/envvar.go logs and ignores an unparsable value)."""
        raw = env.get("KUBE_FEATURE_WatchListClient")
        if raw is None or raw.strip().lower() not in ("true", "false"):
            return self
        return Features(self.version, self.apf, self.consistent_list_from_cache, self.resilient_watch_cache_init,
                        self.watch_list_server, raw.strip().lower() == "true", self.streaming_list_encoding,
                        self.size_based_list_cost)

    @property
    def uses_watch_list(self) -> bool:
        """An informer's start is a WatchList: the client asks for it and the server serves it
        (a server without WatchList answers the sendInitialEvents WATCH with an error and
        client-go falls back to LIST: reflector.go ``useWatchList`` fallback)."""
        return self.watch_list_client and self.watch_list_server


def parse_version(text: str) -> Version:
    """``"1.31"``, ``"v1.31.2"`` → ``(1, 31)``. Raises ValueError on anything else."""
    parts = text.strip().lstrip("v").split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        raise ValueError(f"not a Kubernetes version: {text!r} (write it like 1.31)")
    return int(parts[0]), int(parts[1])


def features_for(version: Version | str) -> Features:
    """The default read-path features of Kubernetes ``version`` (a ``(major, minor)`` tuple or
    text such as ``"1.31"``). Raises ValueError for unparsable text."""
    v = parse_version(version) if isinstance(version, str) else (int(version[0]), int(version[1]))
    return Features(
        version=v, apf=gate_on("APIPriorityAndFairness", v),
        consistent_list_from_cache=gate_on("ConsistentListFromCache", v),
        resilient_watch_cache_init=gate_on("ResilientWatchCacheInitialization", v),
        watch_list_server=gate_on("WatchList", v), watch_list_client=gate_on("WatchListClient", v),
        streaming_list_encoding=gate_on("StreamingCollectionEncodingToJSON", v),
        size_based_list_cost=gate_on("SizeBasedListCostEstimate", v),
    )
