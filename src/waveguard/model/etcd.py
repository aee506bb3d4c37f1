"""etcd as a component of the control plane: what a write's commit costs and what one member
holds in memory while it serves range reads — one function per quantity, for the simulator
(:mod:`waveguard.sim.phases.etcd`) and any projection alike.

Units: seconds, bytes. Constants and their sources: :mod:`waveguard.model.constants`
(section "issue 12: fairness, clients, writes").
"""

from __future__ import annotations

import math
from typing import Any

from waveguard.model import constants as C
from waveguard.model.fleet import Cluster


def commit_s(cluster: Cluster) -> float:
    """Seconds a write waits for etcd to commit it: the leader appends the entry to its WAL
    and replicates it; the entry commits when a quorum has fsynced it — one leader → follower
    round trip (``ETCD_PEER_RTT_S``) plus a WAL fsync (``ETCD_WAL_FSYNC_S``), the leader's own
    fsync running alongside. A single-member etcd needs only its fsync. etcd raft: etcd.io/docs/
    v3.5/learning/persistent-storage-files and tuning ("each request and response may be
    impacted by slow disks on both the leader and follower"); kube-apiserver answers a write
    after etcd's Txn returns (staging/src/k8s.io/apiserver/pkg/storage/etcd3/store.go,
    GuaranteedUpdate / Create), 1.18–1.35."""
    rtt = C.ETCD_PEER_RTT_S if cluster.etcd_member_count > 1 else 0.0
    return rtt + C.ETCD_WAL_FSYNC_S


def member_memory_of(range_bytes_in_flight: Any, members: Any) -> Any:
    """Resident bytes of one etcd member while ``range_bytes_in_flight`` bytes of range
    responses are being served by a cluster's etcd of ``members`` members (floats, or numpy
    arrays of one entry per cluster — the simulator's form): its idle size
    (``ETCD_BASE_MEMORY_BYTES``) plus its share (kube-apiserver's etcd client, clientv3 ≥ 3.4,
    spreads its requests over every endpoint: round-robin balancer) of the responses (stored
    bytes, :func:`waveguard.model.storage.stored_object_bytes`, as ``RequestCost.etcd_bytes``
    counts them), each held
    as the key-values read from bbolt and the marshalled gRPC reply together
    (``ETCD_RANGE_MEMORY_MULTIPLIER``: etcd's ``storeTxnRead.rangeKeys`` unmarshals every
    key-value of the range into one ``[]mvccpb.KeyValue`` before the gRPC response is marshalled —
    mvcc/kvstore_txn.go in 3.3–3.4, server/mvcc/kvstore_txn.go in 3.5,
    server/storage/mvcc/kvstore_txn.go in 3.6; etcd-io/etcd#12342 is that memory under large
    ranges)."""
    return C.ETCD_BASE_MEMORY_BYTES + C.ETCD_RANGE_MEMORY_MULTIPLIER * range_bytes_in_flight / members


def member_memory_bytes(cluster: Cluster, range_bytes_in_flight: float) -> float:
    """:func:`member_memory_of` for one cluster's etcd (``Cluster.etcd_member_count`` members)."""
    return float(member_memory_of(range_bytes_in_flight, cluster.etcd_member_count))


def member_memory_fraction(cluster: Cluster, range_bytes_in_flight: float) -> float:
    """:func:`member_memory_bytes` over the memory of one member
    (``Cluster.etcd_member_memory_bytes``): at 1.0 the members are OOM-killed — the projection's
    ``etcd_memory_fraction`` (``waveguard.model.cost``)."""
    return member_memory_bytes(cluster, range_bytes_in_flight) / cluster.etcd_member_memory_bytes


def range_wait_s(etcd_bytes: float, pages: int, utilisation: float) -> float:
    """Seconds one range read of ``etcd_bytes`` (over ``pages`` pages) waits for the cluster's
    etcd, which shares its throughput among the reads being served (processor sharing, as the
    simulator's etcd phase :mod:`waveguard.sim.etcd` serves them): alone it takes its bytes over
    one member's link (``ETCD_RANGE_BYTES_PER_S``); with etcd busy ``utilisation`` (0..1: bytes
    asked per second over the bytes it returns per second) the mean wait of a processor-sharing
    server, alone / (1 − utilisation) (L. Kleinrock, "Time-shared systems: a theoretical
    treatment", J. ACM 14(2), 1967: the M/G/1 processor-sharing queue); at most — and, once etcd
    is asked for as much as it returns, exactly — until its client gives up: ``CLIENT_TIMEOUT_S``
    for each page (client-go's timeout is per HTTP request, each page one). By Little's law the
    reads in flight are their arrival rate × this wait."""
    longest = C.CLIENT_TIMEOUT_S * max(1, pages)
    if utilisation >= 1.0:
        return longest
    return min(longest, etcd_bytes / C.ETCD_RANGE_BYTES_PER_S / (1.0 - utilisation))


