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
from typing import Literal

Version = tuple[int, int]
ReadSource = Literal["cache", "etcd"]

#: The versions whose behaviour this table (and the model) was read for: from 1.18, the oldest a
#: fidelity case runs (antrea-io/antrea#1044, calico node#1200), to 1.35, the master checked
#: above. A version outside it would be modelled as its nearest end without saying so.
OLDEST_MODELLED: Version = (1, 18)
NEWEST_MODELLED: Version = (1, 35)

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
    # apiserver kube_features.go ListFromCacheSnapshot: alpha 1.33 (off), beta 1.34 (on). KEP-4988:
    # the watch cache keeps B-tree snapshots, so a LIST's continuation pages (and an exact or
    # legacy-exact resourceVersion) are served from the cache instead of etcd (cacher
    # delegator.go ``ShouldDelegateContinue`` / ``ShouldDelegateExactRV``).
    "ListFromCacheSnapshot": (((1, 34), None),),
}

#: Behaviours that changed in the code at a version, without a feature gate: from 1.33 the watch
#: cache serves a paginated ``resourceVersionMatch=NotOlderThan`` LIST (kubernetes PR #129439,
#: "Refactor shouldDelegateList": delegator.go ``ShouldDelegateList``; up to 1.32 cacher.go
#: ``shouldDelegateList`` sent every LIST with a limit and a resourceVersion N to etcd).
PAGED_NOT_OLDER_THAN_FROM_CACHE_SINCE: Version = (1, 33)

#: client-go reads its feature gates from env vars ``KUBE_FEATURE_<Gate>`` (features/envvar.go).
WATCH_LIST_CLIENT_ENV = "KUBE_FEATURE_WatchListClient"
#: Go's ``strconv.ParseBool``: the only spellings it accepts, and their values.
_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def client_gate_from_env(value: str | None) -> bool | None:
    """What a ``KUBE_FEATURE_<Gate>`` env var of a client-go process sets the gate to: client-go
    ``features/envvar.go`` parses the value with Go's ``strconv.ParseBool`` (1, t, T, TRUE,
    true, True / 0, f, F, FALSE, false, False; nothing is trimmed) and logs and ignores any
    other value, keeping the default. None: unset or ignored (the default holds)."""
    return None if value is None else _GO_BOOLS.get(value)


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
    list_from_cache_snapshot: bool  #: continuation pages of a LIST served from cache snapshots
    paged_not_older_than: bool = False  #: a NotOlderThan LIST with a limit served from the cache

    def list_source(self, resource_version: str, limit: int | None) -> tuple[ReadSource, ReadSource, bool]:
        """(first request, continuation pages, limit honoured) of a LIST with ``resource_version``
        "" (most recent), "not-older-than" or "exact" (a resourceVersion N) from a ready watch
        cache (model.work.list_route; "0" never reaches here: the cache, unpaged). k8s: cacher.go
        ``shouldDelegateList`` up to 1.32, delegator.go ``ShouldDelegateList`` from 1.33:

        * "": etcd before ConsistentListFromCache, then the cache (a page of ``limit`` objects;
          continuation pages from etcd until ListFromCacheSnapshot);
        * "not-older-than": the cache without a limit (it waits until it has caught up with N);
          with one etcd up to 1.32 (``hasLimit := pred.Limit > 0 && resourceVersion != "0"``,
          whatever the match; KEP-2340 table: "RV, NotOlderThan, limit N: Delegated to etcd"),
          from 1.33 the cache like "" (``case ResourceVersionMatchNotOlderThan`` not delegated,
          kubernetes PR #129439; ``computeListLimit`` keeps the limit for any N but "0");
        * "exact" (``resourceVersionMatch=Exact``, or N with a limit and no match: the legacy exact
          read): etcd (``unsupportedMatch`` / ``hasLimit``, delegator ``ShouldDelegateExactRV``
          without snapshots) until ListFromCacheSnapshot, then the cache's snapshot at N, pages
          included (assumed within the cache's history: a client reads an N it was just given).
        """
        paged = limit is not None
        if resource_version == "exact":
            source: ReadSource = "cache" if self.list_from_cache_snapshot else "etcd"
            return source, source, paged
        if resource_version == "not-older-than":
            cache_serves = self.paged_not_older_than or not paged
        else:
            cache_serves = self.consistent_list_from_cache
        if not cache_serves:
            return "etcd", "etcd", paged
        if not paged:
            return "cache", "cache", False
        return "cache", "cache" if self.list_from_cache_snapshot else "etcd", True

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
        list_from_cache_snapshot=gate_on("ListFromCacheSnapshot", v),
        paged_not_older_than=v >= PAGED_NOT_OLDER_THAN_FROM_CACHE_SINCE,
    )
