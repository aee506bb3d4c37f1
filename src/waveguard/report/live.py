"""Render a :class:`~waveguard.rollout.view.RolloutView` in the terminal (rich) or as JSON.

The terminal view fits the console's width: every line is cut with an ellipsis, tables shrink
their columns and drop the optional ones below 80 columns; nothing wraps. Colours follow the
console (rich honours NO_COLOR). Units: times in seconds (shown m:ss), gate figures in the
gate's unit.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from waveguard.rollout.view import ClusterView, GateView, RolloutView

#: Colours of statuses (gates, clusters, the rollout).
STYLE = {"pass": "green", "fail": "bold red", "no-data": "yellow", "applying": "cyan", "baking": "blue",
         "passed": "green", "halted": "bold red", "rolling_back": "magenta", "rollback_pending": "bold magenta",
         "rolled_back": "red", "pending": "dim", "running": "cyan", "completed": "green", "paused": "yellow",
         "awaiting_approval": "yellow", "new": "dim"}
#: Cluster rows shown at most; the rest are counted by state in one line.
MAX_CLUSTER_ROWS = 10
#: Below this many columns the optional columns (counts, worst cluster, nodes) are dropped.
NARROW = 80


def view_json(view: RolloutView) -> dict[str, Any]:
    """The view as a JSON object (the same fields as the terminal shows)."""
    return dataclasses.asdict(view)


def render_view(view: RolloutView, width: int, *, last_event_age_s: float | None = None) -> RenderableType:
    """The live view for a console ``width`` columns wide."""
    narrow = width < NARROW
    parts: list[RenderableType] = [_headline(view, last_event_age_s), _waves(view)]
    if view.bake is not None:
        parts.append(_bake_line(view, width))
    if view.halt:
        parts.append(_line(f"halted: {view.halt.get('reason', '')}", "bold red"))
        if view.halt.get("gate"):
            parts.append(_line("  " + halt_figure(view.halt), "red"))
    if view.pause_reason:
        parts.append(_line(f"paused: {view.pause_reason}", "yellow"))
    if view.clusters:
        parts.append(_clusters(view, narrow))
    if view.gates:
        parts.append(_gates(view.gates, narrow))
    if view.events:
        parts.append(_events(view))
    return Group(*parts)


def _line(text: str, style: str = "") -> Text:
    return Text(text, style=style, no_wrap=True, overflow="ellipsis")


def _headline(view: RolloutView, age: float | None) -> Text:
    wave = f"wave {view.wave} {view.waves[view.wave].name} of {len(view.waves)}" if view.wave is not None else \
        "no wave started"
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append("rollout ")
    line.append(view.status, style=STYLE.get(view.status, ""))
    line.append(f" · t={duration(view.t)} · {wave}")
    if age is not None:
        line.append(f" · last event {age:.0f} s ago", style="dim")
    return line


def _waves(view: RolloutView) -> Table:
    table = _table("", "wave", "clusters", "nodes", "bake", title="waves", flex=("wave",))
    for w in view.waves:
        mark = {"done": "✓", "current": "▶", "halted": "✗"}.get(w.where, " ")
        style = {"current": "bold", "halted": "bold red", "pending": "dim"}.get(w.where, "")
        _row(table, mark, f"{w.index} {w.name}", str(w.clusters), f"{w.node_share:.0%}", duration(w.bake_s),
             style=style)
    return table


def _bake_line(view: RolloutView, width: int) -> Text:
    """``bake [████░░░░] 7:00 of 21:00 · 14:00 left``, the bar taking what the text leaves."""
    bake = view.bake
    assert bake is not None
    tail = f" {duration(bake.elapsed)} of {duration(bake.bake_s)} · {duration(bake.remaining)} left"
    room = max(0, min(30, width - len("bake []") - len(tail)))
    done = round(room * min(1.0, bake.elapsed / bake.bake_s)) if bake.bake_s > 0 else room
    line = Text("bake ", no_wrap=True, overflow="ellipsis")
    if room >= 5:
        line.append("[" + "█" * done, style="blue")
        line.append("░" * (room - done) + "]", style="dim")
    line.append(tail)
    return line


def _clusters(view: RolloutView, narrow: bool) -> RenderableType:
    assert view.wave is not None
    columns = ["cluster", "state", "nodes reached"] + ([] if narrow else ["nodes"])
    table = _table(*columns, title=f"clusters of wave {view.wave} ({view.waves[view.wave].name})",
                   flex=("cluster",))
    rank = {"halted": 0, "rollback_pending": 1, "rolling_back": 2, "applying": 3, "rolled_back": 4, "baking": 5}
    shown = sorted(view.clusters, key=lambda c: (rank.get(c.state, 6), c.name))[:MAX_CLUSTER_ROWS]
    for c in shown:
        _row(table, c.name, _line(c.state.replace("_", " "), STYLE.get(c.state, "")), _reached(c),
             *([] if narrow else [f"{c.nodes:,}"]))
    rest = [c for c in view.clusters if c not in shown]
    if not rest:
        return table
    counts: dict[str, int] = {}
    for c in rest:
        counts[c.state] = counts.get(c.state, 0) + 1
    more = ", ".join(f"{n} {state.replace('_', ' ')}" for state, n in sorted(counts.items()))
    return Group(table, _line(f"… {len(rest)} more: {more}", "dim"))


def _reached(c: ClusterView) -> str:
    return f"{c.share:.0%} of {c.target:.0%}"


def _gates(gates: list[GateView], narrow: bool) -> Table:
    columns = ["gate", "value", "threshold", "result"] + ([] if narrow else ["clusters", "worst"])
    table = _table(*columns, title="gates (latest evaluation, worst cluster)", flex=("gate", "worst"))
    for g in gates:
        counts = f"{g.passed}✓ {g.failed}✗ {g.no_data}?"
        _row(table, g.gate, figure(g.value, g.unit), figure(g.threshold, g.unit),
             _line(g.status, STYLE.get(g.status, "")), *([] if narrow else [counts, g.cluster]))
    return table


def _events(view: RolloutView) -> Table:
    table = _table("t", "event", "cluster", "detail", title="last events", flex=("cluster", "detail"))
    for e in view.events:
        _row(table, duration(e.t), _line(e.kind.replace("_", " "), STYLE.get(e.kind, "")), e.cluster or "", e.text)
    return table


def _table(*columns: str, title: str, flex: tuple[str, ...] = ()) -> Table:
    """A borderless table whose cells never wrap: too narrow, they end in an ellipsis. The
    ``flex`` columns give up their width first (rich narrows wrappable columns before the
    others; their cells are Text that does not wrap, see :func:`_row`)."""
    table = Table(title=_line(title, "bold"), title_justify="left", box=None, pad_edge=False, show_edge=False,
                  padding=(0, 1))
    for name in columns:
        table.add_column(name, no_wrap=name not in flex, overflow="ellipsis", min_width=1)
    return table


def _row(table: Table, *cells: str | Text, style: str = "") -> None:
    """Add a row of cells that never wrap."""
    table.add_row(*(cell if isinstance(cell, Text) else _line(cell) for cell in cells), style=style)


def halt_figure(halt: dict[str, Any]) -> str:
    """``gate on cluster: value against threshold (projected before the apply)``."""
    from waveguard.rollout.gates import GATES

    unit = GATES[halt["gate"]].unit if halt["gate"] in GATES else ""
    where = f" on {halt['cluster_failed']}" if halt.get("cluster_failed") else ""
    projected = ", projected before the apply" if halt.get("before_apply") else ""
    return (f"{halt['gate']}{where}: {figure(halt.get('value'), unit)} against "
            f"{figure(halt.get('threshold'), unit)}{projected}")


def figure(value: float | None, unit: str) -> str:
    """A gate figure with its unit: ``0.84 s``, ``12.5%`` (a ratio), ``30 req/s``; ``no data``."""
    if value is None:
        return "no data"
    if abs(value) < 1e-9:
        value = 0.0  # float dust (6.6e-37 s of queue wait) reads as zero
    if unit == "ratio":
        return f"{value * 100:.3g}%"
    if unit == "seconds":
        return f"{value:.3g} s"
    if unit == "requests/s":
        return f"{value:.3g} req/s"
    return f"{value:.3g} {unit}".strip()


def duration(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour)."""
    whole = max(0, int(round(seconds)))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
