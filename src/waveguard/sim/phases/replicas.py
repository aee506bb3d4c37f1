"""Apiserver replicas: requests executing on their cores (CPU), their memory, OOM kills and
restarts, and recovery after the kubelet's crash-loop back-off, startup and watch-cache fill.

Requests complete at rate 1/τ; a replica's requests share its cores (goroutines), so when the
CPU they need exceeds the cores τ stretches by processor sharing. Memory is the baseline plus
the live LIST responses × Go's GC growth (``GO_HEAP_GROWTH_FACTOR``); above the container's
limit the replica is OOM-killed (constants: :mod:`waveguard.model.constants`)."""

from __future__ import annotations

import numpy as np

from waveguard.model import constants as C
from waveguard.sim.params import SimParams
from waveguard.sim.phases.common import lift_legacy_limits, refresh_limits, refresh_service
from waveguard.sim.state import FleetState

#: Utilisation above which a burst of heavy requests stretches τ within its step.
BURST_MARGIN = 1.05


def recover(state: FleetState, params: SimParams, dt: float) -> None:
    """Replicas whose down time is over serve again (with nominal APF limits)."""
    if not state.any_down:
        return
    back = ~state.up & params.replica_exists & (state.down_until <= state.time_s + 1e-9)
    if back.any():
        state.up |= back
        state.up_float = state.up.astype(np.float64)
        state.up_since = np.where(back, state.time_s, state.up_since)
        refresh_limits(state, params)
    state.any_down = bool((params.replica_exists & ~state.up).any())


def complete(state: FleetState, params: SimParams, dt: float) -> None:
    """Step 3: executing requests complete at rate 1/τ (τ as stretched by the CPU shortage)."""
    if state.slowed:
        refresh_service(state, params, dt)
    completed = state.executing * state.finish_fraction
    state.executing -= completed
    state.completed = completed


def start_executing(state: FleetState, params: SimParams, dt: float) -> None:
    """After dispatch (and etcd): the requests entering the apiserver phase execute; those done
    within the step count as completed. A burst of heavy requests the step's CPU cannot hold
    stretches τ now, not a step late, so they execute — and hold their memory — together."""
    entering = state.entering
    if not state.slowed and len(params.heavy_flows):
        _absorb_burst(state, params, dt)
    carry = entering * state.carry_fraction
    state.executing += carry
    if state.rollback_active is not None:
        state.rollback_active.execute(state.executing, state.service_now_s)
    state.completed += entering
    state.completed -= carry


def _absorb_burst(state: FleetState, params: SimParams, dt: float) -> None:
    heavy = params.heavy_flows
    burst = state.cpu_utilisation + (state.entering[heavy] * params.cpu_s[heavy]).sum(axis=0) / (params.cores * dt)
    if burst.max() > BURST_MARGIN:
        state.cpu_stretch = np.maximum(burst, 1.0)
        state.slowed = True
        refresh_service(state, params, dt)


def memory_and_cpu(state: FleetState, params: SimParams, dt: float) -> None:
    """Step 7: resident memory (baseline + live LIST responses × GC growth; bytes) and CPU
    utilisation (executing requests, admission of every arriving request — even a 429 — and
    watch-event fan-out, over the cores) of every replica."""
    busy = state.entering * state.busy_share  # dispatched this step and done within it, time-averaged
    busy += state.executing
    memory = (busy[params.group_flow] * params.group_memory_per_request).sum(axis=0)  # LIST responses
    memory += params.baseline_memory_bytes
    memory *= state.up_float
    cpu = (busy * params.cpu_per_executing).sum(axis=0)
    cpu += (state.arrivals.sum(axis=0) * (C.REQUEST_ADMISSION_CPU_S / dt)) * state.replica_share
    cpu += state.fanout_cpu
    cpu /= params.cores
    state.busy, state.memory, state.cpu_utilisation = busy, memory, cpu
    was_slowed = state.slowed
    state.slowed = bool(cpu.max() > 1.0)
    if state.slowed:
        state.cpu_stretch = np.maximum(cpu, 1.0)
    elif was_slowed:
        state.cpu_stretch = np.ones_like(cpu)
        refresh_service(state, params, dt)


def update_fanout_cpu(state: FleetState, params: SimParams, dt: float) -> None:
    """CPU cores each replica spends delivering watch events to its synced watchers."""
    state.fanout_cpu = (state.synced_watches * params.deliveries).sum(axis=0) * C.WATCH_EVENT_CPU_S


def oom_kill(state: FleetState, params: SimParams, dt: float) -> None:
    """Replicas over their memory limit are OOM-killed (:func:`crash`)."""
    oom = state.memory > params.memory_limit_bytes
    if oom.any():
        for r, c in zip(*np.nonzero(oom), strict=True):
            crash(state, params, int(c), int(r), oom=True)


def crash(state: FleetState, params: SimParams, c: int, r: int, oom: bool) -> None:
    """Replica ``r`` of cluster ``c`` goes down: its requests fail, its watches break (their
    clients relist after their first back-off), its memory and APF state are lost. It returns
    after startup and watch-cache fill; an OOM kill also waits the kubelet's crash-loop back-off
    (10 s doubling to 5 min, reset after 10 min up: CRASHLOOP_BACKOFF_*)."""
    group_flow = params.group_flow
    # Clients waiting on it (queued, executing — not those that already gave up) and those
    # whose watch ran through it relist after their first back-off.
    state.backoff[1, :, c] += state.queued[group_flow, r, c] + state.executing[group_flow, r, c] \
        - state.abandoned[:, r, c] + state.synced_watches[:, r, c]
    if state.etcd.enabled:  # those waiting for etcd through it fail too
        lost = state.etcd.drop(r, c)
        for e, g in params.etcd_groups:
            state.backoff[1, g, c] += lost[e]
        state.awaiting_etcd[:, r, c] = 0.0
    state.synced_watches[:, r, c] = 0.0
    state.queued[:, r, c] = 0.0  # (its queue is gone: queueing may stay True, harmless)
    state.rejected[:, r, c] = 0.0
    state.dispatched[:, r, c] = 0.0
    state.executing[:, r, c] = 0.0
    state.abandoned[:, r, c] = 0.0
    state.seat_limits[:, r, c] = params.nominal_seats[:, 0, c]
    lift_legacy_limits(state, params)
    state.used_seat_limits[:, r, c] = state.seat_limits[params.used_levels, r, c]
    state.demand_high_watermark[:, r, c] = state.used_demand_high_watermark[:, r, c] = 0.0
    state.smoothed_demand[:, r, c] = 0.0
    state.up[r, c] = False
    state.up_float[r, c] = 0.0
    state.any_down = True
    delay = C.APISERVER_STARTUP_S + params.watch_cache_fill_s[c]
    if oom:
        state.oom_kills[c] += 1
        if state.time_s - state.up_since[r, c] >= C.CRASHLOOP_BACKOFF_RESET_S:
            state.crash_count[r, c] = 0
        delay += min(C.CRASHLOOP_BACKOFF_MAX_S, C.CRASHLOOP_BACKOFF_INITIAL_S * 2.0 ** state.crash_count[r, c])
        state.crash_count[r, c] += 1
    state.down_until[r, c] = state.time_s + delay
    refresh_limits(state, params)
