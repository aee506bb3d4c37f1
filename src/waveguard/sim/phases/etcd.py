"""etcd: the admitted requests of the flows served from etcd (a LIST with
``resourceVersion=""`` before 1.31, or paginated) wait for the cluster's shared etcd, holding
their seats, before their apiserver phase (:class:`waveguard.sim.etcd.EtcdPhase` keeps the
cohorts and the throughput model); informers whose LIST from etcd was cancelled or answered too
late fail."""

from __future__ import annotations

import numpy as np

from waveguard.model import constants as C
from waveguard.model.etcd import down_after_oom_s, member_memory_of
from waveguard.sim.params import SimParams
from waveguard.sim.phases.common import TINY, leader_wait_share, refresh_service
from waveguard.sim.state import FleetState


def through_etcd(state: FleetState, params: SimParams, dt: float) -> None:
    """The admitted requests of flows served from etcd wait for it; the responses that arrived
    this step enter the apiserver phase (``entering``); ``etcd_out``: (late, cancelled) per
    etcd flow, or None. Without etcd flows the dispatched requests enter at once."""
    if not state.etcd.enabled:
        state.entering, state.etcd_out = state.dispatched, None
        return
    etcd_flows = params.etcd_flows
    admitted = state.dispatched[etcd_flows]
    waited = np.minimum(state.queued[etcd_flows] / np.maximum(admitted, TINY) * dt, C.APF_QUEUE_WAIT_LIMIT_S) \
        if state.queueing else 0.0
    state.etcd.admit(state.time_s, admitted, waited)
    out = state.etcd.advance(state.time_s, state.service_now_s[etcd_flows] if state.etcd.busy else None,
                             state.cpu_stretch)
    if out is None and not admitted.any():  # nothing admitted, nothing answered: all enter as dispatched
        state.entering, state.etcd_out = state.dispatched, None
        if state.etcd_busy:  # (else those rows are the zeros written when etcd last became idle)
            state.awaiting_etcd[etcd_flows] = state.etcd.waiting
            state.etcd_busy = state.etcd.busy
        return
    entering = state.dispatched.copy()
    entering[etcd_flows] = 0.0 if out is None else out[0]
    state.awaiting_etcd[etcd_flows] = state.etcd.waiting
    state.etcd_busy = state.etcd.busy
    state.entering, state.etcd_out = entering, None if out is None else out[1:]


def fail_late_lists(state: FleetState, params: SimParams, dt: float) -> None:
    """Informers whose LIST from etcd failed: cancelled while waiting for etcd (client
    timeout), or answered by etcd too late to be written before it (abandoned: the server
    finishes the work, the client has gone)."""
    if state.etcd_out is None:
        return
    late, cancelled = state.etcd_out
    completed, failed = state.completed_by_group, state.failed
    lost = late.sum(axis=1) + cancelled.sum(axis=1)  # (Fe, C)
    any_lost, any_late = lost.max(axis=1) > TINY, late.max(axis=(1, 2)) > TINY  # (Fe,) each
    for e, g in params.etcd_groups:
        if not any_lost[e]:
            continue
        f = params.etcd_flows[e]  # the group's relist flow (or its cold-cache twin)
        completed[g] -= late[e] * state.finish_fraction[f]
        np.maximum(completed[g], 0.0, out=completed[g])
        state.abandoned[g] += late[e] * state.carry_fraction[f]
        state.has_abandoned = state.has_abandoned or bool(any_late[e])
        if failed is None:
            failed = np.zeros((len(params.group_flow), params.n_clusters))
        failed[g] += lost[e]
    state.failed = failed


# --- issue 12: etcd as a component -----------------------------------------------------------


def etcd_component(state: FleetState, params: SimParams, dt: float) -> None:
    """etcd's own figures this step: writes committed (one WAL fsync each: etcd batches them,
    the model counts them), the memory of one member while it serves range reads
    (:func:`waveguard.model.etcd.member_memory_bytes`), its OOM — every member over its memory
    at once, since kube-apiserver spreads ranges over them: every waiting range fails (their
    informers back off), etcd serves nothing until its members restart — after the kubelet's
    crash-loop back-off when it keeps crashing — and elect a leader
    (:func:`waveguard.model.etcd.down_after_oom_s`; one leader change) — and the p99 of
    kube-apiserver's etcd requests (the longest range wait, or a commit)."""
    writers = params.mutating_flows
    writes = np.einsum("frc,fc->c", state.dispatched[writers], params.writers_mutating_share)
    state.etcd_quiet = not state.etcd.busy and state.etcd_idle
    if state.etcd_quiet:
        state.etcd_writes = writes
        state.etcd_500_by_flow = None
        return  # nothing read from etcd, never down: idle memory and a commit's p99 stand
    n = params.n_clusters
    held = state.etcd.range_bytes_held() if state.etcd.enabled else params.zeros_by_cluster
    state.etcd_memory = member_memory_of(held, params.etcd_members)  # the projection's function too
    state.etcd_leader_changes = np.zeros(n)
    if state.etcd.enabled:
        state.etcd.serving = (state.time_s >= state.etcd_down_until).astype(np.float64)
        for c in np.flatnonzero((held > params.etcd_oom_range_bytes) & (state.etcd.serving > 0)):
            _etcd_oom(state, params, int(c))
    state.etcd_p99_s = _etcd_p99_s(state, params)
    timed_out = _stall_writes(state, params, dt)
    state.etcd_writes = _commits(state, writes, timed_out)
    state.etcd_idle = not state.etcd.busy and bool((state.etcd_down_until <= state.time_s).all())


