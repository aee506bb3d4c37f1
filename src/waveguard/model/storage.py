"""What etcd holds for one object: kube-apiserver stores built-in resources as protobuf and
custom resources as JSON, so a range read of etcd moves fewer bytes than the objects' JSON size
(``OBJECT_BYTES``, ``Cluster.object_size``, which is what clients are served).

:func:`stored_object_bytes` is the one function every etcd byte of the model goes through:
``RequestCost.etcd_bytes`` (range responses over etcd's links and into the apiserver's receive
buffer, etcd's memory per range in flight, ``etcd_network_client_grpc_sent_bytes_total``) and the
watch cache's fill from etcd. The apiserver's own work stays counted per JSON byte of the object:
decoding (:func:`decode_s_per_json_byte`: protobuf or JSON), encoding and the memory of the decoded
objects.

Units: bytes. Sources: each docstring; the ratio is ``PROTOBUF_BYTES_PER_JSON_BYTE`` in
:mod:`waveguard.model.constants`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from waveguard.model import constants as C
from waveguard.model.fleet import Cluster

#: API groups kube-apiserver serves from its own REST storage (the legacy core group "" and the
#: groups of its ``RESTStorageProvider`` list: pkg/master/master.go ``restStorageProviders`` in
#: 1.18, pkg/controlplane/instance.go from 1.20; later groups as they were added — resource.k8s.io
#: 1.26, storagemigration.k8s.io 1.30). Their objects are written with the storage factory's
#: media type, ``--storage-media-type``. Any other group is a custom resource (or an aggregated
#: API that etcd does not hold for kube-apiserver).
BUILTIN_API_GROUPS = frozenset({
    "", "admissionregistration.k8s.io", "apps", "auditregistration.k8s.io", "authentication.k8s.io",
    "authorization.k8s.io", "autoscaling", "batch", "certificates.k8s.io", "coordination.k8s.io",
    "discovery.k8s.io", "events.k8s.io", "extensions", "flowcontrol.apiserver.k8s.io",
    "internal.apiserver.k8s.io", "networking.k8s.io", "node.k8s.io", "policy", "rbac.authorization.k8s.io",
    "resource.k8s.io", "scheduling.k8s.io", "settings.k8s.io", "storage.k8s.io", "storagemigration.k8s.io",
})


def stored_as_protobuf(api_group: str) -> bool:
    """Whether kube-apiserver writes objects of ``api_group`` to etcd as protobuf.

    Built-in groups (:data:`BUILTIN_API_GROUPS`): yes. ``--storage-media-type`` defaults to JSON
    in the generic apiserver (staging/src/k8s.io/apiserver/pkg/server/options/etcd.go
    ``NewEtcdOptions``: ``DefaultStorageMediaType: "application/json"``), and kube-apiserver
    overrides it ("Overwrite the default for storage data format",
    cmd/kube-apiserver/app/options/options.go ``NewServerRunOptions``: ``s.Etcd.
    DefaultStorageMediaType = "application/vnd.kubernetes.protobuf"``) since 1.6 (kubernetes/
    kubernetes#40683, "Change default storage format to protobufs"; the 1.6 release notes: "1.6
    will also default to protobuf encoding if using etcd3"), through 1.35.

    Custom resources: no, JSON whatever the flag says. apiextensions-apiserver gives the storage
    of every CustomResourceDefinition's resources the unstructured JSON codec
    (staging/src/k8s.io/apiextensions-apiserver/pkg/cmd/server/options/options.go
    ``NewCRDRESTOptionsGetter``: ``StorageConfig.Codec = unstructured.UnstructuredJSONScheme``,
    1.11–1.35); CRs have no protobuf schema."""
    return api_group in BUILTIN_API_GROUPS


def stored_bytes_per_json_byte(api_group: str) -> float:
    """Bytes etcd holds (and returns in a range response) per byte of an object's JSON:
    ``PROTOBUF_BYTES_PER_JSON_BYTE`` for a group stored as protobuf (:func:`stored_as_protobuf`),
    1.0 for JSON."""
    return C.PROTOBUF_BYTES_PER_JSON_BYTE if stored_as_protobuf(api_group) else 1.0


def stored_object_bytes(cluster: Cluster, resource: str, api_group: str = "") -> float:
    """Bytes one object of ``resource`` (in ``api_group``; "" the core group) takes in
    ``cluster``'s etcd, and in a range response from it: its JSON size as served
    (``Cluster.object_size``: measured, else ``OBJECT_BYTES``) × :func:`stored_bytes_per_json_byte`.
    The key and etcd's per-key metadata (tens of bytes) and the protobuf envelope (the "k8s\\x00"
    prefix and the type's apiVersion and kind, runtime.Unknown) are left out."""
    return cluster.object_size(resource) * stored_bytes_per_json_byte(api_group)


def decode_s_per_json_byte(api_group: str) -> float:
    """Seconds the apiserver spends decoding an object of ``api_group`` read from etcd, per byte
    of its JSON size: ``ETCD_DECODE_S_PER_BYTE`` for a group stored as protobuf
    (:func:`stored_as_protobuf`), ``ETCD_JSON_DECODE_S_PER_BYTE`` for one stored as JSON (custom
    resources: the protobuf proposal's JSON decode, ten times its protobuf one)."""
    return C.ETCD_DECODE_S_PER_BYTE if stored_as_protobuf(api_group) else C.ETCD_JSON_DECODE_S_PER_BYTE


def etcd_read_s(stored_bytes: Any, json_bytes: Any, decode_s_per_byte: float = C.ETCD_DECODE_S_PER_BYTE) -> Any:
    """Seconds an apiserver spends reading objects from etcd with etcd and its cores to itself:
    ``stored_bytes`` (as :func:`stored_object_bytes` counts them) over one member's link
    (``ETCD_RANGE_BYTES_PER_S``), then decoding them — ``decode_s_per_byte`` per byte of their
    JSON size ``json_bytes`` (:func:`decode_s_per_json_byte` of their group; the default is the
    built-in resources' protobuf decode the proposal timed per object). Floats or numpy arrays."""
    return stored_bytes / C.ETCD_RANGE_BYTES_PER_S + json_bytes * decode_s_per_byte


def etcd_list_memory_bytes(json_bytes: float, stored_bytes: float, multiplier: float) -> float:
    """Bytes an apiserver holds while it serves a LIST page read from etcd: etcd's range
    response as received (``stored_bytes``, the receive buffer) and, per byte of the objects'
    JSON size ``json_bytes``, the rest of ``multiplier`` (``model.work.list_memory_multiplier``
    "etcd": the decoded objects and the encoded buffer; its first term is etcd's response)."""
    return stored_bytes + (multiplier - 1.0) * json_bytes


def watch_cache_fill_s_of(resource: str, cluster: Cluster, api_group: str = "") -> float:
    """Seconds a restarted apiserver takes to fill its watch cache of ``resource`` on
    ``cluster`` with etcd to itself: its cacher's reflector LISTs the resource from etcd (pages of
    10,000: cacher.go ``storageWatchListPageSize``) and decodes it —
    :func:`waveguard.model.storage.etcd_read_s` of its stored and JSON bytes (each resource has
    its own cacher, filled in parallel; k8s: apiserver/pkg/storage/cacher/cacher.go
    ``startCaching``, 1.18–1.35)."""
    count = cluster.object_count(resource)
    return float(etcd_read_s(count * stored_object_bytes(cluster, resource, api_group),
                             count * cluster.object_size(resource), decode_s_per_json_byte(api_group)))


def cache_fill_s_by_storage(resources: Iterable[tuple[str, str]], cluster: Cluster) -> tuple[float, float]:
    """The longest :func:`watch_cache_fill_s_of` among ``resources`` ((resource, api_group)
    pairs) on ``cluster``, apart for those stored as protobuf and those stored as JSON (custom
    resources): their fills slow down differently when etcd is shared
    (:func:`waveguard.model.etcd.cache_fill_speed`), so the simulator counts them on two clocks.
    (0.0, 0.0) for none. Units: seconds."""
    fills = {True: 0.0, False: 0.0}
    for resource, api_group in resources:
        kind = stored_as_protobuf(api_group)
        fills[kind] = max(fills[kind], watch_cache_fill_s_of(resource, cluster, api_group))
    return fills[True], fills[False]
