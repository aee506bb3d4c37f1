"""etcd: the admitted requests of the flows served from etcd (a LIST with
``resourceVersion=""`` before 1.31, or paginated) wait for the cluster's shared etcd, holding
their seats, before their apiserver phase (:class:`waveguard.sim.etcd.EtcdPhase` keeps the
cohorts and the throughput model); informers whose LIST from etcd was cancelled or answered too
late fail."""

from __future__ import annotations

import numpy as np

from waveguard.model import constants as C
from waveguard.sim.params import SimParams
from waveguard.sim.phases.common import TINY
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
    out = state.etcd.advance(state.time_s, state.service_now_s[etcd_flows], state.cpu_stretch)
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
    for e, g in params.etcd_groups:
        lost = late[e].sum(axis=0) + cancelled[e].sum(axis=0)
        if lost.max() <= TINY:
            continue
        f = params.etcd_flows[e]  # the group's relist flow (or its cold-cache twin)
        completed[g] -= late[e] * state.finish_fraction[f]
        np.maximum(completed[g], 0.0, out=completed[g])
        state.abandoned[g] += late[e] * state.carry_fraction[f]
        state.has_abandoned = state.has_abandoned or bool(late[e].max() > TINY)
        if failed is None:
            failed = np.zeros((len(params.group_flow), params.n_clusters))
        failed[g] += lost
    state.failed = failed
