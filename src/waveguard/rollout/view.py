"""The live view's model: what ``rollout status --watch``, ``start``/``resume`` and the dashboard
show, built from the fold of the event log (:class:`~waveguard.rollout.state.RolloutState`) by
one pure function, :func:`build_view`.

The fold keeps where the rollout stands; what a view needs besides (each gate's latest result
per cluster, each gate's series, the last events) is kept by :class:`LiveFold`, which advances
both one event at a time, so a view of a growing log costs only the new events.

Times are rollout seconds (the log's ``t``: simulated seconds for the simulator, wall seconds
for real clusters); shares are node shares 0..1; gate values and thresholds are in the gate's
unit (its registration: seconds, ratio, requests/s).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from waveguard.rollout.events import Event, EventKind
from waveguard.rollout.state import RolloutState

#: Events kept for "the last events" (non-gate events; a gate result is shown in the gate table).
LAST_EVENTS = 8
#: Points kept per gate series (the dashboard's charts); older ones are dropped.
SERIES_POINTS = 2000
#: (wall, rollout time) pairs kept to measure how fast the rollout's clock runs.
CLOCK_POINTS = 64


@dataclass(frozen=True)
class GatePoint:
    """One gate result: rollout time ``t``, ``status`` (pass, fail, no-data), ``value`` (None:
    no data), ``threshold``, in the gate's unit."""

    t: float
    gate: str
    cluster: str
    status: str
    value: float | None
    threshold: float
    detail: str
    before_apply: bool


@dataclass
class LiveFold:
    """The fold of a log plus what a view needs besides: advanced one event at a time."""

    state: RolloutState = field(default_factory=RolloutState)
    plan: dict[str, Any] | None = None  # the started event's plan (a Plan dump)
    #: Each wave's clusters ({"name", "nodes"}), from the started event's plan and fleet.
    members: list[list[dict[str, Any]]] = field(default_factory=list)
    latest: dict[tuple[str, str], GatePoint] = field(default_factory=dict)  # (gate, cluster) → last result
    #: gate → [(t, worst value at t or None for no data, threshold)], one point per evaluation.
    series: dict[str, deque] = field(default_factory=dict)
    events: deque = field(default_factory=lambda: deque(maxlen=LAST_EVENTS))
    #: (wall seconds, rollout seconds) of the last events whose writing time is known.
    clock: deque = field(default_factory=lambda: deque(maxlen=CLOCK_POINTS))

    def apply(self, e: Event, wall: float | None = None) -> None:
        """Advance by one event written at ``wall`` (Unix seconds; None: unknown). Raises
        InputError for an unreadable payload, as the fold does."""
        self.state.apply(e)
        if wall is not None:
            self.clock.append((wall, e.t))
        if e.kind == EventKind.STARTED:
            self.plan = e.data.get("plan")
            self.members = _wave_members((self.plan or {}).get("waves", []),
                                         (e.data.get("fleet_model") or {}).get("clusters", []))
        if e.kind == EventKind.GATE:
            self._gate(e)
        else:
            self.events.append(e)

    def _gate(self, e: Event) -> None:
        d = e.data
        point = GatePoint(e.t, d["gate"], d["cluster"], d["status"], d.get("value"), d["threshold"],
                          d.get("detail", ""), bool(d.get("before_apply", False)))
        self.latest[(point.gate, point.cluster)] = point
        if point.before_apply:
            return  # a projection before the apply: not a reading of the fleet
        series = self.series.setdefault(point.gate, deque(maxlen=SERIES_POINTS))
        if series and series[-1][0] == point.t:  # the same evaluation: keep the worst value
            _, worst, threshold = series[-1]
            if point.value is not None and (worst is None or point.value > worst):
                series[-1] = (point.t, point.value, threshold)
        else:
            series.append((point.t, point.value, point.threshold))


@dataclass(frozen=True)
class WaveView:
    """One wave of the plan: ``where`` is done, current, halted or pending."""

    index: int
    name: str
    clusters: int
    node_share: float
    bake_s: float
    where: str


