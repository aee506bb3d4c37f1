"""The charts of ``rollout report``: the waves as a timeline, each gate's values against its
threshold (gaps where a gate had no data), the projection behind the halt."""

from __future__ import annotations

import numpy as np

from waveguard.report import charts
from waveguard.report.rollout_data import GateSeries, RolloutRecord
from waveguard.report.sim import clock

#: Wave outcome → bar colour.
OUTCOME_COLOURS = {"passed": "#2e7d32", "halted": "#c62828", "baking": "#f9a825", "not reached": "#bdbdbd"}
#: Clusters drawn in colour per gate at most (those that failed first, then the highest); the rest grey.
COLOURED = 5
XLABEL = "minutes from the start of the rollout"


def _marks(ax, record: RolloutRecord) -> None:
    """Wave starts (dotted, named) and the halt (red, labelled) on ``ax``."""
    charts.mark_times(ax, [(w.started_s / 60.0, w.name) for w in record.waves if w.started_s is not None],
                      min_gap_frac=0.03)
    if record.halt is not None:
        charts.mark_halt(ax, float(record.halt["t"]) / 60.0, f"halted {clock(float(record.halt['t']))}")


def waves_figure(record: RolloutRecord) -> dict:
    """One bar per wave of the plan, from its start to its end (passed, halted) or the last event;
    a tick per cluster applied; the rollback's span."""
    waves = record.waves
    fig, (ax,) = charts.subplots(height_in=max(2.2, 0.6 * len(waves) + 1.2))
    end = record.end_s
    for w in waves:
        if w.started_s is None:
            ax.text(0, w.index, "  not reached", va="center", fontsize=9, color="#757575")
            continue
        stop = w.ended_s if w.ended_s is not None else end
        ax.barh(w.index, max((stop - w.started_s) / 60.0, end / 60.0 / 150), left=w.started_s / 60.0, height=0.55,
                color=OUTCOME_COLOURS.get(w.outcome, "#bdbdbd"), label=w.outcome)
        ax.text(stop / 60.0, w.index, f"  {w.outcome}: {w.applied} of {_clusters(w.clusters)} applied at "
                f"{w.node_share:.0%} of nodes", va="center", fontsize=9)
    backs = [e.t for e in record.events if e.kind in ("rollback_started", "rolled_back")]
    if backs:
        ax.axvspan(min(backs) / 60.0, max(max(backs), min(backs) + 1.0) / 60.0, color="#ff8f00", alpha=0.25,
                   label=f"rollback ({_clusters(len(record.state.rolled_back))} rolled back)")
    ax.set_yticks([w.index for w in waves], [f"{w.index}: {w.name}" for w in waves])
    ax.set_ylim(len(waves) - 0.4, -0.6)  # the first wave at the top, room around every bar
    ax.set_xlim(0, max(end / 60.0, 1.0) * 1.35)  # room for the outcome text
    _marks(ax, record)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), loc="lower right", framealpha=0.9)
    ax.set_xlabel(XLABEL)
    ax.grid(alpha=0.3, axis="x")
    charts.separate_labels(fig)  # a wave that starts as the rollout halts: its name off the halt's label
    return {"title": "Waves", "note": "each wave from its start to the moment it passed or halted; dotted: wave "
            "starts; red: the halt; orange: the rollback.", "png": charts.figure_png(fig)}


def _clusters(count: int) -> str:
    return f"{count} cluster{'' if count == 1 else 's'}"


def _coloured(series: dict[str, GateSeries]) -> list[str]:
    """Clusters to draw in colour: those that failed, then the highest values, at most COLOURED."""
    def peak(s: GateSeries) -> float:
        return float(np.nanmax(s.value)) if np.isfinite(s.value).any() else -np.inf

    ranked = sorted(series.values(), key=lambda s: (not s.failed, -peak(s)))
    return [s.cluster for s in ranked[:COLOURED]]


