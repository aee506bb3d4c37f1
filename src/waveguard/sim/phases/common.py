"""Helpers several phases share: per-level sums, the service factors derived from τ, the
recorded limits, the lifted limits of the clusters before APF, the steady arrival rates."""

from __future__ import annotations

import numpy as np

from waveguard.sim.flows import EXEMPT_SEATS, sending_share
from waveguard.sim.params import SimParams
from waveguard.sim.state import FleetState

#: Below this a request count, seat count or share is zero (numerical guard, not physics).
TINY = 1e-12
#: Steps between updates of slowly moving figures (fan-out watchers, CoreDNS pod restarts,
#: the latency model's holding times).
SLOW_EVERY = 10


def per_level(params: SimParams, per_flow: np.ndarray) -> np.ndarray:
    """Sum ``(F, ...)`` over each used level's flows → ``(Lu, ...)`` (one matmul)."""
    return (params.flows_per_level @ per_flow.reshape(params.n_flows, -1)).reshape(
        (params.n_used_levels,) + per_flow.shape[1:])


def refresh_service(state: FleetState, params: SimParams, dt: float) -> None:
    """τ, completion and occupancy factors of every flow on every replica (τ stretched by the
    replica's CPU shortage: processor sharing of its cores), and what they make of the memory
    flows' requests counted whole (``state.memory_whole``)."""
    state.service_now_s = params.service_s + (state.cpu_stretch - 1.0) * params.cpu_s if state.slowed \
        else params.service_s
    if state.write_stall_any:  # etcd has no leader: writes and reads from etcd wait for one (sim/phases/etcd.py)
        state.stall_now_s = leader_wait_share(state, params) * state.write_stall_s
        state.service_now_s = state.service_now_s + state.stall_now_s
    steps_per_service = dt / state.service_now_s
    state.finish_fraction = np.minimum(1.0, steps_per_service)  # share of executing requests that finish in a step
    state.carry_fraction = 1.0 - state.finish_fraction  # share of a dispatched request left for later steps
    # Share of the step a request dispatched now executes.
    state.step_fraction = state.finish_fraction / steps_per_service
    state.busy_share = state.finish_fraction * state.step_fraction  # ... counting only those that finish in it
    state.seat_occupancy = params.seats * state.step_fraction + state.fanout_extra_seats  # seats per request this step
    etcd_flows = params.etcd_flows
    if len(etcd_flows):  # admitted requests that wait for etcd hold their seats the whole step
        state.seat_occupancy[etcd_flows] = params.seats[etcd_flows] + state.fanout_extra_seats[etcd_flows]
    state.memory_whole = _counted_whole(state, params)
    state.service_max_s = None  # the latency phase takes it again from service_now_s


def _counted_whole(state: FleetState, params: SimParams) -> np.ndarray:
    """``(M, R, C)`` share of each memory flow's entering requests that
    :func:`waveguard.sim.phases.replicas.held_list_memory` counts whole: the share that finishes
    within the step, or — for a flow read from etcd, whose responses arrive spread over the step —
    the time-averaged share (``busy_share``)."""
    whole = state.finish_fraction[params.memory_flows]
    if len(params.etcd_flows):  # etcd answers one range response after another: spread over the step
        averaged = state.busy_share[params.memory_flows]
        whole = averaged + (whole - averaged) * params.memory_flows_not_etcd
    return whole


def leader_wait_share(state: FleetState, params: SimParams) -> np.ndarray:
    """``(F, R, C)`` share of each flow's requests on each replica that wait for etcd's leader
    when it has none: writes (committed through raft), GETs with resourceVersion="" (a
    linearizable read: ReadIndex asks the leader), and GETs with resourceVersion="0" on a replica
    whose watch cache of their resource is filling (the cacher delegates them to storage:
    :func:`waveguard.sim.flows._gets_into`). Those wait for a leader, holding their seats, up to
    etcd's request timeout."""
    share = (params.mutating_share + params.leader_get_share)[:, None, :]
    if state.any_cold:
        cold = state.cache_fill_done_s[None, :, :] < params.cold_get_fill_s
        if params.any_json_fill:
            cold = cold | (state.cache_fill_done_json_s[None, :, :] < params.cold_get_fill_json_s)
        cold = cold & state.up[None, :, :]
        share = share + params.cold_get_share[:, None, :] * cold
    return share


def lift_legacy_limits(state: FleetState, params: SimParams) -> None:
    """Clusters before APF (< 1.20): their levels do not limit (max-in-flight admits)."""
    if params.max_in_flight.enabled:
        state.seat_limits[:, :, params.max_in_flight.cols] = EXEMPT_SEATS


def refresh_limits(state: FleetState, params: SimParams) -> None:
    """The recorded limits (``apiserver_flowcontrol_current_limit_seats``: seats of the replicas
    up, 0 for exempt levels and clusters before APF) and the seats the latency model queues on."""
    limit = (state.seat_limits * state.up).sum(axis=1)
    limit[params.unlimited_rows] = 0.0
    if params.max_in_flight.enabled:
        limit[:, params.max_in_flight.cols] = 0.0
    state.limit_record = limit
    state.seats_up = (state.used_seat_limits * state.up_float).sum(axis=1)  # (Lu, C): seats of the replicas up
    # (M, R, C): requests of each memory flow its level's seats admit at once (replicas.held_list_memory)
    state.memory_seat_bound = state.used_seat_limits[params.memory_flows_level_pos] / params.memory_flows_peak_seats
    state.hold_s = None  # refresh the cached M/M/c factors
    state.limits_changed = True


def update_rates(state: FleetState, params: SimParams, dt: float) -> None:
    """Steady requests per step: the baseline's, plus the change's at today's rollout share (a
    leader-only flow: one sender once any replica runs; a Deployment: all its replicas)."""
    share = state.rollout_share if params.change_per_node_only \
        else sending_share(state.rollout_share, params.change_rate_leader_replicas, params.change_rate_fixed)
    state.arrivals_per_step = (params.steady_rate + params.change_rate * share) * dt
