"""Recording: every step's figures under the real metric names (:mod:`waveguard.sim.metrics`)
into the run's :class:`MetricStore`, one frame ``(rows, C)`` per step."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from waveguard.model import constants as C

from waveguard.sim.flows import SCOPES
from waveguard.sim.metrics import LabelSpace, MetricStore, SeriesReader
from waveguard.sim.params import SimParams
from waveguard.sim.state import FleetState

#: Per-level metrics: stored for every level, written for the used levels only.
_LEVEL_ROWS = ("apiserver_flowcontrol_current_executing_seats", "apiserver_flowcontrol_current_inqueue_requests",
               "apiserver_flowcontrol_rejected_requests_total", "apiserver_flowcontrol_dispatched_requests_total",
               "apiserver_flowcontrol_request_wait_duration_seconds")


class Recorder:
    """The run's metric store (``expected_steps`` preallocated; it grows), its reader and the
    frame rows each figure goes to."""

    def __init__(self, params: SimParams, cluster_names: Sequence[str], expected_steps: int) -> None:
        n_replicas = params.n_replicas
        dims = {"priority_level": len(params.level_names), "scope": len(SCOPES), "instance": n_replicas}
        self.store = MetricStore(params.n_clusters, dims, expected_steps)
        labels = LabelSpace(priority_level=list(params.level_names), scope=list(SCOPES),
                            instance=[str(r) for r in range(n_replicas)])
        nominal = np.where(params.limited[:, None], params.nominal_seats[:, 0, :], 0.0) \
            * params.replica_exists.sum(0)[None, :]
        if params.max_in_flight.enabled:
            nominal[:, params.max_in_flight.cols] = 0.0  # no APF before 1.20
        static = {"apiserver_flowcontrol_nominal_limit_seats": nominal,
                  "waveguard_sim_apiserver_memory_limit_bytes": params.memory_limit_bytes}
        self.reader = SeriesReader(self.store, list(cluster_names), labels, static, params.step_s)
        rows: dict[str, slice | np.ndarray] = dict(self.store.rows)
        used = params.used_level_rows
        for name in _LEVEL_ROWS:
            start = self.store.rows[name].start
            rows[name] = slice(start + used.start, start + used.stop) if isinstance(used, slice) else start + used
        self.rows = rows


def write_slow_rows(state: FleetState, params: SimParams, recorder: Recorder) -> None:
    """Rows that change only on events (limits, replicas up, constant lookups)."""
    frame, row = recorder.store.frame, recorder.rows
    frame[row["apiserver_flowcontrol_current_limit_seats"]] = state.limit_record
    frame[row["up"]] = state.up_float
    frame[row["coredns_dns_requests_total"]] = params.dns_lookups_per_step
    state.limits_changed = False


def record(state: FleetState, params: SimParams, dt: float, recorder: Recorder) -> None:
    """Write this step's frame and commit it as step ``store.n``."""
    store = recorder.store
    if store.n == store.capacity:
        store.grow()
    if state.limits_changed:
        write_slow_rows(state, params, recorder)
    frame, row = store.frame, recorder.rows
    store.times[store.n] = state.time_s
    frame[row["apiserver_flowcontrol_current_executing_seats"]] = state.used_by_cluster
    frame[row["apiserver_flowcontrol_current_inqueue_requests"]] = state.inqueue_by_level
    frame[row["apiserver_flowcontrol_rejected_requests_total"]] = state.rejected_by_level
    frame[row["apiserver_flowcontrol_dispatched_requests_total"]] = state.dispatched_by_level
    frame[row["apiserver_flowcontrol_request_wait_duration_seconds"]] = state.level_wait_s
    frame[row["apiserver_request_duration_seconds"]] = state.scope_p99_s
    frame[row["apiserver_request_total"]] = state.rejected_by_level.sum(axis=0) if state.cold_rejected is None \
        else state.rejected_by_level.sum(axis=0) + state.cold_rejected.sum(axis=0)  # + a not-ready cache's 429s
    in_flight = state.executing + state.awaiting_etcd if state.etcd_busy else state.executing
    frame[row["apiserver_current_inflight_requests"]] = in_flight.sum(axis=(0, 1))
    frame[row["process_resident_memory_bytes"]] = state.memory
    frame[row["coredns_dns_responses_total"]] = params.dns_lookups_per_step * state.dns_failure
    frame[row["waveguard_sim_dns_client_failure_ratio"]] = state.client_dns_failure
    frame[row["waveguard_sim_workload_error_ratio"]] = state.workload_error
    frame[row["waveguard_sim_rollout_share"]] = state.rollout_share
    frame[row["waveguard_sim_apiserver_cpu_demand_ratio"]] = state.cpu_utilisation.max(axis=0)
    record_etcd_and_retries(state, params, dt, recorder)
    if state.rollback is not None:
        rollback = state.rollback
        frame[row["waveguard_sim_rollback_pending_requests"]] = rollback.pending
        frame[row["waveguard_sim_rollback_rejected_requests_total"]] = rollback.rejected_step
        frame[row["waveguard_sim_rollback_failed_requests_total"]] = rollback.failed_step
        rollback.rejected_step[:] = 0.0
        rollback.failed_step[:] = 0.0
    store.commit()


def record_etcd_and_retries(state: FleetState, params: SimParams, dt: float, recorder: Recorder) -> None:
    """issue 12: etcd's metrics (sent bytes, leader changes, WAL fsync and request p99, commits,
    member memory) and the clients' retries of this step."""
    frame, row = recorder.store.frame, recorder.rows
    sent = state.etcd.sent_bytes if state.etcd.enabled else params.zeros_by_cluster
    frame[row["etcd_network_client_grpc_sent_bytes_total"]] = sent
    frame[row["etcd_server_leader_changes_seen_total"]] = state.etcd_leader_changes
    frame[row["etcd_disk_wal_fsync_duration_seconds"]] = C.ETCD_WAL_FSYNC_S
    frame[row["etcd_request_duration_seconds"]] = state.etcd_p99_s
    frame[row["waveguard_sim_etcd_commits_total"]] = state.etcd_writes
    frame[row["waveguard_sim_etcd_memory_bytes"]] = state.etcd_memory
    frame[row["waveguard_sim_client_retries_total"]] = state.retries_sent.sum(axis=0)
    state.retries_sent.fill(0.0)  # per step: the store keeps the running total