def init_etcd_state(state: FleetState, params: SimParams) -> None:
    """etcd at time 0: idle members, serving, no leader change, writes answered in a commit."""
    n = params.n_clusters
    state.etcd_memory = np.full(n, float(C.ETCD_BASE_MEMORY_BYTES))
    state.etcd_down_until = np.full(n, -np.inf)
    state.etcd_crashes = np.zeros(n)
    state.etcd_leader_changes = np.zeros(n)
    state.etcd_writes = np.zeros(n)
    state.etcd_pending_commits = np.zeros(n)
    state.etcd_p99_s = params.etcd_commit_s.copy()


def _etcd_oom(state: FleetState, params: SimParams, c: int) -> None:
    """Cluster ``c``'s etcd members are OOM-killed now."""
    lost = state.etcd.fail_all(c)  # (Fe, R)
    for e, g in params.etcd_groups:
        state.backoff[1, g, c] += lost[e].sum()
    state.awaiting_etcd[params.etcd_flows, :, c] = 0.0
    state.etcd_busy = state.etcd.busy
    state.etcd.serving[c] = 0.0
    crashes = state.etcd_crashes[c] if state.time_s - state.etcd_down_until[c] < C.CRASHLOOP_BACKOFF_RESET_S else 0.0
    state.etcd_down_until[c] = state.time_s + down_after_oom_s(int(crashes))
    state.etcd_crashes[c] = crashes + 1.0
    state.etcd_leader_changes[c] = 1.0


def _commits(state: FleetState, writes: np.ndarray, timed_out: np.ndarray) -> np.ndarray:
    """``(C,)`` writes etcd commits this step, of the ``writes`` dispatched now: all of them
    while it has a leader; none while it has none — those that will fail (``timed_out``: their
    500 is counted in ``etcd_500_by_flow``) never commit, the others wait for the leader and
    commit when it is back, with the step's own (``etcd_pending_commits``). etcd commits an entry
    only through its leader (raft; server/etcdserver/v3_server.go
    ``processInternalRaftRequestOnce`` proposes to the leader and waits, 3.4–3.6)."""
    leader = state.etcd_down_until <= state.time_s
    state.etcd_pending_commits += np.where(leader | timed_out, 0.0, writes)
    committed = np.where(leader, writes + state.etcd_pending_commits, 0.0)
    state.etcd_pending_commits[leader] = 0.0
    return committed


def _stall_writes(state: FleetState, params: SimParams, dt: float) -> np.ndarray:
    """While a cluster's etcd has no leader, a write waits for one — at most etcd's request
    timeout (``ETCD_REQUEST_TIMEOUT_S``: 5 s + 2 election timeouts) — and holds its seat (or
    mutating in-flight slot) meanwhile: its service time grows by that wait. So does a GET that
    reads from etcd (resourceVersion="", or "0" on a filling watch cache:
    :func:`waveguard.sim.phases.common.leader_wait_share`). One dispatched while etcd has no
    leader for at least that timeout more FAILS: etcd answers ``ErrTimeout`` "etcdserver:
    request timed out" (etcd server/etcdserver/v3_server.go ``processInternalRaftRequestOnce``,
    errors.go, 3.4–3.6; a ReadIndex read the same, ``linearizableReadNotify``), kube-apiserver's
    storage passes it up (``k8s.io/apiserver/pkg/storage/etcd3/store.go``) and
    ``endpoints/handlers/responsewriters/status.go`` ``ErrorToAPIStatus`` answers 500, 1.20–1.33:
    ``etcd_500_by_flow`` ``(F, C)``, counted in ``apiserver_request_total{code="500"}`` in the
    step it was dispatched. (Its client's reaction is not modelled: client-go does not retry a
    500 without Retry-After, ``rest/with_retry.go``; the controllers requeue the key.) Per flow
    in ``etcd_500_by_flow`` ``(F, C)``: the workloads' count among their failures
    (:func:`waveguard.sim.phases.dns.failure_ratio`). Returns ``timed_out`` ``(C,)`` bool: a
    request dispatched now to etcd fails."""
    leaderless_for = np.maximum(state.etcd_down_until - state.time_s, 0.0)
    stall = np.minimum(leaderless_for, C.ETCD_REQUEST_TIMEOUT_S)
    if stall.any() or state.write_stall_any:
        state.write_stall_s, state.write_stall_any = stall, bool(stall.any())
        refresh_service(state, params, dt)
    timed_out = leaderless_for >= C.ETCD_REQUEST_TIMEOUT_S
    if timed_out.any():
        state.etcd_500_by_flow = (state.dispatched * leader_wait_share(state, params)).sum(axis=1) * timed_out
    else:
        state.etcd_500_by_flow = None
    return timed_out


def _etcd_p99_s(state: FleetState, params: SimParams) -> np.ndarray:
    """``(C,)`` p99 seconds of kube-apiserver's etcd requests: a write's commit, or — while ranges
    wait for etcd — the wait of the slowest range being read; while etcd is down, the time until
    it serves again plus a commit."""
    p99 = params.etcd_commit_s.copy()
    down_for = np.maximum(state.etcd_down_until - state.time_s, 0.0)
    if state.etcd.enabled and state.etcd.busy:
        waiting = (state.etcd.waiting.sum(axis=1) > TINY) & (down_for <= 0.0)  # (Fe, C)
        with np.errstate(divide="ignore", invalid="ignore"):
            range_s = np.where(waiting, state.etcd.time_s(), 0.0).max(axis=0)
        p99 = np.maximum(p99, np.minimum(range_s, C.CLIENT_TIMEOUT_S))  # a client cancels after its timeout
    return p99 + down_for
