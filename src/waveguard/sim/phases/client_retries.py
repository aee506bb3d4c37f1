"""Clients' retries of 429s and the Retry-After APF sends (issue 12), around APF dispatch.

* client-go's REST client (``staging/src/k8s.io/client-go/rest/with_retry.go``, 1.22–1.35;
  ``request.go`` before): a response with Retry-After (APF's 429s carry one) is retried after
  that many seconds, up to ``CLIENT_GO_MAX_RETRIES`` (10) times, then the caller sees the error.
  Every retry is a new request: it arrives, is dispatched or rejected again and is counted in
  ``apiserver_request_total{code="429"}`` / ``apiserver_flowcontrol_*_requests_total`` like any
  other. A retry also waits for a token of the client's rate limiter (its QPS:
  :func:`waveguard.sim.clients.client_rate_limit`), so retries never push a client past its QPS.
* A client without back-off (scenario ``change.retry: immediate``) re-sends after
  ``CLIENT_NO_BACKOFF_RETRY_S`` whatever Retry-After says, forever, and has no rate limiter.
* Retry-After: from 1.28 APF's ``droppedRequestsTracker`` (``flowcontrol/
  dropped_requests_tracker.go``) per priority level: 1 s, doubled (at most once per Retry-After
  seconds) when ≥ 3 × Retry-After requests were dropped in the last Retry-After seconds, up to
  32 s, lowered by 1 s a second when fewer than Retry-After were; before 1.28 always 1 s.
* Relists are not retried here: an informer's failed LIST goes back to its reflector's back-off
  (:mod:`waveguard.sim.phases.informers`).

Shapes: ``A`` attempts (``CLIENT_GO_MAX_RETRIES``), F flows, R replicas, C clusters, Lu levels.
"""

from __future__ import annotations

import numpy as np

from waveguard.model import constants as C
from waveguard.sim.params import SimParams
from waveguard.sim.phases.common import TINY, per_level
from waveguard.sim.state import FleetState

#: ``params.retry_policy`` codes.
NONE, CLIENT_GO, IMMEDIATE = 0, 1, 2


def release_retries(state: FleetState, params: SimParams, dt: float) -> np.ndarray | None:
    """Before dispatch: the rejected requests whose wait is over are re-sent, over the replicas
    up (a reconnect lands anywhere). Adds them to ``state.arrivals_per_replica``; returns the
    released requests ``(A, F, C)`` (None when nothing waits)."""
    if not state.retry_pending:
        return None
    waiting = state.retry_waiting
    wait_s = np.where((params.retry_policy == IMMEDIATE)[:, None], C.CLIENT_NO_BACKOFF_RETRY_S,
                      _cluster_retry_after(state, params)[params.flow_level_pos])  # (F, C)
    release = waiting * np.minimum(1.0, dt / np.maximum(wait_s, dt))[None]
    release = _within_rate_limit(state, params, release, dt)
    state.retry_waiting = waiting - release
    state.retry_pending = bool(state.retry_waiting.max() > TINY)
    sent = release.sum(axis=0)  # (F, C)
    state.arrivals_per_replica += sent[:, None, :] * state.replica_share[None]
    state.arrivals += sent  # each retry costs admission CPU like any request (replicas.memory_and_cpu)
    state.retries_sent += sent
    state.retries_any = True
    return release


def ensure_retry_state(state: FleetState, params: SimParams) -> None:
    """Allocate the retry buffers on first use: nothing waiting, Retry-After 1 s everywhere."""
    if state.retry_waiting.size:
        return
    n_flows, n_replicas, n_clusters = params.n_flows, params.n_replicas, params.n_clusters
    state.retry_waiting = np.zeros((C.CLIENT_GO_MAX_RETRIES, n_flows, n_clusters))
    state.retries_sent = np.zeros((n_flows, n_clusters))
    per_level_shape = (params.n_used_levels, n_replicas, n_clusters)
    state.retry_after_s = np.full(per_level_shape, C.APF_RETRY_AFTER_MIN_S)
    state.drops_window = np.zeros(per_level_shape)
    state.retry_after_changed_s = np.full(per_level_shape, -np.inf)


