"""Informers and clients: the change's pods starting and stopping, clients re-sending after
their back-off, arrivals spread over the replicas that are up, informers synced or sent back
to back-off (client-go's reflector: ``ListAndWatch`` retried with exponential back-off, 0.8 s
doubling to 30 s, jitter 1.0 — ``CLIENT_BACKOFF_*`` in :mod:`waveguard.model.constants`)."""

from __future__ import annotations

import numpy as np

from waveguard.model import constants as C
from waveguard.sim.flows import sending_share
from waveguard.sim.params import SimParams
from waveguard.sim.phases import conflicts, replicas
from waveguard.sim.phases.common import TINY, update_rates
from waveguard.sim.state import FleetState


def ramp_rollout(state: FleetState, params: SimParams, dt: float) -> None:
    """Move each cluster's rollout share towards its target at ``ramp_per_s``. New pods start
    their informers (a (re)list bundle each, back-off level 0); deleted pods stop sending: they
    leave the waiting and the synced alike, and what they wait for from etcd is cancelled."""
    if not state.ramping:
        return
    old = state.rollout_share  # replaced below, never written in place
    step = state.ramp_per_s * dt
    state.rollout_share = np.where(old < state.rollout_target, np.minimum(state.rollout_target, old + step),
                                   np.maximum(state.rollout_target, old - step))
    state.ramping = bool((state.rollout_share != state.rollout_target).any())
    update_rates(state, params, dt)
    before = state.change_sending  # (Gc, C) instances sending: as the last ramp step left them
    if before is None:
        before = params.change_instances * _group_share(params, old)
    after = state.change_sending = params.change_instances * _group_share(params, state.rollout_share)
    state.backoff[0, params.change_groups] += np.maximum(after - before, 0.0)
    if (old > state.rollout_share).any():  # some pods are deleted
        shrink = np.maximum(old - state.rollout_share, 0.0)
        keep = np.where(old > 0, 1.0 - shrink / np.maximum(old, TINY), 1.0)
        group_keep = np.where(before > after, after / np.maximum(before, TINY), 1.0)  # (Gc, C)
        for i, g in enumerate(params.change_groups):
            state.backoff[:, g] *= group_keep[i]
            state.synced_watches[g] *= group_keep[i]
        if state.etcd.busy:  # their connections close: what they wait for from etcd is cancelled
            state.etcd.scale(params.etcd_change_rows, keep)
            state.awaiting_etcd[params.etcd_flows] = state.etcd.waiting


def _group_share(params: SimParams, share: np.ndarray) -> np.ndarray:
    """Share of the change's groups' instances sending at node share ``share`` ``(C,)``: the
    share itself when every change client runs on every node and none is leader-only."""
    if params.change_per_node_only:
        return share
    return sending_share(share, params.change_group_leader_replicas, params.change_group_fixed)


def release_backoff(state: FleetState, params: SimParams, dt: float) -> None:
    """Step 1: the share ``release_fraction`` of each back-off level's clients re-sends now
    (a wait of d with jitter 1.0 lasts 1.5 d on average)."""
    if not state.backoff.any():  # nobody waits: nobody re-sends
        state.released, state.resending = params.nothing_released
        state.resending_any = False
        return
    released = state.backoff * params.release_fraction
    state.backoff -= released
    state.released = released
    state.resending = released.sum(axis=0)
    state.resending_any = True


def arrive(state: FleetState, params: SimParams, dt: float) -> None:
    """Step 2: arrivals (steady rates × demand noise, plus the (re)lists re-sent) spread over
    the replicas that are up with the load balancer's noise; with none up they are lost. A
    running rollback injects its one request (:mod:`waveguard.sim.rollback`)."""
    arrivals = state.arrivals_per_step * state.demand_noise
    if state.resending_any:
        arrivals[params.group_flow] += state.resending
    weights = state.up_float * state.lb_noise
    total = weights.sum(axis=0)
    replica_share = weights / np.maximum(total, TINY)  # (R, C): each replica's share of new requests
    per_replica = arrivals[:, None, :] * replica_share
    state.lost = arrivals * (total <= 0) if state.any_down else None
    rollback = state.rollback if state.rollback is not None and state.rollback.active else None
    if rollback is not None:  # the rollback's requests: one individual each (sim/rollback.py)
        rollback.inject(arrivals, per_replica, replica_share, total)
    if state.resending_any:
        state.relists_sent += state.resending * (total > 0) if state.any_down else state.resending
    state.rollback_active = rollback
    state.arrivals, state.arrivals_per_replica, state.replica_share = arrivals, per_replica, replica_share
    state.cold_rejected = None
    if state.any_cold:
        route_cold(state, params)
    if len(params.conflict_flows):  # issue 12: shared-object updates conflict and are retried
        conflicts.retry_conflicts(state, params, dt)


