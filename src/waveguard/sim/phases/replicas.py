"""Apiserver replicas: requests executing on their cores (CPU), their memory, OOM kills and
restarts, and recovery after the kubelet's crash-loop back-off, startup and watch-cache fill.

Requests complete at rate 1/τ; a replica's requests share its cores (goroutines), so when the
CPU they need exceeds the cores τ stretches by processor sharing. Memory is the baseline plus
the live LIST responses × Go's GC growth (``GO_HEAP_GROWTH_FACTOR``) plus the receive buffers of
the LISTs waiting for etcd (once); above the container's
limit the replica is OOM-killed (constants: :mod:`waveguard.model.constants`)."""

from __future__ import annotations

import numpy as np

from waveguard.model import constants as C
from waveguard.model.etcd import cache_fill_speed
from waveguard.sim.params import SimParams
from waveguard.sim.phases.common import TINY, lift_legacy_limits, refresh_limits, refresh_service
from waveguard.sim.state import FleetState

#: Utilisation above which a burst of heavy requests stretches τ within its step.
BURST_MARGIN = 1.05


def recover(state: FleetState, params: SimParams, dt: float) -> None:
    """Replicas whose down time is over serve again (with nominal APF limits) while their watch
    caches fill (``cache_fill_done_s``; :func:`waveguard.sim.phases.informers.route_cold`); the
    caches fill at the share of etcd each range read gets now (:func:`fill_caches`)."""
    if state.any_cold:
        fill_caches(state, params, dt)
        if not cold_replicas(state, params).any():
            state.any_cold = False
    if not state.any_down:
        return
    back = ~state.up & params.replica_exists & (state.down_until <= state.time_s + 1e-9)
    if back.any():
        state.up |= back
        state.up_float = state.up.astype(np.float64)
        state.up_since = np.where(back, state.time_s, state.up_since)
        state.cache_filling_since = np.where(back, state.time_s, state.cache_filling_since)
        state.cache_fill_done_s = np.where(back, 0.0, state.cache_fill_done_s)
        state.cache_fill_done_json_s = np.where(back, 0.0, state.cache_fill_done_json_s)
        state.any_cold = True
        refresh_limits(state, params)
    state.any_down = bool((params.replica_exists & ~state.up).any())


def fill_caches(state: FleetState, params: SimParams, dt: float) -> None:
    """The watch caches of the replicas that are up fill for ``dt`` at the speed their reads of
    etcd get now (:func:`waveguard.model.etcd.cache_fill_speed`: the share of etcd each range
    read gets on that replica, 0 while etcd has no leader, and its CPU stretch). The share is
    the etcd phase's of the last step; the fill's own range is not counted among the readers.
    Built-in resources (protobuf in etcd) and custom resources (JSON: as many bytes as served,
    decoded at the JSON rate) fill on two clocks, each at its own speed."""
    if state.etcd.enabled:
        share = state.etcd.rate * state.etcd.serving[None, :]
    else:
        share = C.ETCD_RANGE_BYTES_PER_S / state.cpu_stretch
    speed = cache_fill_speed(share, state.cpu_stretch)
    state.cache_fill_done_s = state.cache_fill_done_s + dt * speed * state.up_float
    if params.any_json_fill:
        speed = cache_fill_speed(share, state.cpu_stretch, 1.0, C.ETCD_JSON_DECODE_S_PER_BYTE)
        state.cache_fill_done_json_s = state.cache_fill_done_json_s + dt * speed * state.up_float


def cold_replicas(state: FleetState, params: SimParams) -> np.ndarray:
    """``(G, R, C)`` bool: replica r of cluster c is up and its watch caches of group g's start
    LISTs are still filling (less than ``group_cache_fill_s`` of fill done since it came back, or,
    for its custom resources, less than ``group_cache_fill_json_s`` on their clock)."""
    cold = state.cache_fill_done_s[None, :, :] < params.group_cache_fill_s[:, None, :]
    if params.any_json_fill:
        cold = cold | (state.cache_fill_done_json_s[None, :, :] < params.group_cache_fill_json_s[:, None, :])
    return cold & state.up[None, :, :]


