"""What the simulated fleet is at one instant: :class:`FleetState`, the arrays the phases of a
step (:mod:`waveguard.sim.phases`) read and write.

Arrays are laid out flow-major, clusters last, so per-level and per-replica sums are contiguous:

* ``F`` flows (:mod:`waveguard.sim.flows`: a client's steady requests in one level, or an
  informer's (re)list bundle), ``R`` apiserver replicas (padded to the largest cluster), ``C``
  clusters;
* ``L`` APF priority levels, ``Lu`` the levels some flow uses; ``G`` informer groups (one per
  client with start LISTs); ``K`` back-off levels (0 = send now, then client-go's 0.8 s … 30 s);
  ``Fe`` the flows served from etcd.

Request counts are requests (fluid: fractions allowed) per replica; "per step" figures are for
one step of ``dt`` seconds. The first block persists from step to step; the second
(``# this step``) is overwritten by every step and only passes figures from one phase to the
next. Built by :func:`waveguard.sim.build.initial_state`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from waveguard.sim.dns import DNSCaches
from waveguard.sim.etcd import EtcdPhase
from waveguard.sim.noise import Noise
from waveguard.sim.rollback import RollbackDriver


def _empty() -> np.ndarray:
    return np.zeros(0)


@dataclass(eq=False)
class FleetState:
    """The state of every apiserver replica, client and cache of every cluster (see the module
    docstring for the letters of the shapes)."""

    # --- clock ------------------------------------------------------------------------------
    time_s: float  #: simulated seconds since the start
    step_count: int  #: steps taken

    # --- replicas ---------------------------------------------------------------------------
    up: np.ndarray  #: (R, C) bool: the replica serves
    up_float: np.ndarray  #: (R, C) ``up`` as 0.0 / 1.0
    down_until: np.ndarray  #: (R, C) simulated second a replica that is down comes back
    crash_count: np.ndarray  #: (R, C) int: consecutive OOM kills (crash-loop back-off exponent)
    up_since: np.ndarray  #: (R, C) simulated second the replica last came up
    oom_kills: np.ndarray  #: (C,) int: OOM kills so far
    cpu_stretch: np.ndarray  #: (R, C) CPU oversubscription ≥ 1: τ stretches by (stretch − 1) × CPU work
    cpu_utilisation: np.ndarray  #: (R, C) last step's CPU demand / cores
    any_down: bool  #: some existing replica is down
    slowed: bool  #: some replica's CPU is oversubscribed

    # --- APF --------------------------------------------------------------------------------
    seat_limits: np.ndarray  #: (L, R, C) current concurrency limit of each level (seats)
    used_seat_limits: np.ndarray  #: (Lu, R, C) ``seat_limits`` of the used levels
    queued: np.ndarray  #: (F, R, C) requests waiting in APF queues
    rejected: np.ndarray  #: (F, R, C) requests answered 429 this step
    dispatched: np.ndarray  #: (F, R, C) requests dispatched this step
    executing: np.ndarray  #: (F, R, C) requests executing (in the apiserver phase)
    queueing: bool  #: some queue or rejection is non-zero (else the fast path: all fits)
    demand_high_watermark: np.ndarray  #: (L, R, C) seat demand high watermark of the last period
    used_demand_high_watermark: np.ndarray  #: (Lu, R, C) the same, building up in this period
    smoothed_demand: np.ndarray  #: (L, R, C) exponentially smoothed seat demand (apf_controller.go)
    next_readjust_s: float  #: when the limits are next readjusted (APF_READJUST_PERIOD_S)
    fair_fraction: np.ndarray | None  #: (R, C) last period's fair fraction (Newton start), None at first
    fanout_extra_seats: np.ndarray  #: (F, 1, C) extra seats per request for pod writers' watch fan-out
    limit_record: np.ndarray  #: (L, C) recorded current limit (seats of the replicas up)
    seats_up: np.ndarray  #: (Lu, C) seats of the used levels on the replicas that are up
    limits_changed: bool  #: the recorded limits / up rows must be rewritten

    # --- service (derived from τ and the CPU stretch; refresh_service) ----------------------
    service_now_s: np.ndarray  #: (F, R, C) τ as stretched now (s)
    finish_fraction: np.ndarray  #: (F, R, C) share of executing requests that finish in a step
    carry_fraction: np.ndarray  #: (F, R, C) share of a dispatched request left for later steps
    step_fraction: np.ndarray  #: (F, R, C) share of the step a request dispatched now executes
    busy_share: np.ndarray  #: (F, R, C) the same, counting only those that finish within it
    seat_occupancy: np.ndarray  #: (F, R, C) seats a request dispatched now holds this step

    # --- etcd -------------------------------------------------------------------------------
    etcd: EtcdPhase  #: requests waiting for their range responses (cohorts)
    awaiting_etcd: np.ndarray  #: (F, R, C) requests admitted, waiting for etcd, holding their seats
    etcd_busy: bool  #: some request waits for etcd

    # --- clients and informers --------------------------------------------------------------
    backoff: np.ndarray  #: (K, G, C) informer instances waiting to (re)list, per back-off level
    last_backoff_mix: np.ndarray  #: (K, G, C) back-off level mix of the last attempts
    synced_watches: np.ndarray  #: (G, R, C) synced informer instances watching through each replica
    abandoned: np.ndarray  #: (G, R, C) executing (re)lists whose client gave up
    has_abandoned: bool  #: ``abandoned`` is non-zero somewhere
    relists_sent: np.ndarray  #: (G, C) (re)list bundles that reached a replica that was up
    arrivals_per_step: np.ndarray  #: (F, C) steady requests per step at today's rollout share
    fanout_cpu: np.ndarray  #: (R, C) CPU cores spent delivering watch events
    rollout_share: np.ndarray  #: (C,) share of nodes running the change
    rollout_target: np.ndarray  #: (C,) share the rollout aims at
    ramp_per_s: np.ndarray  #: (C,) share of nodes whose pods are created (deleted) per second
    ramping: bool  #: some share is not at its target
    noise: Noise  #: demand and load-balancer noise
    rollback: RollbackDriver | None  #: the rollback client (None: built without identities)

    # --- DNS --------------------------------------------------------------------------------
    coredns_without_copy: np.ndarray  #: (C,) CoreDNS pods without a copy of Services/EndpointSlices
    coredns_without_copy_any: bool
    dns_caches: DNSCaches  #: client and node-local caches

    # --- latency (cached between slow updates) ----------------------------------------------
    hold_s: np.ndarray | None = None  #: (Lu, C) mean seat holding time (s); None: recompute
    latency_service_s: np.ndarray = field(default_factory=_empty)  #: (F, C) service time of the slowest replica
    mmc_scale: np.ndarray = field(default_factory=_empty)  #: (Lu, C) hold × ln 100 / seats
    mmc_power: np.ndarray = field(default_factory=_empty)  #: (Lu, C) √(2(seats + 1)) − 1
    service_max_s: np.ndarray | None = None  #: (F, C) ``service_now_s`` of the slowest replica; None: recompute

    # --- this step (overwritten every step) -------------------------------------------------
    demand_noise: np.ndarray = field(default_factory=_empty)  #: (C,) lognormal, mean 1
    lb_noise: np.ndarray = field(default_factory=_empty)  #: (R, C) lognormal, mean 1
    released: np.ndarray = field(default_factory=_empty)  #: (K, G, C) clients re-sending after back-off
    resending: np.ndarray = field(default_factory=_empty)  #: (G, C) ``released`` summed over back-off levels
    resending_any: bool = False  #: some client re-sends this step (else both are read-only zeros)
    arrivals: np.ndarray = field(default_factory=_empty)  #: (F, C) requests arriving this step
    arrivals_per_replica: np.ndarray = field(default_factory=_empty)  #: (F, R, C)
    replica_share: np.ndarray = field(default_factory=_empty)  #: (R, C) each replica's share of new requests
    lost: np.ndarray | None = None  #: (F, C) arrivals with no replica up (None: every cluster has one)
    rollback_active: RollbackDriver | None = None  #: the rollback driver when a rollback runs
    completed: np.ndarray = field(default_factory=_empty)  #: (F, R, C) requests finished this step
    occupied: np.ndarray = field(default_factory=_empty)  #: (Lu, R, C) seats held before dispatch
    given: np.ndarray = field(default_factory=_empty)  #: (Lu, R, C) seats given by dispatch
    entering: np.ndarray = field(default_factory=_empty)  #: (F, R, C) requests entering the apiserver phase
    etcd_out: tuple | None = None  #: (late, cancelled) per etcd flow, (Fe, R, C) each
    completed_by_group: np.ndarray = field(default_factory=_empty)  #: (G, R, C) (re)lists answered
    failed: np.ndarray | None = None  #: (G, C) (re)lists that failed this step
    coredns_synced_before: np.ndarray | None = None  #: (C,) CoreDNS instances synced before this step
    busy: np.ndarray = field(default_factory=_empty)  #: (F, R, C) time-averaged executing requests
    memory: np.ndarray = field(default_factory=_empty)  #: (R, C) resident memory (bytes)
    used_seats: np.ndarray = field(default_factory=_empty)  #: (Lu, R, C) seats in use after dispatch
    dns_failure: np.ndarray = field(default_factory=_empty)  #: (C,) share of CoreDNS answers failing
    client_dns_failure: np.ndarray = field(default_factory=_empty)  #: (C,) share of lookups failing after caches
    workload_error: np.ndarray = field(default_factory=_empty)  #: (C,) workloads' error ratio
    level_wait_s: np.ndarray = field(default_factory=_empty)  #: (Lu, C) p99 APF queue wait (s)
    scope_p99_s: np.ndarray = field(default_factory=_empty)  #: (S, C) p99 request latency per scope (s)
    used_by_cluster: np.ndarray = field(default_factory=_empty)  #: (Lu, C) seats in use, all replicas
    inqueue_by_level: np.ndarray = field(default_factory=_empty)  #: (Lu, C) requests queued
    rejected_by_level: np.ndarray = field(default_factory=_empty)  #: (Lu, C) 429s this step
    dispatched_by_level: np.ndarray = field(default_factory=_empty)  #: (Lu, C) dispatched this step

    # --- issue 12: read path ----------------------------------------------------------------
    #: (R, C) simulated second each replica last started filling its watch caches (−inf: warm)
    cache_filling_since: np.ndarray = field(default_factory=_empty)
    #: (R, C) seconds of watch-cache fill done since the replica came back, counted at etcd-idle
    #: speed (model.etcd.cache_fill_speed; inf: never restarted)
    cache_fill_done_s: np.ndarray = field(default_factory=_empty)
    #: (R, C) the same for custom resources' caches (JSON: model.storage.decode_s_per_json_byte)
    cache_fill_done_json_s: np.ndarray = field(default_factory=_empty)
    any_cold: bool = False  #: some replica's watch cache is still filling
    cold_rejected: np.ndarray | None = None  #: (G, C) this step: bundles a not-ready cache answered 429
    cold_rejected_total: np.ndarray = field(default_factory=_empty)  #: (C,) those so far
    rewatches: np.ndarray = field(default_factory=_empty)  #: (C,) watches re-established without a LIST
    # --- issue 12: fairness, clients, writes --------------------------------------------------
    demand_sum: np.ndarray = field(default_factory=_empty)  #: (Lu, R, C) Σ seat demand over this period's steps
    demand_sq_sum: np.ndarray = field(default_factory=_empty)  #: (Lu, R, C) Σ seat demand² (for the std dev)
    demand_steps: int = 0  #: steps summed this period
    etcd_memory: np.ndarray = field(default_factory=_empty)  #: (C,) resident bytes of one etcd member
    etcd_down_until: np.ndarray = field(default_factory=_empty)  #: (C,) etcd serves again from this second
    etcd_leader_changes: np.ndarray = field(default_factory=_empty)  #: (C,) leader changes this step
    etcd_writes: np.ndarray = field(default_factory=_empty)  #: (C,) writes committed this step (WAL fsyncs)
    #: (C,) writes waiting for etcd's leader that will commit when it is back (not failed)
    etcd_pending_commits: np.ndarray = field(default_factory=_empty)
    etcd_p99_s: np.ndarray = field(default_factory=_empty)  #: (C,) p99 of kube-apiserver's etcd requests (s)
    retry_waiting: np.ndarray = field(default_factory=_empty)  #: (A, F, R, C) rejected requests waiting to retry, by attempt
    retry_after_s: np.ndarray = field(default_factory=_empty)  #: (Lu, R, C) Retry-After each level's 429s carry (s)
    drops_window: np.ndarray = field(default_factory=_empty)  #: (Lu, R, C) requests dropped in the last Retry-After seconds
    retry_after_changed_s: np.ndarray = field(default_factory=_empty)  #: (Lu, R, C) when Retry-After last doubled
    retries_sent: np.ndarray = field(default_factory=_empty)  #: (F, C) retries re-sent so far (extra requests)
    retries_any: bool = False  #: ``retries_sent`` was added to since it was last recorded
    #: some request has executed across a step (until then ``executing`` holds its +0.0 zeros,
    #: and a step skips what adds it: sim/phases/replicas.py)
    executing_any: bool = False
    etcd_crashes: np.ndarray = field(default_factory=_empty)  #: (C,) consecutive etcd OOM kills (crash-loop back-off)
    retry_pending: bool = False  #: some rejected request waits to be retried
    etcd_idle: bool = True  #: no range waits for etcd and none is down: its figures stand still
    #: this step left etcd's figures as they were (etcd_component: idle, and it was idle before)
    etcd_quiet: bool = False
    retry_after_raised: bool = False  #: some level's Retry-After is above 1 s or drops are remembered
    write_stall_s: np.ndarray = field(default_factory=_empty)  #: (C,) seconds a write now waits for etcd's new leader
    write_stall_any: bool = False  #: some cluster's writes wait for a leader
    #: (F, R, C) seconds each flow's requests now wait for etcd's leader, on average (those that do:
    #: phases.common.leader_wait_share)
    stall_now_s: np.ndarray = field(default_factory=_empty)
    #: (C,) UPDATEs answered 409 Conflict this step (sim.phases.conflicts; None: none so far)
    conflicts_409: np.ndarray | None = None
    #: (F, C) requests this step that fail with 500 after etcd's leader wait, per flow (None: none)
    etcd_500_by_flow: np.ndarray | None = None
    # --- issue 17: per-step constants kept until what they derive from changes ----------------
    #: (M, R, C) share of a memory flow's entering requests that
    #: :func:`waveguard.sim.phases.replicas.held_list_memory` counts whole (refresh_service)
    memory_whole: np.ndarray = field(default_factory=_empty)
    #: (M, R, C) requests of each memory flow that its level's seats admit at once (seat limit ÷
    #: the seats its bundle's LISTs hold together; with the limits, common.refresh_limits)
    memory_seat_bound: np.ndarray = field(default_factory=_empty)
    #: (Gc, C) the change's instances sending at ``rollout_share`` (None: not computed yet)
    change_sending: np.ndarray | None = None