def range_bytes_to_oom(cluster: Cluster) -> float:
    """Bytes of range responses in flight at which every member exceeds its memory
    (``Cluster.etcd_member_memory_bytes``) — the inverse of :func:`member_memory_bytes`."""
    spare = max(0.0, cluster.etcd_member_memory_bytes - C.ETCD_BASE_MEMORY_BYTES)
    return spare * cluster.etcd_member_count / C.ETCD_RANGE_MEMORY_MULTIPLIER


def down_after_oom_s(earlier_crashes: int = 0) -> float:
    """Seconds a cluster's etcd serves nothing after its members are OOM-killed: they restart
    (``ETCD_RESTART_S``; a member that keeps crashing waits the kubelet's crash-loop back-off,
    doubled per earlier crash up to ``CRASHLOOP_BACKOFF_MAX_S``), then elect a leader
    (``ETCD_ELECTION_TIMEOUT_S``)."""
    backoff = min(C.CRASHLOOP_BACKOFF_MAX_S, C.CRASHLOOP_BACKOFF_INITIAL_S * 2.0 ** earlier_crashes)
    return C.ETCD_RESTART_S - C.CRASHLOOP_BACKOFF_INITIAL_S + backoff + C.ETCD_ELECTION_TIMEOUT_S


def receive_buffer_resident_bytes(received_bytes: Any, page_bytes: Any, floor: Any = math.floor) -> Any:
    """Resident bytes of the receive buffer of ONE LIST waiting for etcd, which has so far
    received ``received_bytes`` of its range responses, each of ``page_bytes`` (the whole list
    unpaginated, one page when paginated: staging/src/k8s.io/apiserver/pkg/storage/etcd3/store.go
    ``GetList``, 1.18–1.35, ``clientv3.WithLimit`` per range request): the part of the current
    response that has arrived, ``received_bytes`` mod ``page_bytes``. Floats, or numpy arrays
    with ``floor=numpy.floor`` (the model imports no numpy; the identity is faster than ``%``).

    Why not the whole response from its header on: grpc-go allocates the whole message when its
    5-byte header arrives (``rpc_util.go`` ``recvMsg``: ``msg = make([]byte, int(length))``, then
    reads into it; grpc-go 1.2x–1.6x, which kube-apiserver 1.18–1.30 vendors through etcd's
    clientv3), but the Go runtime takes a large allocation (> 32 KiB) as pages of the heap
    and zeroes it only if those pages were used before: memory fresh from the operating system is
    known to be zero and is not written (golang/go src/runtime/mheap.go ``allocNeedsZero``, the
    arena's ``zeroedBase``, Go 1.14+; ``mheap.alloc``: ``if needzero && s.needzero != 0`` →
    ``memclrNoHeapPointers``, Go 1.13, which built kube-apiserver 1.18). Linux maps an anonymous
    page, and charges it to the container's memory cgroup, at its first write, so such a buffer
    becomes resident as etcd's bytes are copied into it. Heap pages reused from earlier garbage
    ARE zeroed at the header — but they were already resident (Go returns freed pages to the
    system only slowly, by its scavenger), so they do not raise the process above its earlier
    high-water mark; the rise is the bytes received. They arrive at etcd's share for the read:
    the client opens the stream's HTTP/2 window for the whole message when it reads it
    (grpc-go ``internal/transport``: ``Stream.Read`` → ``adjustWindow`` → flowcontrol.go
    ``inFlow.maybeAdjust``, "Send a window update for the whole message") and updates the connection's window as data
    arrives, whatever the application has read.

    Resident once, not × Go's heap growth (``GO_HEAP_GROWTH_FACTOR``, which the responses being
    decoded and encoded carry): GOGC lets the heap reach twice its live size before a collection,
    so what rises above the live bytes is garbage, and filling a receive buffer makes none. Each
    DATA frame's payload is copied into a pooled buffer that returns to its pool once the stream
    has read it into the message (grpc-go ``internal/transport`` ``http2Client.handleData``:
    ``t.bufferPool.get()``, ``recvBufferReader`` frees it — grpc/grpc-go#2813 "transport: share
    recv buffers", v1.21–1.65; before it every frame was a fresh copy, grpc-go#1455), the HTTP/2
    framer reuses its read buffer (golang.org/x/net/http2 ``Framer.getReadBuf``) and crypto/tls
    decrypts into its connection's buffer. kube-apiserver 1.18 vendors grpc-go v1.26.0 (etcd
    3.4's clientv3). The bytes received are live heap, resident once. Units: bytes."""
    return received_bytes - page_bytes * floor(received_bytes / page_bytes)