def complete(state: FleetState, params: SimParams, dt: float) -> None:
    """Step 3: executing requests complete at rate 1/τ (τ as stretched by the CPU shortage)."""
    if state.slowed:
        refresh_service(state, params, dt)
    if not state.executing_any:  # nothing has ever carried over a step: nothing completes now
        state.completed = params.zeros_by_flow_replica
        return
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
    if state.executing_any or carry.any():  # (adding 0 to the zeros that execute leaves them)
        state.executing += carry
        state.executing_any = True
    if state.rollback_active is not None:
        state.rollback_active.execute(state.executing, state.service_now_s,
                                     state.etcd_down_until > state.time_s)  # etcd has no leader
        state.executing_any = True
    if state.completed is params.zeros_by_flow_replica:  # (0 + entering) − carry
        state.completed = entering - carry
    else:
        state.completed += entering
        state.completed -= carry


def _absorb_burst(state: FleetState, params: SimParams, dt: float) -> None:
    # The heavy flows' CPU, summed over every flow with the light ones' CPU at 0 (``heavy_cpu_s``):
    # the same sum in the same order as over the heavy flows alone, without gathering them.
    burst = state.cpu_utilisation + _flow_sum(state.entering, params.heavy_cpu_s) / (params.cores * dt)
    if burst.max() > BURST_MARGIN:
        state.cpu_stretch = np.maximum(burst, 1.0)
        state.slowed = True
        refresh_service(state, params, dt)


def memory_and_cpu(state: FleetState, params: SimParams, dt: float) -> None:
    """Step 7: resident memory (baseline + live LIST responses × GC growth; bytes) and CPU
    utilisation (executing requests, admission of every arriving request — even a 429 — and
    watch-event fan-out, over the cores) of every replica."""
    busy = state.entering * state.busy_share  # dispatched this step and done within it, time-averaged
    if state.executing_any:
        busy += state.executing
    memory = held_list_memory(state, params)  # LIST responses
    memory += params.baseline_memory_bytes
    memory *= state.up_float
    cpu = _flow_sum(busy, _cpu_per_executing(state, params))
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


def _cpu_per_executing(state: FleetState, params: SimParams) -> np.ndarray:
    """CPU cores one executing request of each flow wants (``cpu / τ``), except the part of its
    time spent waiting for etcd to elect a leader (``stall_now_s``: writes and reads from etcd),
    which wants none: those requests are parked on etcd's client, not running."""
    if not state.write_stall_any:
        return params.cpu_per_executing
    stalled = params.cpu_per_executing * (1.0 - state.stall_now_s / np.maximum(state.service_now_s, TINY))
    return np.broadcast_to(stalled, params.cpu_per_executing.shape)  # (F, R, C), as the sum with busy needs


def held_list_memory(state: FleetState, params: SimParams) -> np.ndarray:
    """``(R, C)`` bytes the (re)list responses in flight hold at their peak in this step, as the
    projection counts a storm's (``model.cost._peak_memory_bytes``): memory is a peak, not an
    average, so a request dispatched and done within the step counts whole — but no more of a
    flow at once than its level's seats admit (seat limit / the seats a bundle's LISTs hold
    together: APF bounds the concurrency, however many it serves one after another in the step).
    LISTs read from etcd enter as etcd answers them, one range response after another at its
    throughput, spread over the step: they count time-averaged (the projection's Little's law for
    them, ``model.cost._class_concurrency``); while they wait for etcd they hold their seats and
    the part of their range responses that has arrived (``EtcdPhase.received``: grpc-go
    allocates each response at its header, but the pages become resident as etcd's bytes are
    written into them, :func:`waveguard.model.etcd.receive_buffer_resident_bytes`) — once: filling
    them makes no garbage for Go's heap growth to multiply — within the same seat bound. The
    flows: every group's relist flow and its twin for a cold watch cache (``params.memory_flows``)."""
    flows = params.memory_flows
    held = state.entering[flows] * state.memory_whole
    if state.executing_any:
        held += state.executing[flows]
    admitted = state.memory_seat_bound  # refreshed with the limits (common.refresh_limits)
    if not (params.memory_flows_wait_any and state.etcd_busy):  # nothing waits for etcd
        np.minimum(held, admitted, out=held)
        return _flow_sum(held, params.memory_flows_per_request)
    waiting = state.awaiting_etcd[flows]
    within = np.minimum(1.0, admitted / np.maximum(held + waiting, TINY))  # the level's seats bound both
    received = state.etcd.received[params.memory_flows_etcd_row] * (1.0 - params.memory_flows_not_etcd)
    # resident once: filling it makes no garbage (see model.etcd.receive_buffer_resident_bytes)
    return ((held * params.memory_flows_per_request + received) * within).sum(axis=0)


