"""A finished rollout read back from its state file, in the shapes ``rollout report`` draws.

Everything comes from the event log (the only source of truth): the plan and backend of the
``started`` event, each wave's start, applies and end, every gate result as a time series per
(gate, cluster) — no-data results are NaN, a gap — the halt with its failed results, and the
projection made for the wave that halted. Times in rollout seconds from the start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from waveguard.model.errors import InputError
from waveguard.rollout.eventlog import Event, EventLog
from waveguard.rollout.gates.registry import APISERVER_DOWN_DETAIL
from waveguard.rollout.state import RolloutState, fold


@dataclass
class GateSeries:
    """One gate on one cluster: ``t`` (s) and ``value`` (the gate's unit; NaN: no data, or no
    apiserver up), shape (N,) each; ``status`` per result (pass / fail / no-data, and "down": a
    fail because no apiserver replica was up, with no figure read — older state files logged
    0.0 there); the thresholds it was held to."""

    gate: str
    cluster: str
    t: np.ndarray
    value: np.ndarray
    status: list[str]
    thresholds: list[float]

    @property
    def failed(self) -> bool:
        """A result failed, or no apiserver was up (a series worth drawing close up)."""
        return "fail" in self.status or "down" in self.status


@dataclass
class WaveRow:
    """One wave of the plan and what became of it (times in s; None: never happened)."""

    index: int
    name: str
    node_share: float
    bake_s: float
    clusters: int
    started_s: float | None = None
    applied: int = 0
    ended_s: float | None = None
    outcome: str = "not reached"


@dataclass
class RolloutRecord:
    """What ``rollout report`` renders: the state file's path, its events and their fold, the
    plan's waves, the gate series, and the simulator's seed (None on real clusters)."""

    path: str
    events: list[Event]
    state: RolloutState
    change: str
    waves: list[WaveRow]
    gates: dict[str, dict[str, GateSeries]] = field(default_factory=dict)
    seed: int | None = None
    backend: str = "sim"

    @property
    def end_s(self) -> float:
        return max((e.t for e in self.events), default=0.0)

    @property
    def halt(self) -> dict[str, Any] | None:
        return self.state.halt


def read_rollout(path: str | Path) -> RolloutRecord:
    """Read the state file at ``path``. Raises InputError (naming it) when it is missing, not a
    waveguard state database, or holds no started rollout."""
    log = EventLog(path, read_only=True)
    try:
        events = log.events()
    finally:
        log.close()
    if not events or events[0].kind != "started":
        raise InputError(str(path), "the state database holds no started rollout",
                         hint="give the --state of a rollout started with waveguard rollout start")
    started = events[0].data
    plan = started.get("plan") or {}
    backend = started.get("backend") or {}
    seed = backend.get("seed") if backend.get("kind", "sim") == "sim" else None
    return RolloutRecord(path=str(path), events=events, state=fold(events), change=str(plan.get("change", "")),
                         waves=_waves(plan, events), gates=gate_series(events),
                         seed=int(seed) if isinstance(seed, (int, float)) else None,
                         backend=f"{backend.get('kind', 'sim')} (signals: {backend.get('signals', 'sim')})")


def _waves(plan: dict, events: list[Event]) -> list[WaveRow]:
    rows = [WaveRow(index=i, name=str(w.get("name", i)), node_share=float(w.get("node_share", 1.0)),
                    bake_s=float(w.get("bake_s", 0.0)), clusters=len((w.get("clusters") or {}).get("names") or []))
            for i, w in enumerate(plan.get("waves") or [])]
    for e in events:
        if e.wave is None or not 0 <= e.wave < len(rows):
            continue
        row = rows[e.wave]
        if e.kind == "wave_started":
            row.started_s, row.outcome = e.t, "baking"
        elif e.kind == "applied":
            row.applied += 1
        elif e.kind == "wave_passed":
            row.ended_s, row.outcome = e.t, "passed"
        elif e.kind == "halted":
            row.ended_s, row.outcome = e.t, "halted"
    return rows


def gate_series(events: list[Event]) -> dict[str, dict[str, GateSeries]]:
    """Gate results read during the bakes (not the projections before an apply): gate → cluster
    → its series, in the order the gates first reported."""
    raw: dict[str, dict[str, list[tuple[float, float, str, float]]]] = {}
    for e in events:
        if e.kind != "gate" or e.data.get("before_apply"):
            continue
        value = e.data.get("value")
        status = str(e.data.get("status"))
        if status == "fail" and e.data.get("detail") == APISERVER_DOWN_DETAIL:
            status = "down"  # nothing was read: a gap (older state files logged a value of 0.0 here)
        number = float(value) if isinstance(value, (int, float)) and status not in ("no-data", "down") else np.nan
        raw.setdefault(str(e.data.get("gate")), {}).setdefault(str(e.data.get("cluster")), []).append(
            (e.t, number, status, float(e.data.get("threshold", np.nan))))
    out: dict[str, dict[str, GateSeries]] = {}
    for gate, clusters in raw.items():
        out[gate] = {}
        for cluster, rows in clusters.items():
            out[gate][cluster] = GateSeries(
                gate=gate, cluster=cluster, t=np.array([r[0] for r in rows]), value=np.array([r[1] for r in rows]),
                status=[r[2] for r in rows], thresholds=sorted({r[3] for r in rows if r[3] == r[3]}))
    return out


def projection_for_halt(record: RolloutRecord) -> tuple[str, list[dict[str, Any]]]:
    """The projection results (gate event payloads) behind the halt: those of the halt itself
    when the projection halted the rollout, else the last projection made for the wave that
    halted (what it expected before the apply). A caption and the results, worst first; empty
    when the rollout did not halt or made no projection."""
    halt = record.halt
    if halt is None:
        return "", []
    wave = halt.get("wave")
    made = [e for e in record.events if e.kind == "gate" and e.data.get("before_apply") and e.wave == wave]
    if not made:
        return "", []
    last_t = max(e.t for e in made)
    results = sorted((dict(e.data) for e in made if e.t == last_t), key=lambda d: -(d.get("value") or 0.0))
    if halt.get("gate") == "projection":
        return "the projection that halted the rollout, before the wave was applied", results
    return "what the projection expected of the wave that halted (it passed; the gates during the bake did not)", results
