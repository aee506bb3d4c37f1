"""API Priority and Fairness dispatch (KEP-1040, ``apf_filter.go`` / ``queueset.go``): each
priority level dispatches its queued and arriving requests into its free seats, max-min fair
between its flows; what cannot wait — beyond the flow's queue capacity (handSize ×
queueLengthLimit) or longer than the APF wait limit (15 s, ``APF_QUEUE_WAIT_LIMIT_S``) — is
rejected with 429. Before 1.20 the max-in-flight filter decides instead
(:mod:`waveguard.sim.maxinflight`). Also the pod writers' extra seats for the watch fan-out of
their writes (the APF work estimate of ``request/mutating_work_estimator.go``)."""

from __future__ import annotations

import numpy as np

from waveguard.model import constants as C
from waveguard.sim.clients import crashloop_restarts
from waveguard.sim.flows import writer_extra_seat_seconds_vec
from waveguard.sim.params import SimParams
from waveguard.sim.phases import client_retries
from waveguard.sim.phases.common import TINY, per_level, refresh_service
from waveguard.sim.state import FleetState


def dispatch(state: FleetState, params: SimParams, dt: float) -> None:
    """Steps 4–5: dispatch into free seats (``dispatched``), queue (``queued``) or reject
    (``rejected``, 429) the requests of every flow on every replica; then the clusters before
    APF (max-in-flight) and a running rollback's one request decide their own."""
    crashloop_events(state, params, dt)
    released = client_retries.release_retries(state, params, dt)  # 429s re-sent after Retry-After
    in_flight = state.executing + state.awaiting_etcd if state.etcd_busy else state.executing
    if state.executing_any or state.etcd_busy:
        occupied = per_level(params, in_flight * params.seats)
        available = np.maximum(state.used_seat_limits - occupied, 0.0)
    else:  # nothing in flight: no seat occupied, every seat free (limits − 0, never < 0)
        occupied, available = params.zeros_by_level_replica, state.used_seat_limits
    queued, rejected, dispatched = state.queued, state.rejected, state.dispatched
    want = queued + state.arrivals_per_replica if state.queueing else state.arrivals_per_replica
    demand = want * state.seat_occupancy
    demand_by_level = per_level(params, demand)
    if (demand_by_level <= available).all():  # everything fits: no queue, no rejection
        np.copyto(dispatched, want)
        given = demand_by_level
        if state.queueing:
            queued.fill(0.0)
            rejected.fill(0.0)
            state.queueing = False
    else:
        give, given = fair_split(params, demand, demand_by_level, available, want)
        np.divide(give, state.seat_occupancy, out=dispatched)
        # What cannot wait is rejected (429): queue full, or waiting past the APF limit.
        np.subtract(want, dispatched, out=queued)
        np.subtract(queued, params.queue_capacity, out=rejected)
        np.maximum(rejected, 0.0, out=rejected)
        queued -= rejected
        late = np.maximum(queued - dispatched * params.wait_limit_steps, 0.0)
        late *= params.wait_limit_fraction
        queued -= late
        rejected += late
        state.queueing = True
    legacy = params.max_in_flight
    if legacy.enabled and legacy.admit(want, dispatched, queued, rejected, in_flight, params.seats,
                                       state.seat_occupancy):
        state.queueing = True  # max-in-flight (< 1.20): what does not fit is rejected at once
    rollback = state.rollback_active
    if rollback is not None and rollback.resolve(dispatched, queued, rejected, params.queue_capacity):
        state.queueing = True
    if state.queueing or released is not None or state.retry_after_raised:
        client_retries.requeue_rejected(state, params, want, released, dt)
    state.occupied, state.given = occupied, given


def crashloop_events(state: FleetState, params: SimParams, dt: float) -> None:
    """The kubelets' Event writes about crash-looping pods (scenario ``crashloop``): each pod
    restarts after the kubelet's back-off (:func:`waveguard.sim.clients.crashloop_restarts`) and
    every restart writes EVENT_WRITES_PER_RESTART Events, spread over the replicas up."""
    f = params.crashloop_flow
    if f is None:
        return
    elapsed = state.time_s - params.crashloop_start_s
    started = elapsed >= 0
    if not started.any():
        return
    restarts = np.where(started, crashloop_restarts(np.maximum(elapsed, 0.0))
                        - crashloop_restarts(np.maximum(elapsed - dt, 0.0)), 0.0)
    writes = params.crashloop_pods * restarts * C.EVENT_WRITES_PER_RESTART  # (C,)
    state.arrivals_per_replica[f] += writes[None, :] * state.replica_share
    state.arrivals[f] += writes


def fair_split(params: SimParams, demand: np.ndarray, demand_by_level: np.ndarray,
               available: np.ndarray, requests: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Max-min fair split of each level's free seats ``(Lu, R, C)`` between its flows' demands
    ``(F, R, C)`` (seats of this step): fair queuing serves the level's non-empty queues
    equally, and a flow's requests fill the queues its shuffle-sharded hands cover
    (``params.queue_weight``: handSize for one APF flow, every queue for many —
    ``model.apf.queues_touched``; never more queues than it has ``requests`` ``(F, R, C)``
    waiting), so each flow first gets an equal share per non-empty queue it holds, then what
    is left in proportion to unmet demand (``queueset.go``,
    findDispatchQueueToBoundLocked: the queue with the least virtual finish time next).
    Returns (seats given per flow ``(F, R, C)``, seats given per level ``(Lu, R, C)``)."""
    pos = params.flow_level_pos
    weight = params.queue_weight if requests is None else np.minimum(params.queue_weight, np.maximum(requests, 1.0))
    active_queues = per_level(params, (demand > TINY) * weight)
    per_queue = available / np.maximum(active_queues, 1.0)
    give = np.minimum(demand, per_queue[pos] * weight)
    given = per_level(params, give)
    unmet = demand - give
    unmet_by_level = per_level(params, unmet)
    fraction = available - given
    fraction /= np.maximum(unmet_by_level, TINY)
    np.minimum(fraction, 1.0, out=fraction)
    unmet *= fraction[pos]
    give += unmet
    unmet_by_level *= fraction
    given += unmet_by_level
    return give, given


def update_fanout_seats(state: FleetState, params: SimParams, dt: float) -> None:
    """Extra seats every pod write costs its writer: ceil(W/10) × 5 ms (the cost model), W the
    control plane's pod watches plus the change's synced cluster-wide pod watches."""
    if len(params.change_groups) == 0:
        return
    watchers = params.baseline_pod_watchers + (
        state.synced_watches[params.change_groups] * params.change_pod_watchers).sum(axis=(0, 1))
    extra = writer_extra_seat_seconds_vec(watchers) / dt
    new = (params.pod_write_share * extra)[:, None, :]
    if params.max_in_flight.enabled:
        new[:, :, params.max_in_flight.cols] = 0.0  # no APF work estimate before 1.20
    if not np.array_equal(new, state.fanout_extra_seats):
        state.fanout_extra_seats = new
        refresh_service(state, params, dt)
