"""The wave engine: a state machine per wave and cluster, driven by the event log.

pending → applying → baking → passed, or halted → rolling back → rolled back.

Every decision is appended to the :class:`~waveguard.rollout.eventlog.EventLog` before it is
acted on; the engine's position is always recomputed from the log, so ``run`` after a crash
(kill -9 at any point) continues where the log stops: an ``apply_started`` without its
``applied`` is re-applied (the actuator's apply is idempotent) and logged once; a halt is never
forgotten; a gate evaluation is never logged twice (keyed by time, gate, cluster and threshold)
and a resumed bake continues from the last logged evaluation on the same schedule (every
``gate_interval_s`` after the wave's last apply, the last one at the bake's end), so a failure
is never counted twice; an evaluation logged without the decision that follows it (halt, pause,
go on) is decided on when resumed, at its own time. A pause for a gate without data is the
engine's own wait, not an operator's pause: a resumed engine goes on waiting (evaluating every
``gate_interval_s``), and the plan's ``no_data_timeout_s`` counts from the first no-data result
in the log, so a restart neither ends the wait nor restarts its clock. The clusters of a wave
are applied in batches of at most the plan's ``max_parallel_clusters`` (concurrently when the
actuator allows it). The engine acts through a
:class:`~waveguard.rollout.ports.Backend`: an actuator, a clock and a signal source.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from waveguard.model.errors import WaveguardError
from waveguard.model.fleet import Cluster, Fleet
from waveguard.model.requests import RequestProfile
from waveguard.rollout.events import Event, EventKind, RolloutStatus
from waveguard.rollout.eventlog import EventLog
from waveguard.rollout.gates import GateResult, evaluate, evaluate_projection
from waveguard.rollout.plan import Plan, Wave
from waveguard.rollout.ports import Backend
from waveguard.rollout.state import RolloutState, fold

#: Statuses in which the engine rolls back (automatically, or once approved).
_STOPPED = (RolloutStatus.HALTED, RolloutStatus.ROLLING_BACK)
_ENDED = (RolloutStatus.ROLLED_BACK, RolloutStatus.COMPLETED)
#: Clusters rolled back at once (a thread, a connection pool and a token bucket each). Policy:
#: 64 covers a production wave of the built-in fleet (24 clusters) with room; more queue.
ROLLBACK_THREADS = 64


class KilledError(Exception):
    """Raised by a fault injector to stop the engine as a crash would (tests only)."""


@dataclass
class Engine:
    """Runs ``plan`` over ``fleet`` on ``target`` (a :class:`Backend`), recording to ``log``.

    ``analysed_profiles``: the change's profiles from ``analyse`` (the projection's input
    before any measurement). ``on_event`` is called with every event written (progress bars,
    ``--json`` streaming). ``fault`` is called before every write (tests inject crashes).
    """

    plan: Plan
    fleet: Fleet
    target: Backend
    log: EventLog
    analysed_profiles: list[RequestProfile]
    on_event: Callable[[Event], None] | None = None
    fault: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        self.state = fold(self.log.events())
        self.actuator, self.clock, self.source = self.target.actuator, self.target.clock, self.target.source
        self.actuator.restore(self.state)
        # A restored simulator stands at its last transition; the log may go further (gate
        # evaluations): continue from the last logged time, as the stopped engine would have.
        self.clock.advance(self.state.last_t - self.clock.now())

    # --- writing -------------------------------------------------------------------------------
    def _write(self, rows: list[tuple]) -> list[Event]:
        if self.fault is not None:
            self.fault()
        written = self.log.append_many(rows)
        self._sync()  # ours and anything another process (pause, abort) wrote in between, in order
        return written

    def _emit(self, kind: EventKind, *, wave: int | None = None, cluster: str | None = None, **data: Any) -> Event:
        return self._write([(kind, self.clock.now(), wave, cluster, data)])[0]

    def _sync(self) -> None:
        """Pick up events other processes wrote (pause, abort, approve)."""
        for e in self.log.events(after=self.state.last_seq):
            self.state.apply(e)
            if self.on_event is not None:
                self.on_event(e)

    # --- the state machine ---------------------------------------------------------------------
    def run(self) -> RolloutState:
        """Advance until the rollout completes, halts and rolls back, pauses or is aborted."""
        s = self.state
        if s.status == RolloutStatus.NEW:
            self._emit(EventKind.STARTED, plan=self.plan.model_dump(mode="json"),
                       fleet_model=self.fleet.model_dump(mode="json"))
        while True:
            self._sync()
            if s.abort_requested and s.status not in _ENDED:
                if s.status not in _STOPPED:
                    self._emit(EventKind.HALTED, wave=s.wave, reason="aborted by an operator")
                self._roll_back()
                return s
            if s.status in _STOPPED:
                if self.plan.rollback == "automatic" or s.approvals:
                    self._roll_back()
                elif s.status == RolloutStatus.HALTED:
                    self._emit(EventKind.PAUSED, wave=s.wave, reason="a gate failed: approve to roll back",
                               needs_approval=True)
                return s
            if s.status != RolloutStatus.RUNNING and not self._waiting_for_data():
                return s  # paused by an operator, or awaiting approval (the engine's no-data wait goes on)
            if s.undecided:  # stopped between an evaluation and its decision
                self._decide_logged()
                continue
            if s.wave >= len(self.plan.waves):
                self._emit(EventKind.COMPLETED)
                return s
            self._run_wave(s.wave, self.plan.waves[s.wave])

    def _run_wave(self, index: int, wave: Wave) -> None:
        s = self.state
        if index not in s.wave_started_at:
            self._emit(EventKind.WAVE_STARTED, wave=index, name=wave.name, node_share=wave.node_share,
                       bake_s=wave.bake_s)
        clusters = self.plan.clusters_of(wave, self.fleet)
        pending = [c for c in clusters if (index, c.name) not in s.applied]
        if pending and not self._projection_allows(index, pending, wave):
            return
        size = self.plan.max_parallel_clusters
        for start in range(0, len(pending), size):
            if s.status != RolloutStatus.RUNNING:
                return
            self._apply_batch(index, wave, pending[start:start + size])
        self._bake(index, wave)

    def _apply_batch(self, index: int, wave: Wave, batch: list[Cluster]) -> None:
        """``apply_started`` for the batch (with what the actuator must remember, read before
        anything changes), the applies, then ``applied``: one commit each."""
        share = wave.node_share
        t = self.clock.now()
        starting = [(EventKind.APPLY_STARTED, t, index, c.name, {"share": share, **self.actuator.prepare(c.name, share)})
                    for c in batch if (index, c.name) not in self.state.applying]
        if starting:
            self._write(starting)
        if self.actuator.parallel_applies and len(batch) > 1:
            with ThreadPoolExecutor(max_workers=len(batch)) as pool:
                list(pool.map(lambda c: self.actuator.apply(c.name, share), batch))
        else:
            for c in batch:
                self.actuator.apply(c.name, share)
        t = self.clock.now()
        self._write([(EventKind.APPLIED, t, index, c.name, {"share": share}) for c in batch])

    def _projection_allows(self, index: int, pending: list[Cluster], wave: Wave) -> bool:
        """Before applying: project the measured (else analysed) profiles onto the wave."""
        spec = next((g for g in self.plan.gates if g.kind == "projection"), None)
        if spec is None:
            return True
        if self._waiting_for_data() and not self._wait_for_next_evaluation(self.state.last_projection.get(index)):
            return False
        profiles = self.source.measured_profiles() or self.analysed_profiles
        shares = {c.name: max(wave.node_share, self.state.shares.get(c.name, 0.0)) for c in pending}
        results = evaluate_projection(spec, profiles, pending, shares)
        return self._record(index, results, before_apply=True)

    def _bake(self, index: int, wave: Wave) -> None:
        """Evaluate the gates every ``gate_interval_s`` from the wave's last apply, the last time
        at the bake's end, then pass the wave; after a restart, from the last logged evaluation."""
        s = self.state
        applied_at = [t for (w, _), t in s.applied.items() if w == index]
        bake_start = max(applied_at) if applied_at else s.wave_started_at.get(index, 0.0)
        bake_end = bake_start + wave.bake_s
        last = s.last_evaluation.get(index, bake_start)  # the last evaluation's time
        while s.status == RolloutStatus.RUNNING or self._waiting_for_data():
            if last >= bake_end - 1e-9 and s.status == RolloutStatus.RUNNING:
                self._emit(EventKind.WAVE_PASSED, wave=index, name=wave.name)
                return
            due = max(last, bake_start) + self.plan.gate_interval_s
            if last < bake_end - 1e-9:  # the last evaluation falls at the bake's end; waiting for
                due = min(due, bake_end)  # data past it goes on every interval
            self.clock.advance(due - self.clock.now())
            self._sync()
            if not (s.status == RolloutStatus.RUNNING or self._waiting_for_data()) or s.abort_requested:
                return
            last = self.clock.now()  # also when no gate is evaluated (a plan without gates)
            if not self._record(index, self._evaluate_gates()):
                if not self._waiting_for_data():
                    return

    def _evaluate_gates(self) -> list[GateResult]:
        signals = self.source.signals(self.plan.gate_interval_s)
        reached = [name for name, share in self.state.shares.items() if share > 0]
        return [evaluate(spec, signals, cluster) for spec in self.plan.gates if spec.kind != "projection"
                for cluster in reached]

    def _record(self, index: int, results: list[GateResult], before_apply: bool = False) -> bool:
        """Log all results in one commit (but none whose key is logged already), then decide."""
        t = self.clock.now()
        rows, keys = [], set(self.state.gate_keys)
        for r in results:
            key = (t, r.gate, r.cluster, r.threshold)
            if key not in keys:
                keys.add(key)
                rows.append((EventKind.GATE, t, index, r.cluster, r.as_json() | {"before_apply": before_apply}))
        if rows:
            self._write(rows)
        self.state.undecided = []  # decided now, in this process
        return self._decide(index, results, before_apply, t)

    def _decide_logged(self) -> None:
        """Decide on the last logged evaluation, as the stopped engine would have."""
        events, self.state.undecided = self.state.undecided, []
        results = [GateResult.of(e.data["gate"], e.data["cluster"], e.data["status"], e.data["value"],
                                 e.data["threshold"], e.data["detail"]) for e in events]
        self._decide(events[0].wave or 0, results, bool(events[0].data.get("before_apply")), events[0].t)

    def _decide(self, index: int, results: list[GateResult], before_apply: bool, at: float) -> bool:
        """Halt on a failure (counted ``failures_to_halt`` times), pause on no-data, on the
        results of the evaluation at ``at`` rollout seconds. True: go on."""
        needed = {g.kind: g.failures_to_halt for g in self.plan.gates}
        failed = [r for r in results if r.status == "fail"
                  and self.state.gate_failures.get((index, r.gate, r.cluster), 0) >= needed.get(r.gate, 1)]
        if failed:
            worst = failed[0]
            self._emit(EventKind.HALTED, wave=index,
                       reason=f"gate {worst.gate} failed on {worst.cluster}: {worst.detail}",
                       gate=worst.gate, cluster_failed=worst.cluster, value=worst.value, threshold=worst.threshold,
                       failed=[r.as_json() for r in failed[:20]], before_apply=before_apply)
            return False
        return self._no_data(index, results, at)

    # --- no data (issue 14): pause, keep evaluating, resume on data, halt past the timeout ------
    def _waiting_for_data(self) -> bool:
        """Paused by the engine itself for a gate without data (not by an operator)."""
        s = self.state
        return s.status == RolloutStatus.PAUSED and s.paused_for_no_data and not s.abort_requested

    def _wait_for_next_evaluation(self, last: float | None) -> bool:
        """Waiting for data before a wave is applied (the projection): let ``gate_interval_s``
        pass after the last evaluation at ``last`` rollout seconds (None: from now), as the bake
        does. True: still waiting, evaluate again; False: an operator paused or aborted meanwhile."""
        now = self.clock.now()
        self.clock.advance((now if last is None else last) + self.plan.gate_interval_s - now)
        self._sync()
        return self._waiting_for_data()

    def _no_data(self, index: int, results: list[GateResult], at: float) -> bool:
        """Pause on the first no-data (as before); halt once a gate has had no data on a cluster
        for longer than the plan's ``no_data_timeout_s`` at the evaluation's time ``at`` (the
        first no-data's time is in the log, so a restart changes nothing); resume when every
        gate has data again. True: go on."""
        s = self.state
        no_data = [r for r in results if r.status == "no-data"]
        if not no_data:
            if self._waiting_for_data():
                self._emit(EventKind.RESUMED, wave=index)
            return True
        expired = [r for r in no_data if at - s.no_data_since.get((r.gate, r.cluster), at)
                   > self.plan.no_data_timeout_s + 1e-9]
        if expired:
            r = expired[0]
            since = s.no_data_since[(r.gate, r.cluster)]
            self._emit(EventKind.HALTED, wave=index, gate=r.gate, cluster_failed=r.cluster,
                       reason=f"gate {r.gate} has had no data on {r.cluster} for {at - since:.0f} s (over the "
                              f"plan's no_data_timeout_s {self.plan.no_data_timeout_s:g}): {r.detail}")
            return False
        if s.status == RolloutStatus.RUNNING:
            r = no_data[0]
            self._emit(EventKind.PAUSED, wave=index, reason=f"gate {r.gate} has no data on {r.cluster}: {r.detail}",
                       needs_approval=False, no_data=True)
        return False

    def _roll_back(self) -> None:
        """Roll back every cluster the change reached — at once when the actuator allows it, each
        on its own: a cluster whose rollback fails is logged ``rollback_pending`` with the reason
        and never stops the others; the rollout is rolled back once none is pending."""
        s = self.state
        todo = [c for c, share in sorted(s.shares.items()) if share > 0 and c not in s.rolled_back]
        if self.actuator.parallel_applies and len(todo) > 1:
            starting: list[tuple] = [(EventKind.ROLLBACK_STARTED, self.clock.now(), s.wave, c, {})
                                     for c in todo if c not in s.rolling_back]
            if starting:
                self._write(starting)
            with ThreadPoolExecutor(max_workers=min(len(todo), ROLLBACK_THREADS)) as pool:
                outcomes = list(pool.map(self._rollback_one, todo))
            self._write([self._rollback_outcome(c, reason) for c, reason in zip(todo, outcomes, strict=True)])
        else:
            for cluster in todo:
                if cluster not in s.rolling_back:
                    self._emit(EventKind.ROLLBACK_STARTED, wave=s.wave, cluster=cluster)
                self._write([self._rollback_outcome(cluster, self._rollback_one(cluster))])
        if s.status != RolloutStatus.ROLLED_BACK and not s.rollback_pending:
            self._emit(EventKind.ROLLED_BACK)

    def _rollback_one(self, cluster: str) -> str | None:
        """Roll ``cluster`` back; None when done, else why not (the target's error)."""
        try:
            self.actuator.rollback(cluster)
        except WaveguardError as exc:
            return str(exc)
        return None

    def _rollback_outcome(self, cluster: str, reason: str | None) -> tuple:
        if reason is None:
            return (EventKind.ROLLED_BACK, self.clock.now(), self.state.wave, cluster, {})
        return (EventKind.ROLLBACK_PENDING, self.clock.now(), self.state.wave, cluster, {"reason": reason})
