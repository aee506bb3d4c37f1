"""etcd as a component of the control plane: what a write's commit costs and what one member
holds in memory while it serves range reads — one function per quantity, for the simulator
(:mod:`waveguard.sim.phases.etcd`) and any projection alike.

Units: seconds, bytes. Constants and their sources: :mod:`waveguard.model.constants`
(section "issue 12: fairness, clients, writes").
"""

from __future__ import annotations

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


def member_memory_bytes(cluster: Cluster, range_bytes_in_flight: float) -> float:
    """Resident bytes of one etcd member while ``range_bytes_in_flight`` bytes of range
    responses are being served by the cluster's etcd: its idle size plus its share (requests
    are spread over the members) of the responses, each held as read key-values and the
    marshalled reply together (``ETCD_RANGE_MEMORY_MULTIPLIER``)."""
    share = range_bytes_in_flight / cluster.etcd_member_count
    return C.ETCD_BASE_MEMORY_BYTES + C.ETCD_RANGE_MEMORY_MULTIPLIER * share


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
