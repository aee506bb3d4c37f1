"""Latency: the p99 APF queue wait of each level and the p99 request latency of each scope, per
cluster (all replicas), as ``apiserver_flowcontrol_request_wait_duration_seconds`` and
``apiserver_request_duration_seconds`` report them.

Wait = the fluid backlog of the queue (queued / dispatch rate) + the random wait of an M/M/c
queue (c = the level's seats) at the level's utilisation ρ (:func:`mmc_p99_wait`), capped at
the APF wait limit (past it a request is rejected). Latency = wait + service time (the slowest
replica's, plus the etcd wait of a LIST served from etcd). A flow counts in its scope's p99
when it carries at least ``P99_SHARE`` of the scope's requests."""

from __future__ import annotations

import math

import numpy as np

from waveguard.model import constants as C
from waveguard.sim.params import SimParams
from waveguard.sim.phases.common import SLOW_EVERY, TINY
from waveguard.sim.state import FleetState

#: Share of a scope's traffic a flow needs to count in that scope's p99.
P99_SHARE = 0.01
#: ln(100): the p99 of an exponential wait is ln(100) × its mean.
LN100 = math.log(100.0)


def mmc_p99_wait(hold_s: np.ndarray, seats: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """p99 queueing delay (s) of an M/M/c queue with c = ``seats`` servers, mean holding time
    ``hold_s`` and utilisation ``rho`` (< 1): Sakasegawa's mean wait
    ρ^(√(2(c+1))−1) / (c (1−ρ)) × holding time, times ln(100) for the p99 of an exponential
    tail. Grows without bound as ρ → 1. Shapes broadcast. (ρ = 1 gives the factor
    holding time × ln(100) / c that the latency phase caches.)"""
    c = np.maximum(seats, 1.0)
    scale = hold_s * LN100 / c
    return scale if np.all(rho == 1.0) else scale * rho ** (np.sqrt(2.0 * (c + 1.0)) - 1.0) / (1.0 - rho)


def measure(state: FleetState, params: SimParams, dt: float, recorded: bool = True) -> None:
    """Per cluster: rejected and dispatched requests per level; on a ``recorded`` step also the
    seats in use and requests queued per level, the levels' p99 wait (``level_wait_s``
    ``(Lu, C)``) and the scopes' p99 latency (``scope_p99_s`` ``(S, C)``), which only recording
    reads. The slowly moving factors are refreshed on the same steps either way, so a recorded
    step's figures do not depend on which steps were recorded before it."""
    flows_per_level = params.flows_per_level
    # (F, R, C) → (F, C) → (Lu, C); what is queued only on a recorded step (a gauge).
    rejected = flows_per_level @ state.rejected.sum(axis=1) if state.queueing else params.zeros_by_level
    dispatched_by_flow = state.dispatched.sum(axis=1)
    state.rejected_by_level, state.dispatched_by_level = rejected, flows_per_level @ dispatched_by_flow
    if state.step_count % SLOW_EVERY == 1 or state.hold_s is None:
        _refresh_hold(state, params, dispatched_by_flow)
    if recorded:
        queued_by_flow = state.queued.sum(axis=1) if state.queueing else params.zeros_by_flow
        _p99(state, params, dt, queued_by_flow, dispatched_by_flow)


def _p99(state: FleetState, params: SimParams, dt: float, queued_by_flow: np.ndarray,
         dispatched_by_flow: np.ndarray) -> None:
    """Seats in use, requests queued, the levels' p99 wait and the scopes' p99 latency."""
    flows_per_level, dispatched = params.flows_per_level, state.dispatched_by_level
    used_by_cluster = state.used_seats.sum(axis=1)  # (Lu, C): all replicas
    inqueue = flows_per_level @ queued_by_flow if state.queueing else params.zeros_by_level
    rho = np.minimum(used_by_cluster / np.maximum(state.seats_up, TINY), 0.999)
    random_wait = state.mmc_scale * rho ** state.mmc_power / (1.0 - rho)  # = mmc_p99_wait(...)
    if state.queueing:
        level_wait = inqueue / np.maximum(dispatched, TINY) * dt + random_wait
        wait_by_level = np.minimum(level_wait, C.APF_QUEUE_WAIT_LIMIT_S)
    else:
        wait_by_level = np.minimum(random_wait, C.APF_QUEUE_WAIT_LIMIT_S)
    wait = random_wait[params.flow_level_pos]
    if state.queueing:
        wait = wait + queued_by_flow / np.maximum(dispatched_by_flow, TINY) * dt
    latency = np.minimum(wait, C.APF_QUEUE_WAIT_LIMIT_S) + state.latency_service_s  # (F, C)
    flow_scope = params.flow_scope
    per_scope = flow_scope.T @ dispatched_by_flow  # (scopes, C)
    significant = (dispatched_by_flow > TINY) & (dispatched_by_flow >= P99_SHARE * (flow_scope @ per_scope))
    state.scope_p99_s = (np.where(significant, latency, 0.0)[:, None, :] * flow_scope[:, :, None]).max(axis=0)
    state.level_wait_s = wait_by_level
    state.used_by_cluster, state.inqueue_by_level = used_by_cluster, inqueue


def _refresh_hold(state: FleetState, params: SimParams, dispatched_by_flow: np.ndarray) -> None:
    """The slowly moving factors (every SLOW_EVERY steps, and after a limit changed): service
    time per flow, mean seat holding time per level and the M/M/c factors."""
    seats_dispatched = dispatched_by_flow * params.seats[:, 0, :]  # (F, C)
    if state.service_max_s is None:  # kept until the service factors change (refresh_service)
        state.service_max_s = state.service_now_s.max(axis=1)
    state.latency_service_s = state.service_max_s
    if state.etcd.enabled:  # a LIST from etcd first waits for it
        state.latency_service_s = state.latency_service_s.copy()
        state.latency_service_s[params.etcd_flows] += state.etcd.time_s()
    flows_per_level = params.flows_per_level
    state.hold_s = (flows_per_level @ (seats_dispatched * state.latency_service_s)) / np.maximum(
        flows_per_level @ seats_dispatched, TINY)
    seats = np.maximum(state.seats_up, 1.0)
    state.mmc_scale = state.hold_s * LN100 / seats  # = mmc_p99_wait(hold_s, seats, 1.0): seats ≥ 1 already
    state.mmc_power = np.sqrt(2.0 * (seats + 1.0)) - 1.0
