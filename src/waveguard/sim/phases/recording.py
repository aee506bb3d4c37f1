"""Recording: the figures under the real metric names (:mod:`waveguard.sim.metrics`) into the
run's :class:`MetricStore`, one frame ``(rows, C)`` per recorded step.

What is recorded is what the caller asks (:class:`RecordingPlan`): by default every step and
everything is kept (the golden figures are of such runs); a report asks for one frame every
``every_s`` seconds (gauges as sampled then, like a Prometheus scrape; counters summed over the
interval, so totals and rates stay exact); a gate reads the current window only, and
``window_s`` keeps just the last frames (streaming: memory does not grow with simulated time).
Frames go into arrays preallocated for the whole run (or the window), written in place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from waveguard.model import constants as C
from waveguard.sim.flows import SCOPES
from waveguard.sim.metrics import CODES, METRICS, LabelSpace, MetricStore, SeriesReader
from waveguard.sim.params import SimParams
from waveguard.sim.state import FleetState

#: Per-level metrics: stored for every level, written for the used levels only.
_LEVEL_ROWS = ("apiserver_flowcontrol_current_executing_seats", "apiserver_flowcontrol_current_inqueue_requests",
               "apiserver_flowcontrol_rejected_requests_total", "apiserver_flowcontrol_dispatched_requests_total",
               "apiserver_flowcontrol_request_wait_duration_seconds")


@dataclass(frozen=True)
class RecordingPlan:
    """What to record. ``every_s``: seconds between recorded frames (None: every step; rounded
    to whole steps). ``window_s``: keep only the frames of the last ``window_s`` seconds (None:
    the whole run) — counters' totals (``latest``, ``Snapshot.value``) still count from the
    start, while ``series`` covers the frames kept. Raises ValueError for a value ≤ 0."""

    every_s: float | None = None
    window_s: float | None = None

    def __post_init__(self) -> None:
        """Raises ValueError for a non-positive interval or window."""
        for name in ("every_s", "window_s"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0 (or None), not {value!r}")

    def steps_per_frame(self, dt: float) -> int:
        return 1 if self.every_s is None else max(1, int(round(self.every_s / dt)))

    def frames_kept(self, dt: float) -> int | None:
        """Frames of the window (None: all)."""
        if self.window_s is None:
            return None
        return max(1, math.ceil(self.window_s / (dt * self.steps_per_frame(dt))))


#: Every step, every series: what a summary of the run (and the golden figures) reads.
EVERY_STEP = RecordingPlan()


class Recorder:
    """The run's metric store, its reader and the frame rows each figure goes to.

    The store holds ``expected_steps`` / steps per frame frames, preallocated (it grows if the
    run is longer), or twice the window's frames when streaming: when those are full the
    window's frames move to the front (one copy every window, not every frame)."""

    def __init__(self, params: SimParams, cluster_names: Sequence[str], expected_steps: int,
                 plan: RecordingPlan = EVERY_STEP) -> None:
        n_replicas = params.n_replicas
        dims = {"priority_level": len(params.level_names), "scope": len(SCOPES), "instance": n_replicas, "code": len(CODES)}
        self.params, self.cluster_names, self.expected_steps = params, list(cluster_names), expected_steps
        self.every = plan.steps_per_frame(params.step_s)
        self.window = plan.frames_kept(params.step_s)
        frames = 2 * self.window if self.window else expected_steps // self.every + 1
        self.store = MetricStore(params.n_clusters, dims, frames)
        self.n_counter_rows = max((sl.stop for n, sl in self.store.rows.items() if METRICS[n].kind == "counter"),
                                  default=0)
        #: Counter rows summed over the steps since the last frame (when frames are coarser than steps).
        self.counts = np.zeros((self.n_counter_rows, params.n_clusters))
        labels = LabelSpace(priority_level=list(params.level_names), scope=list(SCOPES),
                            instance=[str(r) for r in range(n_replicas)])
        nominal = np.where(params.limited[:, None], params.nominal_seats[:, 0, :], 0.0) \
            * params.replica_exists.sum(0)[None, :]
        if params.max_in_flight.enabled:
            nominal[:, params.max_in_flight.cols] = 0.0  # no APF before 1.20
        static = {"apiserver_flowcontrol_nominal_limit_seats": nominal,
                  "waveguard_sim_apiserver_memory_limit_bytes": params.memory_limit_bytes}
        self.reader = SeriesReader(self.store, list(cluster_names), labels, static, params.step_s * self.every)
        rows: dict[str, slice | np.ndarray] = dict(self.store.rows)
        used = params.used_level_rows
        for name in _LEVEL_ROWS:
            start = self.store.rows[name].start
            rows[name] = slice(start + used.start, start + used.stop) if isinstance(used, slice) else start + used
        self.rows = rows
        self.store.frame[rows["etcd_disk_wal_fsync_duration_seconds"]] = C.ETCD_WAL_FSYNC_S  # a constant
        #: rows written as 0 that hold 0 since (:meth:`zero`); whether etcd's rows were written once
        self._zeroed: set[str] = set()
        self.etcd_written = False

    def zero(self, name: str) -> None:
        """Write 0 to metric ``name``'s rows of the frame, unless they hold 0 since the last time."""
        if name not in self._zeroed:
            self.store.frame[self.rows[name]] = 0.0
            self._zeroed.add(name)

    def write(self, name: str, value: np.ndarray) -> None:
        """Write ``value`` to metric ``name``'s rows of the frame."""
        self.store.frame[self.rows[name]] = value
        self._zeroed.discard(name)

    def written(self, name: str) -> np.ndarray:
        """Metric ``name``'s rows of the frame, to be written in place."""
        self._zeroed.discard(name)
        return self.store.frame[self.rows[name]]

    def replanned(self, plan: RecordingPlan, steps_taken: int) -> Recorder:
        """A new, empty recorder of the same run that records as ``plan`` asks. Raises
        ValueError once ``steps_taken`` > 0 (the series would start in the middle)."""
        if steps_taken:
            raise ValueError("choose the recording before the first step")
        return Recorder(self.params, self.cluster_names, self.expected_steps, plan)

    def due(self, step_count: int) -> bool:
        """Whether step number ``step_count`` (from 1) is recorded as a frame."""
        return step_count % self.every == 0

    def make_room(self) -> None:
        """Before a frame is written: grow the store, or (streaming) move the window's frames
        to the front of the store."""
        store = self.store
        if store.n < store.capacity:
            return
        if self.window is None:
            store.grow()
            return
        keep, n = self.window, store.n
        store.frames[:keep] = store.frames[n - keep:n]
        store.times[:keep] = store.times[n - keep:n]
        store.n = keep


