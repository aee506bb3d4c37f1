"""The static parameters of one simulation run: what the fleet, the APF configuration and the
compiled flows fix before the first step (:class:`SimParams`), built by :func:`waveguard.sim.build.build_params`.

Shapes use the letters of :mod:`waveguard.sim.state`: ``F`` flows, ``R`` apiserver replicas
(padded to the largest cluster), ``C`` clusters, ``L`` APF priority levels, ``Lu`` the levels
some flow uses, ``G`` informer groups, ``Gc`` the change's groups, ``Fe`` the flows served
from etcd, ``K`` back-off levels, ``S`` request scopes. Nothing here changes while the
simulation runs; the phases read it, never write it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from waveguard.sim.maxinflight import MaxInFlight


def _read_only(zeros: np.ndarray) -> np.ndarray:
    zeros.flags.writeable = False
    return zeros


def _no_array() -> np.ndarray:  # issue 12: default of the read-path arrays (built by build_params)
    return np.zeros(0)


@dataclass(frozen=True, eq=False)
class SimParams:
    """Per-run constants. Units: seconds, seats, bytes, CPU seconds, requests."""

    # --- sizes and switches ---------------------------------------------------------------
    step_s: float  #: the time step dt (s)
    n_clusters: int  #: C
    n_replicas: int  #: R (padding: the largest cluster's replica count)
    n_flows: int  #: F
    dns_mode: str  #: "informer" | "api_per_answer" (scenario ``dns.mode``)

    # --- clusters and replicas ------------------------------------------------------------
    replica_exists: np.ndarray  #: (R, C) bool: replica r exists in cluster c (not padding)
    memory_limit_bytes: np.ndarray  #: (C,) memory limit of one apiserver replica (bytes)
    baseline_memory_bytes: np.ndarray  #: (C,) resident memory with no request in flight (bytes)
    cores: np.ndarray  #: (C,) CPU cores of one replica (memory limit / APISERVER_MEMORY_BYTES_PER_CORE)
    borrows: np.ndarray  #: (C,) bool: APF borrowing (≥ APF_BORROWING_SINCE, 1.26)
    watch_cache_fill_s: np.ndarray  #: (C,) seconds a restarted replica fills its watch cache
    baseline_pod_watchers: np.ndarray  #: (C,) the control plane's pod watches
    nodes: np.ndarray  #: (C,) node count
    dns_lookups_per_step: np.ndarray  #: (C,) lookups reaching CoreDNS per step

    # --- APF levels -----------------------------------------------------------------------
    level_names: list[str]  #: (L,) priority level names
    limited: np.ndarray  #: (L,) bool: not exempt
    nominal_seats: np.ndarray  #: (L, 1, C) nominal concurrency limit (seats; exempt: EXEMPT_SEATS)
    min_seats: np.ndarray  #: (L, 1, C) nominal − lendable (the lower bound of borrowing)
    max_seats: np.ndarray  #: (L, 1, C) nominal + borrowing limit (the upper bound of borrowing)
    server_seats: np.ndarray  #: (1, C) the server's nominal seats (sum over limited levels)
    used_levels: np.ndarray  #: (Lu,) level index of each used level
    n_used_levels: int  #: Lu
    used_level_rows: slice | np.ndarray  #: the used levels as a slice when contiguous (recording rows)
    flow_level_pos: np.ndarray  #: (F,) position of each flow's level among the used levels
    flows_per_level: np.ndarray  #: (Lu, F) one-hot: sums a flow array per level with one matmul

    # --- flows ----------------------------------------------------------------------------
    steady_rate: np.ndarray  #: (F, C) requests/s of the baseline flows
    change_rate: np.ndarray  #: (F, C) requests/s of the change's flows at full rollout
    service_s: np.ndarray  #: (F, R, C) uncontended apiserver service time τ (s)
    cpu_s: np.ndarray  #: (F, R, C) CPU seconds of work per request
    seats: np.ndarray  #: (F, R, C) seats a request holds (before 1.20: max-in-flight slots)
    max_in_flight: MaxInFlight  #: admission of the clusters before APF (< 1.20)
    heavy_flows: np.ndarray  #: flows whose request needs ≥ _HEAVY_CPU_SHARE of a core-step
    heavy_cpu_s: np.ndarray  #: (F, R, C) ``cpu_s`` of the heavy flows, 0 for the others
    memory_per_request: np.ndarray  #: (F, R, C) live heap × GO_HEAP_GROWTH_FACTOR (bytes)
    cpu_per_executing: np.ndarray  #: (F, R, C) CPU cores one executing request keeps busy (cpu / τ)
    pod_write_share: np.ndarray  #: (F, C) share of a flow's requests that write a pod
    queue_capacity: np.ndarray  #: (F, R, C) requests one replica queues for a flow before 429
    flow_scope: np.ndarray  #: (F, S) one-hot request scope
    wait_limit_steps: float  #: APF_QUEUE_WAIT_LIMIT_S in steps
    wait_limit_fraction: float  #: share of the over-long queue rejected per step

    # --- etcd -----------------------------------------------------------------------------
    etcd_flows: np.ndarray  #: (Fe,) flows whose requests read from etcd first
    etcd_change_rows: np.ndarray  #: (Fe,) bool: the etcd flow is the change's
    etcd_groups: list[tuple[int, int]]  #: (row in etcd_flows, informer group) of the relist flows read from etcd
    not_etcd_groups: np.ndarray  #: (G, 1, 1) 1.0 for groups whose relist is not read from etcd

    # --- informer groups ------------------------------------------------------------------
    group_flow: np.ndarray  #: (G,) relist flow of each group
    group_memory_per_request: np.ndarray  #: (G, R, C) memory_per_request of the group's relist flow
    release_fraction: np.ndarray  #: (K, G, 1) share of each back-off level's clients that re-send per step
    deliveries: np.ndarray  #: (G, 1, C) watch events/s delivered to one synced instance
    coredns_group: int  #: group of CoreDNS's informers
    coredns_instances: np.ndarray  #: (C,) CoreDNS pods
    coredns_query_flow: int | None  #: CoreDNS's per-answer GET flow (api_per_answer), else None
    workload_flow: int | None  #: the workloads' steady flow
    change_groups: np.ndarray  #: (Gc,) the change's groups
    change_instances: np.ndarray  #: (Gc, C) the change's instances at full rollout
    change_pod_watchers: np.ndarray  #: (Gc, 1, C) cluster-wide pod watches per synced instance
    change_per_node: bool  #: the change is per node (a DaemonSet): its pods are created at pods_per_s

    # --- read-only zeros (a step with nothing queued or lost reuses them) -------------------
    zeros_by_cluster: np.ndarray  #: (C,)
    zeros_by_flow: np.ndarray  #: (F, C)
    zeros_by_level: np.ndarray  #: (Lu, C)

    # issue 12: one model
    change_rate_leader_replicas: np.ndarray  #: (F, C) a leader-only change flow: its client's replicas at full rollout, else 0
    change_group_leader_replicas: np.ndarray  #: (Gc, C) the same for the change's groups
    change_rate_fixed: np.ndarray  #: (F, 1) bool: the change flow's client has fixed replicas (not per node)
    change_group_fixed: np.ndarray  #: (Gc, 1) bool: the same for the change's groups

    # issue 12: fairness, clients, writes ---------------------------------------------------
    queue_weight: np.ndarray  #: (F, 1, 1) APF queues a flow's hands cover (fair share weight; ≥ 1)
    mutating_share: np.ndarray  #: (F, C) share of a flow's requests that are writes (committed through etcd)
    etcd_commit_s: np.ndarray  #: (C,) seconds a write waits for etcd's commit (model.etcd.commit_s)
    etcd_members: np.ndarray  #: (C,) etcd members
    etcd_oom_range_bytes: np.ndarray  #: (C,) range bytes in flight at which etcd's members run out of memory
    retry_policy: np.ndarray  #: (F,) 0 none, 1 client-go (Retry-After, CLIENT_GO_MAX_RETRIES), 2 at once, forever
    qps_cap: np.ndarray  #: (F, C) requests/s the flow's clients may send (client-side QPS limits; inf: none)
    dynamic_retry_after: np.ndarray  #: (C,) bool: APF's Retry-After adapts to drops (≥ 1.28)
    crashloop_flow: int | None  #: flow of the kubelets' Events about crash-looping pods, else None
    crashloop_start_s: np.ndarray  #: (C,) when the crash-looping pods start (inf: never)
    crashloop_pods: np.ndarray  #: (C,) crash-looping pods (one container each)
    etcd_read_bytes_per_s: np.ndarray  #: (C,) bytes/s the cluster's etcd returns to range reads
    mutating_flows: np.ndarray  #: flows with writes (mutating_share > 0 on some cluster)
    #: (F, C) share of a flow's requests that are GETs read from etcd whatever the cache (rv="")
    leader_get_share: np.ndarray = field(default_factory=_no_array)
    #: (F, C) share that are GETs read from etcd while the replica's cache of their resource fills
    cold_get_share: np.ndarray = field(default_factory=_no_array)
    #: (F, 1, C) seconds of fill after which those GETs are served from the cache again (built-in
    #: resources; ``_json``: custom resources, on the replicas' second fill clock)
    cold_get_fill_s: np.ndarray = field(default_factory=_no_array)
    cold_get_fill_json_s: np.ndarray = field(default_factory=_no_array)
    # issue 12: conflicts (sim.phases.conflicts) -------------------------------------------
    #: (Fx,) flows with UPDATEs of one object all their writers share (``object_name``)
    conflict_flows: np.ndarray = field(default_factory=_no_array)
    #: (Fx, C) share of those flows' requests that are such updates
    conflict_share: np.ndarray = field(default_factory=_no_array)
    #: (Fx, C) those updates/s per writer
    conflict_rate: np.ndarray = field(default_factory=_no_array)
    #: (Fx, C) writers of the object at full rollout
    conflict_writers: np.ndarray = field(default_factory=_no_array)
    #: (Fx,) bool: the flow is the change's (its writers follow the rollout share)
    conflict_change: np.ndarray = field(default_factory=_no_array)
    #: (Fx, C) a leader-only flow's replicas at full rollout, else 0; (Fx, 1) a Deployment's flow
    conflict_leader_replicas: np.ndarray = field(default_factory=_no_array)
    conflict_fixed: np.ndarray = field(default_factory=_no_array)

    # issue 12: read path -------------------------------------------------------------------
    #: (G,) each group's relist flow as a replica whose watch cache is filling serves it (its
    #: twin, sim.bundles.routes_cold_to_etcd; the relist flow itself where it has none)
    group_cold_flow: np.ndarray = field(default_factory=_no_array)
    #: (G, 1, 1) 1.0 where the group has a twin flow for a cold cache (else it is its relist flow)
    group_cold_twin: np.ndarray = field(default_factory=_no_array)
    #: (G, C) 1.0 where that flow reads from etcd (a not-ready cache delegates the bundle)
    group_cold_to_etcd: np.ndarray = field(default_factory=_no_array)
    #: (G, C) 1.0 where a not-ready cache answers the bundle 429 (ResilientWatchCacheInitialization)
    group_cold_rejects: np.ndarray = field(default_factory=_no_array)
    #: (G, C) seconds after a (re)start until the caches of the group's start LISTs are ready: of
    #: its built-in resources, and (``_json``) of its custom resources, on their own fill clock
    group_cache_fill_s: np.ndarray = field(default_factory=_no_array)
    group_cache_fill_json_s: np.ndarray = field(default_factory=_no_array)
    #: some group or GET has a custom resource's cache to fill (the JSON clock runs)
    any_json_fill: bool = False
    #: (G,) 1.0 for groups of client-go informers (a broken watch is re-established without a
    #: LIST: reflector.go); 0.0 for clients that relist after every broken watch
    group_rewatches: np.ndarray = field(default_factory=_no_array)
    #: flows whose requests hold LIST responses in memory: every group's relist flows (2G,)
    memory_flows: np.ndarray = field(default_factory=_no_array)
    #: (2G, R, C) memory_per_request of those flows
    memory_flows_per_request: np.ndarray = field(default_factory=_no_array)
    #: (M, 1, 1) 1.0 for those flows not read from etcd (their responses count whole: a peak)
    memory_flows_not_etcd: np.ndarray = field(default_factory=_no_array)
    #: (M, 1, C) seats one (re)list bundle's LISTs hold together (memory's concurrency cap)
    memory_flows_peak_seats: np.ndarray = field(default_factory=_no_array)
    #: (M,) row of each of those flows in the etcd phase (``EtcdPhase.received``: the resident
    #: part of the range responses its waiting requests receive); 0 for flows not read from etcd
    memory_flows_etcd_row: np.ndarray = field(default_factory=_no_array)
    #: whether some memory flow reads from etcd
    memory_flows_wait_any: bool = False

    # --- issue 17: derived once from the fields above, so that a step does not gather them ---
    @cached_property
    def limited_rows(self) -> slice | np.ndarray:
        """The limited levels' rows of an ``(L, ...)`` array: a slice when contiguous, else indices."""
        rows = np.flatnonzero(self.limited)
        contiguous = len(rows) > 0 and rows[-1] - rows[0] + 1 == len(rows)
        return slice(int(rows[0]), int(rows[-1]) + 1) if contiguous else rows

    @cached_property
    def unlimited_rows(self) -> np.ndarray:
        """The exempt levels' indices."""
        return np.flatnonzero(~self.limited)

    @cached_property
    def borrowing_bounds(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Of the limited levels: ``min_seats`` and ``nominal_seats`` ``(Ll, 1, C)``,
        ``max_seats`` as ``(Ll, R, C)``; and ``server_seats`` as ``(R, C)``."""
        rows, per_replica = self.limited_rows, (self.n_replicas, self.n_clusters)
        high = np.ascontiguousarray(np.broadcast_to(self.max_seats[rows], (len(self.limited_levels),) + per_replica))
        total = np.ascontiguousarray(np.broadcast_to(self.server_seats, per_replica))
        return self.min_seats[rows], self.nominal_seats[rows], high, total

    @cached_property
    def limited_levels(self) -> np.ndarray:
        """The limited levels' indices."""
        return np.flatnonzero(self.limited)

    @cached_property
    def every_group_twinned(self) -> bool:
        """Every group has a twin flow for a cold cache (``group_cold_twin`` all 1)."""
        return bool((self.group_cold_twin == 1.0).all())

    @cached_property
    def zeros_by_flow_replica(self) -> np.ndarray:
        """Read-only zeros ``(F, R, C)``."""
        return _read_only(np.zeros((self.n_flows, self.n_replicas, self.n_clusters)))

    @cached_property
    def zeros_by_level_replica(self) -> np.ndarray:
        """Read-only zeros ``(Lu, R, C)``."""
        return _read_only(np.zeros((self.n_used_levels, self.n_replicas, self.n_clusters)))

    @cached_property
    def nothing_released(self) -> tuple[np.ndarray, np.ndarray]:
        """Read-only zeros ``(K, G, C)`` and ``(G, C)``: no client released from back-off."""
        n_groups = len(self.group_flow)
        return (_read_only(np.zeros((self.release_fraction.shape[0], n_groups, self.n_clusters))),
                _read_only(np.zeros((n_groups, self.n_clusters))))

    @cached_property
    def change_per_node_only(self) -> bool:
        """No change flow or group is leader-only or has fixed replicas: what sends at node share
        s is s of it (:func:`waveguard.sim.flows.sending_share` is s itself)."""
        return not ((self.change_rate_leader_replicas > 0).any() or self.change_rate_fixed.any()
                    or (self.change_group_leader_replicas > 0).any() or self.change_group_fixed.any())

    @cached_property
    def writers_mutating_share(self) -> np.ndarray:
        """``(Fw, C)`` ``mutating_share`` of the ``mutating_flows``."""
        return self.mutating_share[self.mutating_flows]

    @cached_property
    def memory_flows_level_pos(self) -> np.ndarray:
        """``(M,)`` position of each memory flow's level among the used levels."""
        return self.flow_level_pos[self.memory_flows]
