"""Build a run: the static parameters (:class:`SimParams`) from the fleet, the APF
configuration and the compiled flows, and the state at time 0 (:class:`FleetState`)."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from waveguard.model import constants as C
from waveguard.model import etcd as etcd_model
from waveguard.model.apf import APFConfig
from waveguard.model.cost import baseline_memory_bytes
from waveguard.model.fleet import Cluster
from waveguard.model.storage import cache_fill_s_by_storage, watch_cache_fill_s_of
from waveguard.sim.clients import CrashLoop, SimClient, client_rate_limit
from waveguard.sim.dns import DNSCaches
from waveguard.sim.etcd import EtcdPhase, etcd_flows
from waveguard.sim.flows import EXEMPT_SEATS, SCOPES, FlowTable, GroupTable, baseline_pod_watchers, sending_share
from waveguard.sim.maxinflight import MaxInFlight
from waveguard.sim.noise import Noise
from waveguard.sim.params import SimParams
from waveguard.sim.phases.apf_dispatch import update_fanout_seats
from waveguard.sim.phases.client_retries import ensure_retry_state
from waveguard.sim.phases.etcd import init_etcd_state
from waveguard.sim.phases.common import lift_legacy_limits, refresh_limits, refresh_service, update_rates
from waveguard.sim.phases.replicas import update_fanout_cpu
from waveguard.sim.rollback import RollbackDriver
from waveguard.sim.state import FleetState

#: Client back-off levels: 0 = send now, then 0.8, 1.6, ... 30 s (client-go reflector).
BACKOFF_DELAYS_S = tuple(
    min(C.CLIENT_BACKOFF_MAX_S, C.CLIENT_BACKOFF_INITIAL_S * C.CLIENT_BACKOFF_FACTOR ** k) for k in range(7)
)
#: K: back-off levels including "send now".
BACKOFF_LEVELS = len(BACKOFF_DELAYS_S) + 1
#: A request is heavy when it needs at least this share of a core-step (bursts of lighter ones
#: are taken up at the step's end, one step late, at no visible error).
HEAVY_CPU_SHARE = 0.1


def apiserver_cores(cluster: Cluster) -> float:
    """CPU cores of one apiserver replica of ``cluster``: the fleet's ``apiserver_cpu_cores``,
    else memory limit / bytes per core."""
    if cluster.apiserver_cpu_cores is not None:
        return float(cluster.apiserver_cpu_cores)
    return cluster.memory_limit_bytes / C.APISERVER_MEMORY_BYTES_PER_CORE


def watch_cache_fill_s(cluster: Cluster) -> float:
    """Seconds a restarted apiserver spends filling its watch caches from etcd, one resource
    after another (the resources :func:`waveguard.model.work.watch_cache_bytes` counts; each from
    :func:`waveguard.model.storage.watch_cache_fill_s_of`)."""
    resources = C.OBJECT_BYTES.keys() | cluster.object_bytes.keys()
    return sum(watch_cache_fill_s_of(resource, cluster) for resource in sorted(resources))


def release_fractions(backoff: bool, dt: float) -> np.ndarray:
    """Share ``(K,)`` of each back-off level's waiting clients that re-send in one step (a wait
    of d with jitter 1.0 lasts 1.5 d on average; without back-off every retry waits ~1 s)."""
    jitter_mean = 1.0 + C.CLIENT_BACKOFF_JITTER / 2
    delays = [0.0] + [d * jitter_mean if backoff else C.CLIENT_NO_BACKOFF_RETRY_S for d in BACKOFF_DELAYS_S]
    return np.array([1.0 if d == 0 else 1.0 - math.exp(-dt / d) for d in delays])


def _steady_flow(clients: Sequence[SimClient], flows: FlowTable, role: str) -> int | None:
    for f, (ci, relist) in enumerate(zip(flows.client, flows.relist, strict=True)):
        if clients[ci].role == role and not relist:
            return f
    return None


def _levels(apf: APFConfig, clusters: list[Cluster]) -> dict:
    """Per-level seat figures of every cluster's apiservers, ``(L, 1, C)`` (``server_seats``
    ``(1, C)``): nominal seats from the cluster's server concurrency limit
    (``Cluster.server_seats``: --max-requests-inflight + --max-mutating-requests-inflight)."""
    levels = apf.levels
    limited = np.array([not lv.exempt for lv in levels])
    columns = [_level_seats(apf, cluster.server_seats) for cluster in clusters]
    stack = {key: np.stack([col[key] for col in columns], axis=-1)[:, None, :] for key in columns[0]}
    return dict(level_names=[lv.name for lv in levels], limited=limited, nominal_seats=stack["nominal"],
                min_seats=stack["min"], max_seats=stack["max"], server_seats=stack["server"][0])


def _level_seats(apf: APFConfig, server_seats: int) -> dict[str, np.ndarray]:
    """(L,) nominal, lower and upper borrowing bounds of one server; ``server``: (1,) Σ nominal."""
    levels = apf.levels
    nominal = apf.nominal_seats(server_seats)
    limited = np.array([not lv.exempt for lv in levels])
    nominal_seats = np.array([EXEMPT_SEATS if lv.exempt else nominal[lv.name] for lv in levels], dtype=np.float64)
    lend = np.array([0 if lv.exempt else round(nominal[lv.name] * lv.lendable_percent / 100) for lv in levels])
    server = float(sum(nominal[lv.name] for lv in levels if not lv.exempt))
    upper = np.array([EXEMPT_SEATS if lv.exempt else server if lv.borrowing_limit_percent is None
                      else nominal[lv.name] * (1 + lv.borrowing_limit_percent / 100) for lv in levels])
    return {"nominal": nominal_seats, "min": np.where(limited, nominal_seats - lend, EXEMPT_SEATS),
            "max": upper.astype(np.float64), "server": np.array([server])}


def _per_flow(clusters: list[Cluster], flows: FlowTable, limited: np.ndarray, dt: float) -> dict:
    """The flow tables broadcast to ``(F, R, C)`` once, and the flow-level one-hot."""
    n_replicas, n_flows = max(c.replicas for c in clusters), len(flows.names)
    full = (n_flows, n_replicas, len(clusters))

    def per_replica(x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.broadcast_to(x.T[:, None, :], full))

    used = flows.used_levels
    flows_per_level = np.zeros((len(used), n_flows))
    flows_per_level[flows.level_pos, np.arange(n_flows)] = 1.0
    seats = per_replica(flows.seats)
    # Before APF (< 1.20) every request holds max-in-flight slots instead of seats.
    legacy = MaxInFlight(clusters, flows.mutating, exempt=~limited[flows.level])
    if legacy.enabled:
        seats = seats.copy()  # (a broadcast view when there is one replica)
        seats[:, :, legacy.cols] = flows.legacy_seats.T[:, None, legacy.cols]
    return dict(
        n_replicas=n_replicas, n_flows=n_flows, used_levels=used, n_used_levels=len(used),
        used_level_rows=slice(int(used[0]), int(used[-1]) + 1) if np.all(np.diff(used) == 1) else used,
        flow_level_pos=flows.level_pos, flows_per_level=flows_per_level,
        steady_rate=np.where(flows.is_change, 0.0, flows.rate).T.copy(),  # (F, C)
        change_rate=np.where(flows.is_change, flows.rate, 0.0).T.copy(),
        service_s=per_replica(flows.tau), cpu_s=per_replica(flows.cpu), seats=seats, max_in_flight=legacy,
        heavy_flows=np.flatnonzero(flows.cpu.max(axis=0) >= HEAVY_CPU_SHARE * dt),
        heavy_cpu_s=per_replica(np.where(flows.cpu.max(axis=0) >= HEAVY_CPU_SHARE * dt, flows.cpu, 0.0)),
        memory_per_request=per_replica(flows.mem * C.GO_HEAP_GROWTH_FACTOR),
        cpu_per_executing=per_replica(flows.cpu / flows.tau), pod_write_share=flows.pod_write_frac.T.copy(),
        queue_capacity=np.ascontiguousarray(np.broadcast_to(flows.qcap[:, None, None], full)),
        flow_scope=np.eye(len(SCOPES))[flows.scope],  # (F, scopes)
    )


def build_params(clusters: list[Cluster], clients: Sequence[SimClient], flows: FlowTable, groups: GroupTable,
                 apf: APFConfig, dt: float, dns_mode: str, crashloop: CrashLoop | None = None) -> SimParams:
    """The static parameters of a run (see :class:`SimParams`); ``crashloop``: the crash-looping
    DaemonSet whose Events the kubelets write (None: none)."""
    levels = _levels(apf, clusters)
    per_flow = _per_flow(clusters, flows, levels["limited"], dt)
    n_replicas = per_flow["n_replicas"]
    nodes = np.array([c.nodes for c in clusters], dtype=np.float64)
    from_etcd = etcd_flows(flows.etcd_bytes)
    group_flow = groups.flow
    coredns_group = [clients[i].role for i in groups.client].index("coredns")
    change_groups = np.flatnonzero(groups.is_change)
    return SimParams(
        step_s=dt, n_clusters=len(clusters), dns_mode=dns_mode, **levels, **per_flow,
        replica_exists=np.array([[r < c.replicas for c in clusters] for r in range(n_replicas)]),  # (R, C)
        memory_limit_bytes=np.array([c.memory_limit_bytes for c in clusters], dtype=np.float64),
        baseline_memory_bytes=np.array([c.apiserver_baseline_memory_bytes or baseline_memory_bytes(c)
                                        for c in clusters], dtype=np.float64),
        cores=np.array([apiserver_cores(c) for c in clusters], dtype=np.float64),
        borrows=np.array([c.version_tuple >= C.APF_BORROWING_SINCE for c in clusters]),
        watch_cache_fill_s=np.array([watch_cache_fill_s(c) for c in clusters], dtype=np.float64),
        baseline_pod_watchers=np.array([baseline_pod_watchers(c) for c in clusters], dtype=np.float64),
        nodes=nodes, dns_lookups_per_step=nodes * (C.DNS_LOOKUPS_TO_COREDNS_PER_NODE_PER_S * dt),
        wait_limit_steps=C.APF_QUEUE_WAIT_LIMIT_S / dt, wait_limit_fraction=min(1.0, dt / C.APF_QUEUE_WAIT_LIMIT_S),
        etcd_flows=from_etcd, etcd_change_rows=flows.is_change[from_etcd],
        etcd_groups=[(e, int(g)) for e, f in enumerate(from_etcd)
                     for g in np.flatnonzero((group_flow == f) | (_cold(groups) == f))],
        not_etcd_groups=(~np.isin(group_flow, from_etcd)).astype(np.float64)[:, None, None],  # (G, 1, 1)
        group_flow=group_flow, group_memory_per_request=per_flow["memory_per_request"][group_flow].copy(),
        release_fraction=np.array([release_fractions(bool(b), dt) for b in groups.backoff]).T[:, :, None].copy(),
        deliveries=groups.deliveries.T[:, None, :].copy(),  # (G, 1, C)
        coredns_group=coredns_group, coredns_instances=groups.instances[:, coredns_group].copy(),
        coredns_query_flow=_steady_flow(clients, flows, "coredns") if dns_mode == "api_per_answer" else None,
        workload_flow=_steady_flow(clients, flows, "workloads"),
        change_groups=change_groups, change_instances=groups.instances[:, change_groups].T.copy(),  # (Gc, C)
        change_pod_watchers=groups.pod_watchers[:, change_groups].T[:, None, :].copy(),  # (Gc, 1, C)
        change_per_node=any(clients[i].profile.per_node for i in groups.client[change_groups]),
        change_rate_leader_replicas=np.where(flows.is_change, flows.leader_replicas, 0.0).T.copy(),
        change_group_leader_replicas=groups.leader_replicas[:, change_groups].T.copy(),
        change_rate_fixed=(flows.fixed & flows.is_change)[:, None], change_group_fixed=groups.fixed[change_groups, None],
        zeros_by_cluster=_read_only_zeros(len(clusters)),
        zeros_by_flow=_read_only_zeros((per_flow["n_flows"], len(clusters))),
        zeros_by_level=_read_only_zeros((per_flow["n_used_levels"], len(clusters))),
        **_read_path(clusters, clients, flows, groups, per_flow["memory_per_request"]),
        **_conflicts(flows),
        queue_weight=_queue_weights(apf, flows),
        **_clients_and_etcd(clusters, clients, flows, crashloop),
    )


def _read_path(clusters: list[Cluster], clients: Sequence[SimClient], flows: FlowTable, groups: GroupTable,
               memory_per_request: np.ndarray) -> dict:
    """issue 12: the cold-cache flows and fill times of each group (model.work)."""
    cold = groups.cold_flow if groups.cold_flow is not None else groups.flow
    rejects = groups.cold_rejects if groups.cold_rejects is not None \
        else np.zeros((len(clusters), len(groups.flow)), dtype=bool)
    fill = np.array([[cache_fill_s_by_storage(((rc.resource, rc.api_group) for rc in clients[ci].profile.classes
                                               if rc.trigger == "start" and rc.verb == "list"), c)
                      for ci in groups.client] for c in clusters], dtype=np.float64).reshape(len(clusters), -1, 2)
    memory_flows = np.unique(np.concatenate([groups.flow, cold]))
    from_etcd = etcd_flows(flows.etcd_bytes)
    reads_etcd = np.isin(memory_flows, from_etcd)
    # the row in the etcd phase (EtcdPhase.received) of each memory flow read from etcd (0 for the others)
    etcd_row = np.where(reads_etcd, np.searchsorted(from_etcd, memory_flows), 0) if len(from_etcd) \
        else np.zeros(len(memory_flows), dtype=np.int64)
    rewatch = [all(rc.informer for rc in clients[ci].profile.classes if rc.trigger == "start" and rc.verb == "list")
               for ci in groups.client]
    return dict(
        group_rewatches=np.array(rewatch, dtype=np.float64),
        group_cold_flow=cold, group_cold_rejects=rejects.T.astype(np.float64),
        # bundles.routes_cold_to_etcd: the twin reads from etcd only where the simulator routes it
        group_cold_to_etcd=((flows.etcd_bytes[:, cold] > 0) & ~rejects & (cold != groups.flow)).T.astype(np.float64),
        group_cold_twin=(cold != groups.flow).astype(np.float64)[:, None, None],
        group_cache_fill_s=fill[:, :, 0].T.copy(), group_cache_fill_json_s=fill[:, :, 1].T.copy(),
        any_json_fill=bool(fill[:, :, 1].any() or flows.gets_fill_json_s.any()), memory_flows=memory_flows,
        memory_flows_per_request=memory_per_request[memory_flows].copy(),
        memory_flows_not_etcd=(~reads_etcd).astype(np.float64)[:, None, None],
        memory_flows_peak_seats=flows.peak_seats[:, memory_flows].T[:, None, :].copy(),
        memory_flows_etcd_row=etcd_row,
        memory_flows_wait_any=bool(reads_etcd.any()),
    )


def _conflicts(flows: FlowTable) -> dict:
    """issue 12: the flows whose writers UPDATE one shared object (sim.phases.conflicts)."""
    rows = np.flatnonzero(flows.conflict_share.max(axis=0) > 0) if flows.conflict_share.size \
        else np.zeros(0, dtype=np.int64)
    return dict(conflict_flows=rows, conflict_share=flows.conflict_share[:, rows].T.copy(),
                conflict_rate=flows.conflict_rate[:, rows].T.copy(),
                conflict_writers=flows.conflict_writers[:, rows].T.copy(), conflict_change=flows.is_change[rows],
                conflict_leader_replicas=flows.leader_replicas[:, rows].T.copy(),
                conflict_fixed=flows.fixed[rows][:, None])


def _cold(groups: GroupTable) -> np.ndarray:
    return groups.cold_flow if groups.cold_flow is not None else np.full(len(groups.flow), -1)


def _clients_and_etcd(clusters: list[Cluster], clients: Sequence[SimClient], flows: FlowTable,
                      crashloop: CrashLoop | None) -> dict:
    """Retry policies, client rate limits, writes' commit and etcd's members and memory, the
    crash-looping pods (issue 12)."""
    codes = {"none": 0, "client-go": 1, "immediate": 2}
    policy = np.array([0 if relist or clients[ci].role == "rollback" else codes[clients[ci].retry]
                       for ci, relist in zip(flows.client, flows.relist, strict=True)], dtype=np.int64)
    qps = np.array([[_flow_rate_limit(clients, int(ci), c) for ci in flows.client] for c in clusters]).T
    start = np.full(len(clusters), np.inf)
    pods = np.zeros(len(clusters))
    if crashloop is not None:
        for i, c in enumerate(clusters):
            if crashloop.clusters is None or c.name in crashloop.clusters:
                start[i], pods[i] = crashloop.at_s, c.nodes * crashloop.share
    return dict(
        retry_policy=policy, qps_cap=qps.copy(), mutating_share=flows.mutating.T.copy(),
        leader_get_share=flows.leader_gets.T.copy(), cold_get_share=flows.cold_gets.T.copy(),
        cold_get_fill_s=flows.gets_fill_s.T[:, None, :].copy(),
        cold_get_fill_json_s=flows.gets_fill_json_s.T[:, None, :].copy(),
        mutating_flows=np.flatnonzero(flows.mutating.max(axis=0) > 0) if flows.mutating.size else np.zeros(0, int),
        dynamic_retry_after=np.array([c.version_tuple >= C.APF_DYNAMIC_RETRY_AFTER_SINCE for c in clusters]),
        etcd_commit_s=np.array([etcd_model.commit_s(c) for c in clusters]),
        etcd_members=np.array([c.etcd_member_count for c in clusters], dtype=np.float64),
        etcd_read_bytes_per_s=np.array([c.etcd_throughput_bytes_per_s for c in clusters]),
        etcd_oom_range_bytes=np.array([etcd_model.range_bytes_to_oom(c) for c in clusters]),
        crashloop_flow=_steady_flow(clients, flows, "crashloop"), crashloop_start_s=start, crashloop_pods=pods)


def _flow_rate_limit(clients: Sequence[SimClient], ci: int, cluster: Cluster) -> float:
    """Requests/s a steady flow's clients may send (the control plane's flow: both components)."""
    client = clients[ci]
    if client.role in ("controllers", "scheduler"):
        return C.CONTROLLER_MANAGER_API_QPS + C.SCHEDULER_API_QPS
    if client.role == "workloads":
        return np.inf  # many pods, each its own client
    return client_rate_limit(client, cluster)


def _queue_weights(apf: APFConfig, flows: FlowTable) -> np.ndarray:
    """``(F, 1, 1)``: the APF queues each flow's hands cover (its queue capacity ÷
    queueLengthLimit; 1 for exempt and Reject levels) — its weight in fair dispatch."""
    qll = np.array([max(1, apf.levels[int(lv)].queue_length_limit) for lv in flows.level], dtype=np.float64)
    covered = np.where(np.isfinite(flows.qcap), flows.qcap, 0.0) / qll
    return np.maximum(covered, 1.0)[:, None, None]


def _read_only_zeros(shape: int | tuple[int, ...]) -> np.ndarray:
    zeros = np.zeros(shape)
    zeros.flags.writeable = False
    return zeros


def initial_state(params: SimParams, flows: FlowTable, groups: GroupTable, initial_share: float, noise: Noise,
                  rollback: RollbackDriver | None) -> FleetState:
    """The fleet at time 0: every replica up with nominal APF limits, nothing queued or
    executing, every informer synced (the change's on ``initial_share`` of the nodes), spread
    evenly over the replicas."""
    n_clusters, n_replicas, n_flows = params.n_clusters, params.n_replicas, params.n_flows
    n_groups, n_levels = len(params.group_flow), len(params.level_names)
    per_replica = (n_replicas, n_clusters)
    per_flow = (n_flows, n_replicas, n_clusters)
    per_level = (n_levels, n_replicas, n_clusters)
    exists = params.replica_exists
    share = np.full(n_clusters, float(initial_share))
    synced = groups.instances.T * np.where(  # (G, C)
        groups.is_change[:, None], sending_share(share, groups.leader_replicas.T, groups.fixed[:, None]), 1.0)
    last_backoff_mix = np.zeros((BACKOFF_LEVELS, n_groups, n_clusters))
    last_backoff_mix[1] = 1.0
    up = exists.copy()
    empty = np.zeros(0)
    state = FleetState(
        time_s=0.0, step_count=0,
        up=up, up_float=up.astype(np.float64), down_until=np.zeros(per_replica),
        crash_count=np.zeros(per_replica, dtype=np.int64), up_since=np.zeros(per_replica),
        oom_kills=np.zeros(n_clusters, dtype=np.int64), cpu_stretch=np.ones(per_replica),
        cpu_utilisation=np.zeros(per_replica), any_down=False, slowed=False,
        seat_limits=np.broadcast_to(params.nominal_seats, per_level).copy(), used_seat_limits=empty,
        queued=np.zeros(per_flow), rejected=np.zeros(per_flow), dispatched=np.zeros(per_flow),
        executing=np.zeros(per_flow), queueing=False, demand_high_watermark=np.zeros(per_level),
        used_demand_high_watermark=np.zeros((params.n_used_levels, n_replicas, n_clusters)),
        smoothed_demand=np.zeros(per_level), next_readjust_s=C.APF_READJUST_PERIOD_S, fair_fraction=None,
        fanout_extra_seats=np.zeros((n_flows, 1, n_clusters)), limit_record=empty, seats_up=empty,
        limits_changed=True, service_now_s=params.service_s, finish_fraction=empty, carry_fraction=empty,
        step_fraction=empty, busy_share=empty, seat_occupancy=empty,
        etcd=EtcdPhase(flows.etcd_bytes, flows.etcd_pages, n_replicas, params.step_s,
                       throughput=params.etcd_read_bytes_per_s),
        awaiting_etcd=np.zeros(per_flow), etcd_busy=False,
        backoff=np.zeros((BACKOFF_LEVELS, n_groups, n_clusters)), last_backoff_mix=last_backoff_mix,
        synced_watches=synced[:, None, :] * (exists / exists.sum(0, keepdims=True))[None],
        abandoned=np.zeros((n_groups, n_replicas, n_clusters)), has_abandoned=False,
        relists_sent=np.zeros((n_groups, n_clusters)), arrivals_per_step=empty, fanout_cpu=empty,
        rollout_share=share, rollout_target=share.copy(), ramp_per_s=np.full(n_clusters, math.inf), ramping=False,
        noise=noise, rollback=rollback, coredns_without_copy=np.zeros(n_clusters), coredns_without_copy_any=False,
        dns_caches=DNSCaches(n_clusters, params.step_s),
        cache_filling_since=np.full(per_replica, -np.inf),
        cache_fill_done_s=np.full(per_replica, np.inf), cache_fill_done_json_s=np.full(per_replica, np.inf),
        cold_rejected_total=np.zeros(n_clusters),
        rewatches=np.zeros(n_clusters),
    )
    lift_legacy_limits(state, params)
    init_etcd_state(state, params)
    ensure_retry_state(state, params)
    state.used_seat_limits = state.seat_limits[params.used_levels].copy()
    update_fanout_cpu(state, params, params.step_s)
    update_rates(state, params, params.step_s)
    update_fanout_seats(state, params, params.step_s)
    refresh_service(state, params, params.step_s)
    refresh_limits(state, params)
    return state