def gate_panel(ax, record: RolloutRecord, gate: str, unit: str, window: tuple[float, float] | None = None) -> None:
    """One gate: every cluster's values over time (NaN, no data: a gap and a tick at the bottom;
    no apiserver up: a gap in a grey band), failed results as red crosses, each threshold it was
    held to as a red dashed line; ``window``: the x range in minutes (default: the whole rollout)."""
    series = record.gates[gate]
    coloured = _coloured(series)
    for s in series.values():
        if s.cluster not in coloured:
            ax.plot(s.t / 60.0, s.value, color="#c4c4c4", linewidth=0.8, marker=".", markersize=2)
    for name in coloured:
        s = series[name]
        ax.plot(s.t / 60.0, s.value, linewidth=1.5, marker=".", markersize=4, label=name)
    fails = [(t, v) for s in series.values() for t, v, st in zip(s.t, s.value, s.status, strict=True) if st == "fail"]
    if fails:
        ax.plot([t / 60.0 for t, _ in fails], [v for _, v in fails], "x", color=charts.HALT_COLOUR, markersize=9,
                markeredgewidth=2, label="failed")
    no_data = [t for s in series.values() for t, st in zip(s.t, s.status, strict=True) if st == "no-data"]
    if no_data:
        ax.plot([t / 60.0 for t in no_data], [0.02] * len(no_data), "|", color="#ef6c00", markersize=12,
                transform=ax.get_xaxis_transform(), label="no data (gap)")
    _shade_down(ax, series)
    for limit in sorted({x for s in series.values() for x in s.thresholds}):
        charts.threshold(ax, limit, f"threshold {limit:g} {unit}")
    ax.set_xlim(*(window or (0, max(record.end_s / 60.0, 1.0) * 1.06)))
    _marks(ax, record)
    ax.set_title(gate, loc="left", fontsize=11, fontweight="bold")
    charts.finish(ax, unit, xlabel=None, legend="outside")


def _shade_down(ax, series: dict[str, GateSeries]) -> None:
    """Grey bands where the gate found no apiserver up on some cluster, from the evaluation before
    (when it was last seen up, or not read) to the one that found it down."""
    times = np.unique(np.concatenate([s.t for s in series.values()]))
    down = {t for s in series.values() for t, st in zip(s.t, s.status, strict=True) if st == "down"}
    if not down:
        return
    step = float(np.median(np.diff(times))) if len(times) > 1 else 30.0
    clusters = sum("down" in s.status for s in series.values())
    for i, (a, b) in enumerate(charts.spans(times, np.isin(times, list(down)), step)):
        ax.axvspan(a / 60.0, b / 60.0, color=charts.DOWN_COLOUR, alpha=0.35, linewidth=0,
                   label=f"no apiserver up ({clusters} clusters)" if i == 0 else None)


def gates_figure(record: RolloutRecord, units: dict[str, str], close_up: bool = False) -> dict | None:
    """Every gate read during the bakes, one panel each — over the whole rollout, or (``close_up``)
    from the start of the wave that halted to the end; None when there is nothing to draw."""
    if not record.gates or (close_up and (record.halt is None or record.halt.get("gate") == "projection")):
        return None  # a projection halts before the apply: nothing happened to look at closely
    window = None
    halt = record.halt or {}
    if close_up:
        wave = record.waves[halt["wave"]] if isinstance(halt.get("wave"), int) else None
        start = wave.started_s if wave is not None and wave.started_s is not None else 0.0
        span = max(record.end_s - start, 60.0)
        window = ((start - 0.25 * span) / 60.0, (record.end_s + 0.35 * span) / 60.0)
    gates = list(record.gates)
    fig, axes = charts.subplots(rows=len(gates), height_in=2.5)
    for ax, gate in zip(axes, gates, strict=True):
        gate_panel(ax, record, gate, units.get(gate, ""), window)
    axes[-1].set_xlabel(XLABEL)
    charts.separate_labels(fig)
    if close_up:
        return {"title": "The halt, close up", "note": "the same gates from just before the start of the wave that "
                "halted to the end of the rollout.", "png": charts.figure_png(fig)}
    return {"title": "Gate values over time, against their thresholds", "note": "every evaluation of every gate on "
            "every cluster; in colour the clusters that failed, then the highest, the rest grey; red crosses: "
            "failed results; orange ticks: no data and grey bands: no apiserver up (the lines break there: nothing "
            "was read); red dashed: the threshold.", "png": charts.figure_png(fig)}


def projection_figure(caption: str, results: list[dict]) -> dict | None:
    """The projection's verdict per cluster (projected utilisation against its threshold), worst first."""
    if not results:
        return None
    shown = results[:25]
    fig, (ax,) = charts.subplots(height_in=max(2.4, 0.28 * len(shown) + 1.0), sharex=False)
    values = [r.get("value") or 0.0 for r in shown]
    colours = [charts.HALT_COLOUR if r.get("status") == "fail" else "#546e7a" for r in shown]
    ax.barh(range(len(shown)), values, color=colours)
    ax.set_yticks(range(len(shown)), [str(r.get("cluster")) for r in shown])
    ax.invert_yaxis()
    for limit in sorted({float(r.get("threshold", np.nan)) for r in shown} - {np.nan}):
        ax.axvline(limit, color=charts.THRESHOLD_COLOUR, linestyle="--", linewidth=1.4, label=f"threshold {limit:g}")
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:.2f}", va="center", fontsize=8.5)
    ax.set_xlabel("projected utilisation (ratio of the limit)")
    ax.grid(alpha=0.3, axis="x")
    ax.legend(loc="lower right")
    return {"title": "The projection", "note": caption + "; red: over the threshold.", "png": charts.figure_png(fig)}
