"""The rollout's state: a fold of its event log (the log is the only source of truth).

:meth:`RolloutState.apply` dispatches each event to one small method per kind. Besides where
the rollout stands, the state keeps what actuators need to rebuild themselves after a restart
(:meth:`~waveguard.rollout.ports.Actuator.restore`): the timeline of logged transitions with
the node shares they set, and the objects real clusters held before the change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, TypeVar

from waveguard.model.errors import InputError
from waveguard.rollout.events import (
    Applied, ApplyStarted, ClusterStatus, Event, EventKind, Gate, Paused, Payload, RollbackPending, RolloutStatus,
)

PayloadT = TypeVar("PayloadT", bound=Payload)


@dataclass(frozen=True)
class Transition:
    """A logged event other than a gate result, at ``t`` rollout seconds; for an apply or a
    cluster's rollback, the node ``share`` (0..1) it set on ``cluster`` (else None)."""

    t: float
    cluster: str | None = None
    share: float | None = None


@dataclass
class RolloutState:
    """What the log says now (see :class:`RolloutStatus`)."""

    status: RolloutStatus = RolloutStatus.NEW
    wave: int = 0  # the wave in progress (or next)
    wave_started_at: dict[int, float] = field(default_factory=dict)
    passed_waves: set[int] = field(default_factory=set)
    applied: dict[tuple[int, str], float] = field(default_factory=dict)  # (wave, cluster) → t
    applying: set[tuple[int, str]] = field(default_factory=set)
    shares: dict[str, float] = field(default_factory=dict)  # cluster → node share running the change
    cluster_state: dict[str, ClusterStatus] = field(default_factory=dict)
    rolled_back: set[str] = field(default_factory=set)
    rolling_back: set[str] = field(default_factory=set)
    halt: dict[str, Any] | None = None
    pause_reason: str | None = None
    last_t: float = 0.0
    last_seq: int = 0
    approvals: int = 0
    abort_requested: bool = False
    gate_failures: dict[tuple, int] = field(default_factory=dict)  # (wave, gate, cluster) → failed evaluations
    #: Every non-gate event in order, with the shares applies and rollbacks set (replayed by
    #: the simulator after a restart).
    transitions: list[Transition] = field(default_factory=list)
    #: cluster → object ref → the object before the change (None: it did not exist), from the
    #: first ``apply_started`` of the cluster that recorded them (real clusters).
    previous_objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: cluster → why its rollback has not got through yet (``rollback_pending``; cleared when it does).
    rollback_pending: dict[str, str] = field(default_factory=dict)
    #: (gate, cluster) → rollout time of the first of its consecutive no-data results (cleared
    #: by a result with data): what the plan's ``no_data_timeout_s`` is measured against.
    no_data_since: dict[tuple[str, str], float] = field(default_factory=dict)
    #: The pause is the engine's own, for a gate without data (it resumes by itself).
    paused_for_no_data: bool = False
    #: The change frozen at start, or the one that replaced it (a FrozenChange dump), or None.
    change: dict[str, Any] | None = None
    #: (t, gate, cluster, threshold) of every logged gate result: none is logged twice.
    gate_keys: set[tuple[float, str, str, float | None]] = field(default_factory=set)
    #: wave → t of its last logged evaluation while baking (resume continues after it).
    last_evaluation: dict[int, float] = field(default_factory=dict)
    #: wave → t of its last logged evaluation before its apply (the projection): a wave waiting
    #: for the projection's data evaluates it again ``gate_interval_s`` after it.
    last_projection: dict[int, float] = field(default_factory=dict)
    #: The last logged evaluation (its gate events) when no decision (halt, pause, next step)
    #: followed it: the engine was stopped in between, and decides on it when resumed.
    undecided: list[Event] = field(default_factory=list)

    def apply(self, e: Event) -> None:
        """Advance the state by one event."""
        self.last_seq = e.seq
        self.last_t = max(self.last_t, e.t)
        if e.kind != EventKind.GATE:
            self.transitions.append(Transition(e.t))
        if e.kind not in _NOT_A_DECISION:
            self.undecided = []
        try:
            _FOLD[EventKind(e.kind)](self, e)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # pydantic's ValidationError is a ValueError
            raise InputError(f"state event {e.seq} ({e.kind})", f"unreadable payload {e.data!r:.120}: "
                             f"{str(exc).splitlines()[0]}",
                             hint="the state file was written by another tool or edited") from None

    # --- one method per kind ----------------------------------------------------------------
    def _started(self, e: Event) -> None:
        self.status = RolloutStatus.RUNNING
        self.change = e.data.get("change")

    def _wave_started(self, e: Event) -> None:
        self.wave = e.wave or 0
        self.wave_started_at[self.wave] = e.t

    def _apply_started(self, e: Event) -> None:
        cluster = _cluster(e)
        self.applying.add((e.wave or 0, cluster))
        self.cluster_state[cluster] = ClusterStatus.APPLYING
        previous = _read(ApplyStarted, e).previous
        if previous is not None and cluster not in self.previous_objects:
            self.previous_objects[cluster] = previous

    def _applied(self, e: Event) -> None:
        cluster, share = _cluster(e), _read(Applied, e).share
        self.applying.discard((e.wave or 0, cluster))
        self.applied[(e.wave or 0, cluster)] = e.t
        self._set_share(e.t, cluster, share)
        self.cluster_state[cluster] = ClusterStatus.BAKING

    def _gate(self, e: Event) -> None:
        result = _read(Gate, e)
        self._track_no_data(result, e.t)
        self.gate_keys.add((e.t, result.gate, result.cluster, result.threshold))
        if result.status == "fail":
            key = (e.wave, result.gate, e.cluster)
            self.gate_failures[key] = self.gate_failures.get(key, 0) + 1
        wave = e.wave or 0
        last = self.last_projection if result.before_apply else self.last_evaluation
        last[wave] = max(e.t, last.get(wave, e.t))
        first = self.undecided[0] if self.undecided else None
        if first is not None and (first.t, first.wave, first.data.get("before_apply")) != (
                e.t, e.wave, e.data.get("before_apply")):
            self.undecided = []  # a later evaluation: the earlier one was decided (go on)
        self.undecided.append(e)

    def _paused(self, e: Event) -> None:
        paused = _read(Paused, e)
        self.status = RolloutStatus.AWAITING_APPROVAL if paused.needs_approval else RolloutStatus.PAUSED
        self.pause_reason = paused.reason
        self.paused_for_no_data = paused.no_data

    def _resumed(self, e: Event) -> None:
        self.paused_for_no_data = False
        if self.status in (RolloutStatus.PAUSED, RolloutStatus.AWAITING_APPROVAL):
            self.status, self.pause_reason = RolloutStatus.RUNNING, None

    def _approved(self, e: Event) -> None:
        """Approve what the rollout waits for: after a failed gate, its rollback (the status
        returns to halted, which the engine rolls back once approved); else going on."""
        self.approvals += 1
        if self.status == RolloutStatus.AWAITING_APPROVAL and self.halt is not None:
            self.status, self.pause_reason = RolloutStatus.HALTED, None
        else:
            self._resumed(e)

    def _wave_passed(self, e: Event) -> None:
        self.passed_waves.add(e.wave or 0)
        self.wave = (e.wave or 0) + 1
        for (w, c) in self.applied:
            if w == e.wave:
                self.cluster_state[c] = ClusterStatus.PASSED

    def _halted(self, e: Event) -> None:
        self.status, self.halt = RolloutStatus.HALTED, dict(e.data, t=e.t, wave=e.wave)
        for c, share in self.shares.items():
            if share > 0:
                self.cluster_state[c] = ClusterStatus.HALTED

    def _rollback_started(self, e: Event) -> None:
        cluster = _cluster(e)
        self.status = RolloutStatus.ROLLING_BACK
        self.rolling_back.add(cluster)
        self.cluster_state[cluster] = ClusterStatus.ROLLING_BACK

    def _rolled_back(self, e: Event) -> None:
        if e.cluster is None:  # the rollout as a whole
            self.status = RolloutStatus.ROLLED_BACK
            return
        self.rolling_back.discard(e.cluster)
        self.rollback_pending.pop(e.cluster, None)
        self.rolled_back.add(e.cluster)
        self._set_share(e.t, e.cluster, 0.0)
        self.cluster_state[e.cluster] = ClusterStatus.ROLLED_BACK

    def _completed(self, e: Event) -> None:
        self.status = RolloutStatus.COMPLETED

    def _aborted(self, e: Event) -> None:
        self.abort_requested = True

    def _track_no_data(self, result: Gate, t: float) -> None:
        """Start (or keep) the no-data clock of (gate, cluster), or stop it when data came."""
        if result.status == "no-data":
            self.no_data_since.setdefault((result.gate, result.cluster), t)
        else:
            self.no_data_since.pop((result.gate, result.cluster), None)

    def _rollback_pending(self, e: Event) -> None:
        cluster = _cluster(e)  # still rolling back: the retry needs no second rollback_started
        self.rollback_pending[cluster] = _read(RollbackPending, e).reason
        self.cluster_state[cluster] = ClusterStatus.ROLLBACK_PENDING

    def _change_replaced(self, e: Event) -> None:
        self.change = e.data["change"]

    def _set_share(self, t: float, cluster: str, share: float) -> None:
        self.shares[cluster] = share
        self.transitions[-1] = Transition(t, cluster, share)