class _Recorded(Protocol):
    recorder: Recorder
    state: FleetState


def record_with(simulator: _Recorded, plan: RecordingPlan) -> None:
    """Make ``simulator`` (a :class:`~waveguard.sim.engine.FleetSimulator`) record as ``plan``
    asks: e.g. one frame every 10 s for a report, or the last window only for a gate (default:
    every series, every step). Raises ValueError after its first step."""
    simulator.recorder = simulator.recorder.replanned(plan, simulator.state.step_count)


def write_slow_rows(state: FleetState, params: SimParams, recorder: Recorder) -> None:
    """Rows that change only on events (limits, replicas up, constant lookups)."""
    frame, row = recorder.store.frame, recorder.rows
    frame[row["apiserver_flowcontrol_current_limit_seats"]] = state.limit_record
    frame[row["up"]] = state.up_float
    frame[row["coredns_dns_requests_total"]] = params.dns_lookups_per_step
    state.limits_changed = False


def record(state: FleetState, params: SimParams, dt: float, recorder: Recorder) -> None:
    """Write this step's counters; on a recorded step (:meth:`Recorder.due`) also its gauges,
    and commit the frame as step ``store.n``."""
    if state.limits_changed:
        write_slow_rows(state, params, recorder)
    frame, row = recorder.store.frame, recorder.rows
    none_rejected = state.rejected_by_level is params.zeros_by_level
    if none_rejected:
        recorder.zero("apiserver_flowcontrol_rejected_requests_total")
    else:
        recorder.write("apiserver_flowcontrol_rejected_requests_total", state.rejected_by_level)
    frame[row["apiserver_flowcontrol_dispatched_requests_total"]] = state.dispatched_by_level
    _write_codes(state, recorder, none_rejected)
    if state.dns_failure is params.zeros_by_cluster:
        recorder.zero("coredns_dns_responses_total")
    else:
        recorder.write("coredns_dns_responses_total", params.dns_lookups_per_step * state.dns_failure)
    if state.rollback is not None:
        rollback = state.rollback
        frame[row["waveguard_sim_rollback_rejected_requests_total"]] = rollback.rejected_step
        frame[row["waveguard_sim_rollback_failed_requests_total"]] = rollback.failed_step
        rollback.rejected_step[:] = 0.0
        rollback.failed_step[:] = 0.0
    record_etcd_and_retries(state, params, recorder)
    if not recorder.due(state.step_count):
        recorder.counts += frame[:recorder.n_counter_rows]
        return
    _write_gauges(state, recorder)
    recorder.make_room()
    recorder.store.times[recorder.store.n] = state.time_s
    if recorder.every == 1:
        recorder.store.commit()
        return
    # The frame's counters are the interval's sums; the step's own values stay in the frame
    # (the slow rows are written only when they change).
    step_counts = frame[:recorder.n_counter_rows].copy()
    frame[:recorder.n_counter_rows] += recorder.counts
    recorder.store.commit()
    frame[:recorder.n_counter_rows] = step_counts
    recorder.counts[:] = 0.0