@dataclass(frozen=True)
class ClusterView:
    """A cluster of the current wave: ``state`` (pending, applying, baking, passed, halted,
    rolling_back, rollback_pending, rolled_back), the node ``share`` running the change now
    and the wave's ``target`` share, ``nodes`` its node count."""

    name: str
    state: str
    share: float
    target: float
    nodes: int


@dataclass(frozen=True)
class GateView:
    """A gate's latest evaluation: the worst cluster's result (failing first, then no data,
    then the highest value), with how many clusters passed, failed, had no data."""

    gate: str
    unit: str
    status: str
    value: float | None
    threshold: float
    cluster: str
    t: float
    passed: int
    failed: int
    no_data: int


@dataclass(frozen=True)
class EventView:
    """One of the last events, as a line: rollout time, kind, wave, cluster, text."""

    seq: int
    t: float
    kind: str
    wave: int | None
    cluster: str | None
    text: str


@dataclass(frozen=True)
class BakeView:
    """The current wave's bake: started at ``start`` (its last apply), ``elapsed`` and
    ``remaining`` seconds at the view's time, of ``bake_s``."""

    start: float
    elapsed: float
    remaining: float
    bake_s: float


@dataclass(frozen=True)
class RolloutView:
    """Everything a live view shows, at rollout time ``t`` (the last event's, or the clock
    estimated from it, :func:`rollout_now`)."""

    status: str
    t: float
    seq: int
    wave: int | None  # the current wave's index (None: none yet, or all passed)
    waves: list[WaveView]
    bake: BakeView | None
    clusters: list[ClusterView]
    gates: list[GateView]
    events: list[EventView]
    halt: dict[str, Any] | None
    pause_reason: str | None
    series: dict[str, list[tuple[float, float | None, float]]]


def rollout_now(live: LiveFold, wall_now: float) -> float:
    """The rollout's clock at ``wall_now`` (Unix seconds), for a running rollout: the last
    event's time advanced at the pace the log shows (rollout seconds per wall second over its
    last events: 1 for real clusters, the time scale for a paced simulator), never past the next
    gate evaluation (``gate_interval_s`` after the last event). Else the last event's time."""
    s = live.state
    if s.status != "running" or len(live.clock) < 2:
        return s.last_t
    (w0, t0), (w1, t1) = live.clock[0], live.clock[-1]
    if w1 <= w0 or t1 <= t0:
        return s.last_t
    interval = float((live.plan or {}).get("gate_interval_s", 30.0))
    ahead = (wall_now - w1) * (t1 - t0) / (w1 - w0)
    return s.last_t + min(max(0.0, ahead), interval)


def build_view(live: LiveFold, *, now: float | None = None, with_series: bool = False) -> RolloutView:
    """The view of ``live`` (pure: reads, never changes it) at rollout time ``now`` (None: the
    last event's; see :func:`rollout_now`). ``with_series`` adds each gate's series (the
    dashboard's charts; the terminal does not draw them)."""
    s = live.state
    now = s.last_t if now is None else max(now, s.last_t)
    waves = (live.plan or {}).get("waves", [])
    members = live.members
    current = _current_wave(s, len(waves))
    return RolloutView(
        status=str(s.status), t=now, seq=s.last_seq, wave=current,
        waves=[WaveView(i, w["name"], len(members[i]), float(w.get("node_share", 1.0)), float(w["bake_s"]),
                        _where(s, i, current)) for i, w in enumerate(waves)],
        bake=_bake(s, waves, current, now),
        clusters=_clusters(s, members, waves, current),
        gates=_gates(live),
        events=[_event_view(e) for e in reversed(live.events)],
        halt=s.halt, pause_reason=s.pause_reason,
        series={g: list(points) for g, points in live.series.items()} if with_series else {})