def _cluster(e: Event) -> str:
    if e.cluster is None:
        raise ValueError(f"event {e.seq} ({e.kind}) names no cluster")
    return e.cluster


_FOLD: dict[EventKind, Callable[[RolloutState, Event], None]] = {
    EventKind.STARTED: RolloutState._started, EventKind.WAVE_STARTED: RolloutState._wave_started,
    EventKind.APPLY_STARTED: RolloutState._apply_started, EventKind.APPLIED: RolloutState._applied,
    EventKind.GATE: RolloutState._gate, EventKind.PAUSED: RolloutState._paused,
    EventKind.RESUMED: RolloutState._resumed, EventKind.APPROVED: RolloutState._approved,
    EventKind.WAVE_PASSED: RolloutState._wave_passed, EventKind.HALTED: RolloutState._halted,
    EventKind.ROLLBACK_STARTED: RolloutState._rollback_started, EventKind.ROLLED_BACK: RolloutState._rolled_back,
    EventKind.COMPLETED: RolloutState._completed, EventKind.ABORTED: RolloutState._aborted,
    EventKind.CHANGE_REPLACED: RolloutState._change_replaced, EventKind.ROLLBACK_PENDING: RolloutState._rollback_pending,
}

#: Kinds that are not the engine's decision after an evaluation (operators' requests, the
#: change replaced at resume): they leave :attr:`RolloutState.undecided` as it is.
_NOT_A_DECISION = frozenset({EventKind.GATE, EventKind.RESUMED, EventKind.APPROVED, EventKind.ABORTED,
                             EventKind.CHANGE_REPLACED})


def _read(model: type[PayloadT], e: Event) -> PayloadT:
    """``e``'s payload as ``model``, keys this version does not know left out (written by a
    newer waveguard): writing is strict (:func:`check_payload`), reading is not."""
    return model.model_validate({k: v for k, v in e.data.items() if k in model.model_fields})


def fold(events: Iterable[Event]) -> RolloutState:
    """The state after ``events``."""
    state = RolloutState()
    for e in events:
        state.apply(e)
    return state
