"""Object counts and sizes of one cluster, read from kube-apiserver's /metrics.

The cost model needs, per resource, how many objects a cluster stores and how many bytes one of
them takes as served. ``constants.OBJECT_BYTES`` is one set for every cluster; a cluster's own
apiserver measures both:

* counts — ``apiserver_resource_objects{group, resource}`` (1.34+), before it
  ``apiserver_storage_objects{resource="<resource>.<group>"}`` (1.21–1.33, deprecated in 1.34)
  and ``etcd_object_counts`` (before 1.21); -1 means the apiserver could not fetch the count;
* bytes per object — three means, each ``_sum ÷ _count`` of a histogram in bytes: a GET of one
  object (``apiserver_response_sizes``, STABLE: verb GET, scope resource, no subresource), a
  watch event (``apiserver_watch_events_sizes``, ALPHA: one object each), and a cluster-scope
  LIST (``apiserver_response_sizes``) divided by the count.

Each mean is of the encodings the clients asked for — protobuf for kube components, JSON for
most agents and kubectl, bare metadata for metadata-only informers (the v1.35 sample's Deployment
GETs average 229 B, its Deployment watch events 3,005 B) — so each can only read low against the
JSON size ``OBJECT_BYTES`` holds: the largest of the three is taken. The histograms count since
the apiserver started: the longer it has run, the more requests they average.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from waveguard.signals.exposition import Exposition

#: Count metrics, newest first: 1.34+, 1.21–1.33, before 1.21.
_COUNT_METRICS = ("apiserver_resource_objects", "apiserver_storage_objects", "etcd_object_counts")
_RESPONSE_SIZES = "apiserver_response_sizes"
_WATCH_EVENT_SIZES = "apiserver_watch_events_sizes"


@dataclass(frozen=True)
class ResourceObjects:
    """One resource: ``objects`` stored (None when not exposed or -1), ``bytes_per_object``
    (None when nothing measures it) and ``measured_by``: the mean taken ("GET ×n", "WATCH event
    ×n", "LIST ×n") or ""."""

    resource: str
    group: str
    objects: int | None
    bytes_per_object: float | None
    measured_by: str


@dataclass
class ObjectInventory:
    """Every resource the apiserver reported, sorted by name, and notes on what was missing."""

    source: str
    resources: list[ResourceObjects]
    notes: list[str] = field(default_factory=list)

    def fleet_cluster(self, name: str) -> dict:
        """A fleet-file cluster entry (:class:`waveguard.model.fleet.Cluster` fields): ``nodes``,
        ``pods``, ``objects`` and ``object_bytes`` (rounded bytes) as measured. Raises ValueError
        when the node count is not exposed (a cluster needs one)."""
        counts = {r.resource: r.objects for r in self.resources if r.objects is not None}
        if "nodes" not in counts:
            why = [n for n in self.notes if n.startswith("nodes:")]
            raise ValueError("no usable node count in the metrics (apiserver_resource_objects{resource=\"nodes\"})"
                             + (f" — {why[0]}" if why else ""))
        entry: dict = {"name": name, "nodes": counts.pop("nodes")}
        if "pods" in counts:
            entry["pods"] = counts.pop("pods")
        entry["objects"] = dict(sorted(counts.items()))
        entry["object_bytes"] = {r.resource: max(1, round(r.bytes_per_object)) for r in self.resources
                                 if r.bytes_per_object is not None}
        return entry

    def to_json(self) -> dict:
        return {"source": self.source, "notes": self.notes,
                "resources": [r.__dict__ for r in self.resources]}


def object_inventory(expo: Exposition, *, scrape: int = -1) -> ObjectInventory:
    """Counts and bytes per object of every resource in one scrape of a kube-apiserver /metrics.

    Raises ValueError when the scrape holds neither object counts nor response sizes (not a
    kube-apiserver's /metrics)."""
    counts, groups = _object_counts(expo, scrape)
    gets = _means(expo, _RESPONSE_SIZES, {"verb": "GET", "scope": "resource", "subresource": ""}, scrape)
    events = _means(expo, _WATCH_EVENT_SIZES, None, scrape)
    lists = _means(expo, _RESPONSE_SIZES, {"verb": "LIST", "scope": "cluster", "subresource": ""}, scrape)
    if not counts and not gets and not lists:
        raise ValueError("no apiserver_resource_objects/apiserver_storage_objects or apiserver_response_sizes "
                         "series: not a kube-apiserver /metrics")
    notes: list[str] = []
    rows = []
    for resource in sorted(counts.keys() | gets.keys() | events.keys()):
        n = _count(resource, counts.get(resource), notes)
        candidates = [(mean, f"GET ×{k:.0f}") for mean, k in [gets.get(resource, (0, 0))] if k]
        candidates += [(mean, f"WATCH event ×{k:.0f}") for mean, k in [events.get(resource, (0, 0))] if k]
        candidates += [(mean / n, f"LIST ×{k:.0f}") for mean, k in [lists.get(resource, (0, 0))] if k and n]
        # Nothing stored: its watch events are bookmarks (~80 B), not objects.
        size, by = max(candidates, default=(None, "")) if n != 0 else (None, "")
        rows.append(ResourceObjects(resource, groups.get(resource, ""), n, size, by))
    if not any(r.bytes_per_object for r in rows):
        notes.append("no GET or LIST response sizes yet: object sizes stay at the model's constants")
    return ObjectInventory(expo.source, rows, notes)


def _count(resource: str, value: float | None, notes: list[str]) -> int | None:
    """A stored-object count, or None (noted) when the apiserver could not fetch it (-1) or the
    sample is not a count (NaN, ±Inf, a fraction, another negative number)."""
    if value is None:
        return None
    if value == -1:
        notes.append(f"{resource}: the apiserver could not fetch its count (-1)")
    elif not math.isfinite(value) or value < 0 or value != int(value):
        notes.append(f"{resource}: {value!r} is not a count of objects; left unknown")
    else:
        return int(value)
    return None


def _object_counts(expo: Exposition, scrape: int) -> tuple[dict[str, float], dict[str, str]]:
    """Objects per resource (plural name, any group; the core group wins a name clash) from the
    newest count metric present."""
    for metric in _COUNT_METRICS:
        samples = expo.series(metric, scrape=scrape)
        if not samples:
            continue
        counts: dict[str, float] = {}
        groups: dict[str, str] = {}
        for s in samples:
            resource, _, group = s.labels.get("resource", "").partition(".")
            group = s.labels.get("group", group)
            if resource and (resource not in counts or group == ""):
                counts[resource], groups[resource] = s.value, group
        return counts, groups
    return {}, {}


def _means(expo: Exposition, metric: str, labels: dict | None, scrape: int) -> dict[str, tuple[float, float]]:
    """(mean bytes, observations) per resource of histogram ``metric`` over the series matching
    ``labels`` (all versions and groups of a resource together)."""
    totals: dict[str, list[float]] = {}
    for suffix, i in (("_sum", 0), ("_count", 1)):
        for s in expo.series(metric + suffix, labels, scrape=scrape):
            totals.setdefault(s.labels.get("resource", ""), [0.0, 0.0])[i] += s.value
    return {r: (t[0] / t[1], t[1]) for r, t in totals.items() if r and t[1] > 0}
