"""409 Conflict on writes with optimistic concurrency, and client-go's retries of them (issue 12,
writes).

A client that changes an object it shares with other writers reads it, changes it and sends an
UPDATE carrying the resourceVersion it read; the apiserver answers 409 Conflict when the object
changed meanwhile (staging/src/k8s.io/apiserver/pkg/storage/etcd3/store.go ``GuaranteedUpdate``:
resourceVersion precondition, then the etcd transaction's ModRevision compare; 1.18–1.35), and
client-go's ``retry.RetryOnConflict(retry.DefaultRetry, …)`` reads and updates again 10 ms later,
at most ``RETRY_ON_CONFLICT_STEPS`` (5) attempts (util/retry/util.go).

Which writers share an object comes from the request profile only: an UPDATE class that names
one object (``RequestClass.object_name``) is sent by every writer of its flow to that object;
classes without a name update objects of their own and never conflict (the built-in kubelets'
Leases and Node statuses; PATCHes carry no precondition). Per step and cluster:

* the other writers' updates of the object: (writers − 1) × updates/s per writer (writers: the
  flow's sending instances, following the rollout share for the change);
* the window between an attempt's read and its update's check: the read and the update each
  take the flow's current service time (τ, as stretched by CPU and etcd's commit) and the update
  waits the flow's current queue wait (queued ÷ dispatched × step) — the latencies the simulator
  has;
* a conflict: another update lands in the window, p = 1 − exp(−rate × window)
  (:func:`waveguard.model.etcd.conflict_probability`); extra attempts and 409s per update
  (:func:`waveguard.model.etcd.retry_on_conflict`). Each extra attempt is one GET and one UPDATE
  more, sent within the step (10 ms apart) through the flow like any request; the 409s are
  counted in ``apiserver_request_total{code="409"}`` and the retries in
  ``waveguard_sim_client_retries_total``.
"""

from __future__ import annotations

import numpy as np

from waveguard.model.etcd import conflict_probability, retry_on_conflict
from waveguard.sim.flows import sending_share
from waveguard.sim.params import SimParams
from waveguard.sim.phases.client_retries import ensure_retry_state
from waveguard.sim.phases.common import TINY
from waveguard.sim.state import FleetState

#: Requests one extra attempt of RetryOnConflict sends: the read and the update.
REQUESTS_PER_ATTEMPT = 2.0


def retry_conflicts(state: FleetState, params: SimParams, dt: float) -> None:
    """After the arrivals of the step: the shared-object updates among them conflict and are
    retried (module docstring). Adds the retries to ``state.arrivals`` and
    ``state.arrivals_per_replica``; sets ``state.conflicts_409`` ``(C,)``."""
    flows = params.conflict_flows
    p = conflict_share_now(state, params, dt)  # (Fx, C)
    updates = state.arrivals[flows] * params.conflict_share  # (Fx, C) this step's first attempts
    extra, answered_409 = retry_on_conflict(p)
    retries = updates * extra * REQUESTS_PER_ATTEMPT
    state.arrivals[flows] += retries
    state.arrivals_per_replica[flows] += retries[:, None, :] * state.replica_share[None]
    ensure_retry_state(state, params)
    state.retries_sent[flows] += retries
    state.retries_any = True
    state.conflicts_409 = (updates * answered_409).sum(axis=0)


def conflict_share_now(state: FleetState, params: SimParams, dt: float) -> np.ndarray:
    """``(Fx, C)`` probability that one attempt of a shared-object update conflicts now."""
    flows = params.conflict_flows
    writers = params.conflict_writers
    if params.conflict_change.any():
        share = sending_share(state.rollout_share, params.conflict_leader_replicas, params.conflict_fixed)
        writers = np.where(params.conflict_change[:, None], writers * share, writers)
    others = np.maximum(writers - 1.0, 0.0) * params.conflict_rate  # updates/s by the other writers
    up = np.maximum(state.up_float.sum(axis=0), 1.0)
    service_s = (state.service_now_s[flows] * state.up_float[None]).sum(axis=1) / up  # (Fx, C)
    wait_s = state.queued[flows].sum(axis=1) / np.maximum(state.dispatched[flows].sum(axis=1), TINY) * dt \
        if state.queueing else 0.0
    return conflict_probability(others, 2.0 * service_s + wait_s)