def _wave_members(waves: list[dict], clusters: list[dict]) -> list[list[dict]]:
    """Each wave's clusters (the plan's selector on the fleet, as ``Plan.clusters_of`` does)."""
    from waveguard.model.fleet import Cluster
    from waveguard.rollout.plan.schema import ClusterSelector

    fleet = [Cluster.model_validate(c) for c in clusters]
    out = []
    for w in waves:
        selector = ClusterSelector.model_validate(w["clusters"])
        out.append([{"name": c.name, "nodes": c.nodes} for c in fleet if selector.matches(c)])
    return out


def _current_wave(s: RolloutState, count: int) -> int | None:
    """The wave in progress, halted or last reached; None before the first."""
    if s.halt is not None and s.halt.get("wave") is not None:
        return int(s.halt["wave"])
    if not s.wave_started_at:
        return None
    return min(s.wave, count - 1) if count else None


def _where(s: RolloutState, index: int, current: int | None) -> str:
    """done, current, halted (the current wave of a halted rollout) or pending."""
    if index in s.passed_waves:
        return "done"
    if index == current:
        return "halted" if s.halt is not None else "current"
    return "pending"


def _bake(s: RolloutState, waves: list[dict], current: int | None, now: float) -> BakeView | None:
    """The bake of the current wave once all its clusters are applied (the engine's rule:
    it starts at the last apply); None while applying, before a wave, after a halt."""
    if current is None or current in s.passed_waves or current not in s.wave_started_at or s.halt is not None:
        return None
    applied = [t for (w, _), t in s.applied.items() if w == current]
    if not applied or any(w == current for w, _ in s.applying):
        return None
    start, bake_s = max(applied), float(waves[current]["bake_s"])
    elapsed = min(bake_s, max(0.0, now - start))
    return BakeView(start, elapsed, max(0.0, bake_s - elapsed), bake_s)


def _clusters(s: RolloutState, members: list[list[dict]], waves: list[dict],
              current: int | None) -> list[ClusterView]:
    if current is None:
        return []
    target = float(waves[current].get("node_share", 1.0))
    return [ClusterView(c["name"], str(s.cluster_state.get(c["name"], "pending")), s.shares.get(c["name"], 0.0),
                        target, int(c["nodes"])) for c in members[current]]


def _gates(live: LiveFold) -> list[GateView]:
    """Per gate, its latest evaluation (the results at its latest time) summarised."""
    from waveguard.rollout.gates import GATES

    by_gate: dict[str, list[GatePoint]] = {}
    for (gate, _), p in live.latest.items():
        by_gate.setdefault(gate, []).append(p)
    views = []
    for gate, results in by_gate.items():
        t = max(p.t for p in results)
        points = [p for p in results if p.t == t]
        worst = max(points, key=_severity)
        unit = GATES[gate].unit if gate in GATES else ""
        views.append(GateView(gate, unit, worst.status, worst.value, worst.threshold, worst.cluster, t,
                              sum(p.status == "pass" for p in points), sum(p.status == "fail" for p in points),
                              sum(p.status == "no-data" for p in points)))
    order = {name: i for i, name in enumerate(GATES)}
    return sorted(views, key=lambda v: order.get(v.gate, len(order)))


def _severity(p: GatePoint) -> tuple[int, float]:
    rank = {"fail": 2, "no-data": 1}.get(p.status, 0)
    return rank, p.value if p.value is not None else float("-inf")


def _event_view(e: Event) -> EventView:
    return EventView(e.seq, e.t, str(e.kind), e.wave, e.cluster, _event_text(e))


def _event_text(e: Event) -> str:
    """One short line for an event (its reason or share where it has one)."""
    d = e.data
    if e.kind in (EventKind.HALTED, EventKind.PAUSED, EventKind.ROLLBACK_PENDING):
        return str(d.get("reason") or "")
    if e.kind in (EventKind.APPLY_STARTED, EventKind.APPLIED):
        return f"{float(d.get('share', 0.0)):.0%} of nodes"
    if e.kind in (EventKind.WAVE_STARTED, EventKind.WAVE_PASSED):
        return str(d.get("name", ""))
    return ""