def _cluster_retry_after(state: FleetState, params: SimParams) -> np.ndarray:
    """``(Lu, C)`` Retry-After of each level, averaged over the replicas up."""
    up = state.up_float
    return (state.retry_after_s * up).sum(axis=1) / np.maximum(up.sum(axis=0), 1.0)


def _within_rate_limit(state: FleetState, params: SimParams, release: np.ndarray, dt: float) -> np.ndarray:
    """Scale released retries ``(A, F, C)`` so each flow's requests this step stay within its
    clients' QPS (new arrivals first); the rest keep waiting for a token."""
    room = np.maximum(params.qps_cap * dt - state.arrivals_per_replica.sum(axis=1), 0.0)  # (F, C)
    total = release.sum(axis=0)
    scale = np.where(total > room, room / np.maximum(total, TINY), 1.0)
    return release * scale[None]


def requeue_rejected(state: FleetState, params: SimParams, want: np.ndarray, released: np.ndarray | None,
                     dt: float) -> None:
    """After dispatch: this step's 429s of retrying flows wait to be re-sent, one attempt
    further (client-go gives up after CLIENT_GO_MAX_RETRIES; ``immediate`` never does); then
    each level's Retry-After is updated from its drops."""
    ensure_retry_state(state, params)
    rejected = state.rejected.sum(axis=1)  # (F, C)
    if rejected.max() > TINY:
        attempts = want.sum(axis=1)
        ratio = rejected / np.maximum(attempts, TINY)  # share of this step's attempts refused
        retrying = (params.retry_policy != NONE)[:, None]
        fresh = attempts - (released.sum(axis=0) if released is not None else 0.0)
        state.retry_waiting[0] += np.where(retrying, ratio * np.maximum(fresh, 0.0), 0.0)
        if released is not None:
            again = released * ratio[None]  # (A, F, C) refused again, by the attempt they were on
            shifted = np.zeros_like(again)
            shifted[1:] = again[:-1]  # one attempt further; the last attempt's give up
            immediate = params.retry_policy == IMMEDIATE
            shifted[:, immediate] = 0.0
            shifted[0, immediate] = again[:, immediate].sum(axis=0)  # a naive loop never gives up
            state.retry_waiting += shifted
        state.retry_pending = bool(state.retry_waiting.max() > TINY)
    track_retry_after(state, params, dt)


def track_retry_after(state: FleetState, params: SimParams, dt: float) -> None:
    """``droppedRequestsTracker`` per level and replica (module docstring); the clusters before
    1.28 keep 1 s."""
    dropped = per_level(params, state.rejected)  # (Lu, R, C)
    ra = state.retry_after_s
    window = state.drops_window
    window += dropped - window * np.minimum(1.0, dt / ra)
    raise_it = (state.time_s - state.retry_after_changed_s >= ra) & (window >= C.APF_RETRY_AFTER_DROPS_TO_DOUBLE * ra)
    lower = ~raise_it & (window < ra) & (ra > C.APF_RETRY_AFTER_MIN_S)
    new = np.where(raise_it, np.minimum(2.0 * ra, C.APF_RETRY_AFTER_MAX_S),
                   np.where(lower, np.maximum(ra - dt, C.APF_RETRY_AFTER_MIN_S), ra))
    state.retry_after_changed_s = np.where(raise_it, state.time_s, state.retry_after_changed_s)
    state.retry_after_s = np.where(params.dynamic_retry_after[None, None, :], new, C.APF_RETRY_AFTER_MIN_S)
    # keep tracking while Retry-After is raised or drops are remembered: it winds down even
    # when nothing is rejected any more
    state.retry_after_raised = bool((state.retry_after_s > C.APF_RETRY_AFTER_MIN_S).any() or window.max() > TINY)