def route_cold(state: FleetState, params: SimParams) -> None:
    """(Re)list bundles that reach a replica whose watch caches are still filling (k8s:
    apiserver/pkg/storage/cacher, GetList on a cache that is not ready; model.work.
    not_ready_cache_outcome). Up to 1.30 the cacher forwards a resourceVersion="0" LIST to etcd:
    the bundle moves to the group's twin flow, costed and queued for etcd as such
    (sim.bundles.routes_cold_to_etcd). From 1.31 (ResilientWatchCacheInitialization) a bundle
    with a LIST that is not paginated, or has a selector, is answered 429 ("storage is
    (re)initializing") and its client backs off; one whose LISTs are all paginated without
    selector is delegated to etcd through the twin flow."""
    cold = replicas.cold_replicas(state, params)  # (G, R, C)
    group_flow, cold_flow = params.group_flow, params.group_cold_flow
    per_replica = state.arrivals_per_replica
    landing = per_replica[group_flow] * cold  # (G, R, C)
    to_etcd = landing * params.group_cold_to_etcd[:, None, :]
    rejected = landing * params.group_cold_rejects[:, None, :]
    per_replica[group_flow] -= to_etcd + rejected
    per_replica[cold_flow] += to_etcd
    arrivals = state.arrivals
    arrivals[group_flow] -= (to_etcd + rejected).sum(axis=1)
    arrivals[cold_flow] += to_etcd.sum(axis=1)
    state.cold_rejected = rejected.sum(axis=1)  # (G, C)
    state.cold_rejected_total += state.cold_rejected.sum(axis=0)


def settle_informers(state: FleetState, params: SimParams, dt: float) -> None:
    """Step 6 (first part): the (re)lists answered this step, and those that failed: rejected
    (429), or abandoned — a client whose answer would come after its timeout (queue wait +
    service > CLIENT_TIMEOUT_S) gives up and retries; the server finishes the abandoned LIST
    all the same (wasted seats, CPU, memory)."""
    group_flow, cold_flow = params.group_flow, params.group_cold_flow
    twin = params.group_cold_twin  # (G, 1, 1): count a cold-cache twin flow's answers once
    completed = state.completed[group_flow] + (state.completed[cold_flow] if params.every_group_twinned
                                               else state.completed[cold_flow] * twin)
    failed = (state.rejected[group_flow] + state.rejected[cold_flow] * twin).sum(axis=1) if state.queueing else None
    if state.cold_rejected is not None:  # answered 429 by a cache that is not ready
        failed = state.cold_rejected if failed is None else failed + state.cold_rejected
    if state.slowed or state.has_abandoned:
        finish = state.finish_fraction[group_flow]
        abandoned_done = state.abandoned * finish
        state.abandoned -= abandoned_done
        completed -= abandoned_done
        if state.slowed:
            waited = np.minimum(state.queued[group_flow] / np.maximum(state.dispatched[group_flow], TINY) * dt,
                                C.APF_QUEUE_WAIT_LIMIT_S)
            gave_up = state.entering[group_flow] * (waited + state.service_now_s[group_flow] > C.CLIENT_TIMEOUT_S)
            if state.etcd.enabled:
                gave_up *= params.not_etcd_groups  # decided when etcd answers (sim/etcd.py)
            failed = gave_up.sum(axis=1) if failed is None else failed + gave_up.sum(axis=1)
            completed -= gave_up * finish
            state.abandoned += gave_up * state.carry_fraction[group_flow]
        np.maximum(completed, 0.0, out=completed)
        state.has_abandoned = bool(state.abandoned.max() > TINY)
    state.completed_by_group = completed
    state.failed = failed


def sync_informers(state: FleetState, params: SimParams, dt: float) -> None:
    """Step 6 (second part): answered informers are synced (they watch through the replica that
    answered); failed ones — and those whose request found no replica up — back off."""
    state.coredns_synced_before = state.synced_watches[params.coredns_group].sum(axis=0) \
        if state.coredns_without_copy_any else None
    state.synced_watches += state.completed_by_group
    failed = state.failed
    if state.lost is not None:
        lost = state.lost[params.group_flow]
        failed = lost if failed is None else failed + lost
    if failed is not None and failed.max() > 0.0:
        back_off(state, failed)


def back_off(state: FleetState, failed: np.ndarray) -> None:
    """``failed`` ``(G, C)`` (re)lists wait one back-off level longer than the attempt that
    failed (the level mix of this step's attempts; of the last step that had any, otherwise)."""
    released, sent = state.released, state.resending
    if sent.min() > TINY:
        state.last_backoff_mix = released / sent
    elif sent.max() > TINY:
        state.last_backoff_mix = np.where(sent > TINY, released / np.maximum(sent, TINY), state.last_backoff_mix)
    moved = state.last_backoff_mix * failed
    state.backoff[1:] += moved[:-1]
    state.backoff[-1] += moved[-1]
