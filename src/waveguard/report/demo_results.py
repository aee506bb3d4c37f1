"""The demo's results, as the demo (:mod:`waveguard.demo`) fills them and ``report`` renders them.

They live in ``report`` because the demo sits on the top row of docs/architecture.md: the demo
imports ``report`` to render, and nothing but the CLI imports the demo. ``as_json`` gives the
``waveguard demo -o json`` shapes. Times in simulated seconds from the start of the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StrategyResult:
    """One strategy's outcome. Times in simulated seconds; ``blast_radius_pct``: highest share
    of production nodes that ran the change at once; ``impact_minutes``: customer-impact
    minutes summed over production clusters."""

    name: str
    blast_radius_pct: float
    halted_at_s: float | None
    saturated_clusters: int
    impact_minutes: float
    rolled_back: bool
    halt_reason: str | None = None
    fired: dict | None = None  # the failed gate result that halted the rollout
    projections: list[dict] = field(default_factory=list)  # projection gate results, latest wave
    reached_clusters: int = 0
    #: Per step, for the report's plots: t (s), production_share_pct, saturated_clusters (now),
    #: saturated_so_far, apiserver_down_clusters (production clusters with no replica up), error_ratio,
    #: impacted_clusters (production clusters with a workload error ratio ≥ IMPACT_ERROR_RATIO).
    timeline: dict[str, list[float]] = field(default_factory=dict)
    waves: list[tuple[float, str]] = field(default_factory=list)  # (t, name) of each wave's start
    production_clusters: int = 0

    def as_json(self) -> dict:
        return {"name": self.name, "blast_radius_pct": round(self.blast_radius_pct, 3),
                "halted_at_s": self.halted_at_s, "saturated_clusters": self.saturated_clusters,
                "impact_minutes": round(self.impact_minutes, 1), "rolled_back": self.rolled_back,
                "halt_reason": self.halt_reason, "reached_clusters": self.reached_clusters}


@dataclass
class RollbackOutcome:
    """One cluster's rollback. Times in simulated seconds from the start; ``duration_s`` None:
    not completed by the end of the run; ``recovered_at_s``: start of the first minute after the
    rollback started with no saturation symptom (no 429s, p99 within the SLOs, a replica up)."""

    cluster: str
    nodes: int
    priority_level: str
    saturated_at_s: float | None
    started_at_s: float
    completed_at_s: float | None
    duration_s: float | None
    rejected: int
    failed: int
    queue_wait_s: float
    backoff_s: float
    recovered_at_s: float | None
    oom_kills: int
    etcd_timeouts: int = 0  # of ``failed``: 500 "etcdserver: request timed out" (etcd had no leader)
    leaderless_s: float = 0.0  # seconds, while the rollback ran, that the cluster's etcd had no leader

    def as_json(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


@dataclass
class BreakglassCase:
    """One run of the incident with the rollback: ``isolated`` says whether the generated
    isolation was installed; ``timeline``: the largest cluster's series for the report."""

    name: str
    isolated: bool
    rollbacks: list[RollbackOutcome]
    timeline: dict[str, list[float]] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"name": self.name, "isolated": self.isolated, "rollbacks": [r.as_json() for r in self.rollbacks]}


@dataclass
class BreakglassResult:
    """The incident's rollback without and with isolation, sent as ``identity`` on the largest
    clusters when their saturation alert fires."""

    scenario: str
    change: str
    identity: str
    cases: list[BreakglassCase]

    def case(self, isolated: bool) -> BreakglassCase:
        return next(c for c in self.cases if c.isolated == isolated)

    def speedup(self) -> float | None:
        """Slowest rollback without isolation ÷ slowest with it (an incomplete rollback counts
        as the time it had until the end of the run); None when either case has none."""
        without, with_ = (_slowest(self.case(False)), _slowest(self.case(True)))
        return None if not without or not with_ else without / with_

    def leaderless_s(self, isolated: bool) -> float:
        """Longest time (s) a target's etcd had no leader while the ``isolated`` case's rollback ran."""
        return max((r.leaderless_s for r in self.case(isolated).rollbacks), default=0.0)

    def as_json(self) -> dict:
        speedup = self.speedup()
        return {"scenario": self.scenario, "change": self.change, "identity": self.identity,
                "speedup": None if speedup is None else round(speedup, 1),
                "cases": [c.as_json() for c in self.cases]}


def _slowest(case: BreakglassCase) -> float | None:
    end = case.timeline["t"][-1] if case.timeline.get("t") else None
    times = [r.duration_s if r.duration_s is not None else (end - r.started_at_s if end else None)
             for r in case.rollbacks]
    known = [t for t in times if t is not None]
    return max(known) if known else None


@dataclass
class DemoResult:
    """The three strategies on the incident, waveguard on a change whose cost only production
    traffic reveals, and (``--breakglass``) the incident's rollback without and with isolation."""

    scenario: str
    strategies: list[StrategyResult]
    production_traffic: StrategyResult | None
    breakglass: BreakglassResult | None = None
    seed: int | None = None  # the simulator's seed every run used (not in as_json: the figures' shape is pinned)

    def as_json(self) -> dict:
        out = {"scenario": self.scenario, "strategies": [r.as_json() for r in self.strategies],
               "production_traffic_case": self.production_traffic.as_json() if self.production_traffic else None}
        if self.breakglass is not None:
            out["breakglass"] = self.breakglass.as_json()
        return out