def _flow_sum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(a * b).sum(axis=0)`` of two ``(F, R, C)`` arrays → ``(R, C)``, in one call (the same
    sums, in the same order, without the product's temporary array)."""
    return np.einsum("frc,frc->rc", a, b)


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
    """Replica ``r`` of cluster ``c`` goes down: its requests fail, its watches break, its
    memory and APF state are lost. It serves again after startup (APISERVER_STARTUP_S) while
    its watch caches fill; an OOM kill also waits the kubelet's crash-loop back-off (10 s
    doubling to 5 min, reset after 10 min up: CRASHLOOP_BACKOFF_*).

    Its (re)lists in flight fail: their clients relist after their first back-off. An informer's
    broken watch is re-established from its last resourceVersion without a LIST (client-go
    tools/cache/reflector.go ``watch``: a watch that ends is re-sent; a connection refused or a
    429 is retried after back-off) on the replicas that are up with ready caches; with none, it
    relists after back-off (the replica that comes back has a new cache that no longer holds
    that resourceVersion: 410 Gone, then a relist)."""
    group_flow, cold_flow, twin = params.group_flow, params.group_cold_flow, params.group_cold_twin[:, 0, 0]
    in_flight = state.queued[group_flow, r, c] + state.executing[group_flow, r, c] \
        + (state.queued[cold_flow, r, c] + state.executing[cold_flow, r, c]) * twin
    state.backoff[1, :, c] += in_flight - state.abandoned[:, r, c]
    _rewatch(state, params, c, r)
    if state.etcd.enabled:  # those waiting for etcd through it fail too
        lost = state.etcd.drop(r, c)
        for e, g in params.etcd_groups:
            state.backoff[1, g, c] += lost[e]
        state.awaiting_etcd[:, r, c] = 0.0
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
    delay = C.APISERVER_STARTUP_S
    if oom:
        state.oom_kills[c] += 1
        if state.time_s - state.up_since[r, c] >= C.CRASHLOOP_BACKOFF_RESET_S:
            state.crash_count[r, c] = 0
        delay += min(C.CRASHLOOP_BACKOFF_MAX_S, C.CRASHLOOP_BACKOFF_INITIAL_S * 2.0 ** state.crash_count[r, c])
        state.crash_count[r, c] += 1
    state.down_until[r, c] = state.time_s + delay
    refresh_limits(state, params)


def _rewatch(state: FleetState, params: SimParams, c: int, r: int) -> None:
    """The informers' watches through replica ``r`` of cluster ``c`` move, group by group, to the
    other replicas that are up with that group's caches ready (spread evenly), or — with none —
    relist after their first back-off. Clients that are not client-go informers relist in any
    case."""
    state.backoff[1, :, c] += state.synced_watches[:, r, c] * (1.0 - params.group_rewatches)
    watches = state.synced_watches[:, r, c] * params.group_rewatches  # (G,)
    state.synced_watches[:, r, c] = 0.0
    others = state.up[:, c].copy()
    others[r] = False
    ready = np.broadcast_to(others, (len(watches), len(others)))  # (G, R)
    if state.any_cold:
        ready = ready & ~cold_replicas(state, params)[:, :, c]
    targets = ready.sum(axis=1)  # (G,)
    moved = np.where(targets > 0, watches, 0.0)
    state.synced_watches[:, :, c] += ready * (moved / np.maximum(targets, 1))[:, None]
    state.rewatches[c] += moved.sum()
    state.backoff[1, :, c] += watches - moved
