"""The wave engine: a state machine per wave and cluster, driven by the event log.

pending → applying → baking → passed, or halted → rolling back → rolled back.

Every decision is appended to the :class:`~waveguard.rollout.eventlog.EventLog` before it is
acted on; the engine's position is always recomputed from the log, so ``run`` after a crash
(kill -9 at any point) continues where the log stops: an ``apply_started`` without its
``applied`` is re-applied (the target's apply is idempotent) and logged once; a halt is never
forgotten. Targets (the simulator now, real clusters later) sit behind :class:`Target`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

from waveguard.model.fleet import Fleet
from waveguard.model.requests import RequestProfile
from waveguard.rollout.eventlog import Event, EventLog, RolloutState
from waveguard.rollout.gates import GateResult, Signals, evaluate, evaluate_projection
from waveguard.rollout.plan import Plan, Wave


class Target(Protocol):
    """Where a rollout acts. Times in seconds on the rollout clock."""

    def now(self) -> float:
        """Seconds since the rollout started (simulated or wall clock)."""

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass (the simulator steps; a real target sleeps)."""

    def apply(self, cluster: str, share: float) -> None:
        """Make the change run on ``share`` of the cluster's nodes. Idempotent."""

    def rollback(self, cluster: str) -> None:
        """Remove the change from the cluster (restore the previous objects). Idempotent."""

    # Optional: ``prepare(cluster, share) -> dict`` — called once before the first apply of a
    # (wave, cluster); what it returns is written into that ``apply_started`` event (e.g. the
    # objects the apply will replace, which ``restore`` reads back after a restart).

    def signals(self, window_s: float) -> Signals:
        """The gates' source of metrics and probes; counter rates over ``window_s`` seconds."""

    def measured_profiles(self) -> list[RequestProfile]:
        """The change's request profiles as observed where it runs (empty before it runs)."""

    def restore(self, events: list[Event]) -> None:
        """Rebuild the target's view after a restart from the logged events."""


class Killed(Exception):
    """Raised by a fault injector to stop the engine as a crash would (tests only)."""