def _write_codes(state: FleetState, recorder: Recorder, none_rejected: bool) -> None:
    """``apiserver_request_total`` ``(code, C)``: 429s (APF's, and a not-ready cache's), 409s, 500s
    (etcd had no leader); all 0 (written once) while there are none."""
    name = "apiserver_request_total"
    if none_rejected and state.cold_rejected is None and state.conflicts_409 is None \
            and state.etcd_500_by_flow is None:
        recorder.zero(name)
        return
    codes = recorder.written(name)
    codes[0] = state.rejected_by_level.sum(axis=0) if state.cold_rejected is None \
        else state.rejected_by_level.sum(axis=0) + state.cold_rejected.sum(axis=0)
    codes[1] = 0.0 if state.conflicts_409 is None else state.conflicts_409
    codes[2] = 0.0 if state.etcd_500_by_flow is None else state.etcd_500_by_flow.sum(axis=0)


def _write_gauges(state: FleetState, recorder: Recorder) -> None:
    frame, row = recorder.store.frame, recorder.rows
    frame[row["apiserver_flowcontrol_current_executing_seats"]] = state.used_by_cluster
    frame[row["apiserver_flowcontrol_current_inqueue_requests"]] = state.inqueue_by_level
    frame[row["apiserver_flowcontrol_request_wait_duration_seconds"]] = state.level_wait_s
    frame[row["apiserver_request_duration_seconds"]] = state.scope_p99_s
    if state.etcd_busy:
        frame[row["apiserver_current_inflight_requests"]] = (state.executing + state.awaiting_etcd).sum(axis=(0, 1))
    else:
        frame[row["apiserver_current_inflight_requests"]] = state.executing.sum(axis=(0, 1)) \
            if state.executing_any else 0.0
    frame[row["process_resident_memory_bytes"]] = state.memory
    frame[row["waveguard_sim_dns_client_failure_ratio"]] = state.client_dns_failure
    frame[row["waveguard_sim_workload_error_ratio"]] = state.workload_error
    frame[row["waveguard_sim_rollout_share"]] = state.rollout_share
    frame[row["waveguard_sim_apiserver_cpu_demand_ratio"]] = state.cpu_utilisation.max(axis=0)
    if state.rollback is not None:
        frame[row["waveguard_sim_rollback_pending_requests"]] = state.rollback.pending


def record_etcd_and_retries(state: FleetState, params: SimParams, recorder: Recorder) -> None:
    """issue 12: etcd's metrics (sent bytes, leader changes, WAL fsync and request p99, commits,
    member memory) and the clients' retries of this step (counters every step: the recorder sums
    them between frames)."""
    frame, row = recorder.store.frame, recorder.rows
    frame[row["waveguard_sim_etcd_commits_total"]] = state.etcd_writes
    sent = state.etcd.sent_bytes if state.etcd.enabled else params.zeros_by_cluster
    frame[row["etcd_network_client_grpc_sent_bytes_total"]] = sent  # (0 from the first idle step on)
    if not (state.etcd_quiet and recorder.etcd_written):  # (quiet: the figures written last step stand)
        frame[row["etcd_server_leader_changes_seen_total"]] = state.etcd_leader_changes
        frame[row["etcd_request_duration_seconds"]] = state.etcd_p99_s
        frame[row["waveguard_sim_etcd_memory_bytes"]] = state.etcd_memory
        recorder.etcd_written = True
    if state.retries_any:
        recorder.write("waveguard_sim_client_retries_total", state.retries_sent.sum(axis=0))
        state.retries_sent.fill(0.0)  # per step: the store keeps the running total
        state.retries_any = False
    else:
        recorder.zero("waveguard_sim_client_retries_total")