def cache_fill_speed(range_bytes_per_s: Any, cpu_stretch: Any = 1.0,
                     stored_per_json: float = C.PROTOBUF_BYTES_PER_JSON_BYTE,
                     decode_s_per_byte: float = C.ETCD_DECODE_S_PER_BYTE) -> Any:
    """How fast a restarted apiserver fills its watch caches while etcd's range reads are
    shared, relative to :func:`waveguard.model.storage.watch_cache_fill_s_of` (etcd to itself): each cacher's
    reflector LISTs its resource from etcd (staging/src/k8s.io/apiserver/pkg/storage/cacher/
    cacher.go ``startCaching`` → the reflector's paginated LIST, pages of
    ``storageWatchListPageSize`` = 10,000 objects, 1.18–1.35) and decodes it, so a byte costs the
    range transfer at the share ``range_bytes_per_s`` (bytes/s) etcd gives each read now plus
    its decode (``decode_s_per_byte`` per JSON byte, stretched ``cpu_stretch``-fold when the
    replica's CPU is oversubscribed); per JSON byte, etcd sends ``stored_per_json`` bytes. Both
    follow the resource's storage (:func:`waveguard.model.storage.stored_bytes_per_json_byte`,
    :func:`~waveguard.model.storage.decode_s_per_json_byte`; the defaults are the built-in
    resources' protobuf; custom resources: 1.0 and the JSON decode): (ρ/``ETCD_RANGE_BYTES_PER_S``
    + decode) / (ρ/share + decode × stretch), ρ = ``stored_per_json``. 1.0 with etcd idle; 0.0 while etcd
    serves nothing (no leader). Up to 1.30 the
    relists that reach a filling cache are themselves range reads of etcd (cacher ``GetList``),
    so they slow the fill that would end them (KEP-4568's motivation). Floats, or numpy arrays
    (the simulator's ``(R, C)``)."""
    alone = stored_per_json / C.ETCD_RANGE_BYTES_PER_S + decode_s_per_byte
    return alone * range_bytes_per_s / (stored_per_json + decode_s_per_byte * cpu_stretch * range_bytes_per_s)


def conflict_probability(other_writes_per_s: Any, window_s: Any) -> Any:
    """Probability that one UPDATE with a resourceVersion precondition is answered 409 Conflict:
    another write to the same object commits between the client's read and its update's check
    (staging/src/k8s.io/apiserver/pkg/storage/etcd3/store.go ``GuaranteedUpdate``: the
    precondition compares the object's resourceVersion, and the etcd transaction its
    ModRevision; 1.18–1.35). Other writes arriving as a Poisson stream of ``other_writes_per_s``
    (writes/s to that object by the other writers) miss a window of ``window_s`` seconds with
    probability exp(−rate × window). A PATCH carries no precondition (the apiserver retries it
    internally) and never conflicts. Floats or numpy arrays (e ** x serves both; the model
    imports no numpy)."""
    return 1.0 - math.e ** (-(other_writes_per_s * window_s))


def retry_on_conflict(p: Any, steps: int = C.RETRY_ON_CONFLICT_STEPS) -> tuple[Any, Any]:
    """What client-go's ``retry.RetryOnConflict`` costs per update when each attempt conflicts
    with probability ``p``: (extra attempts, 409 responses) per update, in expectation. Attempt
    k + 1 is made only when the first k all conflicted (p^k), at most ``steps`` attempts
    (``RETRY_ON_CONFLICT_STEPS``, util/retry/util.go ``DefaultRetry``); the last one's 409 is
    returned to the caller. Extra attempts: p + … + p^(steps−1); 409s: p + … + p^steps."""
    powers = [p ** k for k in range(1, steps + 1)]
    return sum(powers[:-1]), sum(powers)