@dataclass
class Engine:
    """Runs ``plan`` over ``fleet`` on ``target``, recording to ``log``.

    ``analysed_profiles``: the change's profiles from ``analyse`` (the projection's input
    before any measurement). ``on_event`` is called with every event written (progress bars,
    ``--json`` streaming). ``fault`` is called before every write (tests inject crashes).
    """

    plan: Plan
    fleet: Fleet
    target: Target
    log: EventLog
    analysed_profiles: list[RequestProfile]
    on_event: Callable[[Event], None] | None = None
    fault: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        events = self.log.events()
        self.state = RolloutState()
        for e in events:
            self.state.apply(e)
        self.target.restore(events)

    # --- writing -------------------------------------------------------------------------------
    def _write(self, rows: list[tuple]) -> list[Event]:
        if self.fault is not None:
            self.fault()
        written = self.log.append_many(rows)
        self._sync()  # ours and anything another process (pause, abort) wrote in between, in order
        return written

    def _emit(self, kind: str, *, wave: int | None = None, cluster: str | None = None, **data) -> Event:
        return self._write([(kind, self.target.now(), wave, cluster, data)])[0]

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
        if s.status == "new":
            self._emit("started", plan=self.plan.model_dump(mode="json"), fleet_model=self.fleet.model_dump(mode="json"))
        while True:
            self._sync()
            if s.abort_requested and s.status not in ("rolled_back", "completed"):
                if s.status != "halted" and s.status != "rolling_back":
                    self._emit("halted", wave=s.wave, reason="aborted by an operator")
                self._roll_back()
                return s
            if s.status in ("halted", "rolling_back"):
                if self.plan.rollback == "automatic" or s.approvals:
                    self._roll_back()
                elif s.status == "halted":
                    self._emit("paused", wave=s.wave, reason="a gate failed: approve to roll back",
                               needs_approval=True)
                return s
            if s.status != "running":
                return s
            if s.wave >= len(self.plan.waves):
                self._emit("completed")
                return s
            self._run_wave(s.wave, self.plan.waves[s.wave])

    def _run_wave(self, index: int, wave: Wave) -> None:
        s = self.state
        if index not in s.wave_started_at:
            self._emit("wave_started", wave=index, name=wave.name, node_share=wave.node_share, bake_s=wave.bake_s)
        clusters = self.plan.clusters_of(wave, self.fleet)
        pending = [c for c in clusters if (index, c.name) not in s.applied]
        if pending and not self._projection_allows(index, pending, wave):
            return
        for c in pending:
            if s.status != "running":
                return
            if (index, c.name) not in s.applying:
                # A target that must remember what it replaces (real clusters) reads it now, so
                # that it is logged before anything changes.
                prepare = getattr(self.target, "prepare", None)
                extra = prepare(c.name, wave.node_share) if prepare is not None else {}
                self._emit("apply_started", wave=index, cluster=c.name, share=wave.node_share, **extra)
            self.target.apply(c.name, wave.node_share)
            self._emit("applied", wave=index, cluster=c.name, share=wave.node_share)
        self._bake(index, wave)

    def _projection_allows(self, index: int, pending, wave: Wave) -> bool:
        """Before applying: project the measured (else analysed) profiles onto the wave."""
        spec = next((g for g in self.plan.gates if g.kind == "projection"), None)
        if spec is None:
            return True
        profiles = self.target.measured_profiles() or self.analysed_profiles
        shares = {c.name: max(wave.node_share, self.state.shares.get(c.name, 0.0)) for c in pending}
        results = evaluate_projection(spec, profiles, pending, shares)
        return self._record(index, results, before_apply=True)

    def _bake(self, index: int, wave: Wave) -> None:
        s = self.state
        applied_at = [t for (w, _), t in s.applied.items() if w == index]
        bake_end = (max(applied_at) if applied_at else s.wave_started_at.get(index, 0.0)) + wave.bake_s
        while s.status == "running":
            now = self.target.now()
            if now >= bake_end - 1e-9:
                self._emit("wave_passed", wave=index, name=wave.name)
                return
            self.target.advance(min(self.plan.gate_interval_s, bake_end - now))
            self._sync()
            if s.status != "running" or s.abort_requested:
                return
            if not self._record(index, self._evaluate_gates()):
                return

    def _evaluate_gates(self) -> list[GateResult]:
        signals = self.target.signals(self.plan.gate_interval_s)
        reached = [name for name, share in self.state.shares.items() if share > 0]
        return [evaluate(spec, signals, cluster) for spec in self.plan.gates if spec.kind != "projection"
                for cluster in reached]

    def _record(self, index: int, results: list[GateResult], before_apply: bool = False) -> bool:
        """Log all results in one commit; halt on a failure, pause on no-data. True: go on."""
        t = self.target.now()
        rows = [("gate", t, index, r.cluster, r.as_json() | {"before_apply": before_apply}) for r in results]
        if rows:
            self._write(rows)
        needed = {g.kind: g.failures_to_halt for g in self.plan.gates}
        failed = [r for r in results if r.status == "fail"
                  and self.state.gate_failures.get((index, r.gate, r.cluster), 0) >= needed.get(r.gate, 1)]
        if failed:
            worst = failed[0]
            self._emit("halted", wave=index, reason=f"gate {worst.gate} failed on {worst.cluster}: {worst.detail}",
                       gate=worst.gate, cluster_failed=worst.cluster, value=worst.value, threshold=worst.threshold,
                       failed=[r.as_json() for r in failed[:20]], before_apply=before_apply)
            return False
        no_data = [r for r in results if r.status == "no-data"]
        if no_data:
            r = no_data[0]
            self._emit("paused", wave=index, reason=f"gate {r.gate} has no data on {r.cluster}: {r.detail}",
                       needs_approval=False)
            return False
        return True

    def _roll_back(self) -> None:
        s = self.state
        for cluster, share in sorted(s.shares.items()):
            if share <= 0 or cluster in s.rolled_back:
                continue
            if cluster not in s.rolling_back:
                self._emit("rollback_started", wave=s.wave, cluster=cluster)
            self.target.rollback(cluster)
            self._emit("rolled_back", wave=s.wave, cluster=cluster)
        if s.status != "rolled_back":
            self._emit("rolled_back")
