"""The demo page's charts: the strategies side by side, on the one definition of "saturated".

Each chart shows what the table says: the blast-radius curve peaks at the table's blast radius,
the "saturated so far" line of each strategy ends at its table count, the error chart counts
the clusters over the impact line (the area under it: the impact minutes). Halts and wave starts
are labelled; grey: production control planes with no apiserver replica up.
"""

from __future__ import annotations

import numpy as np

from waveguard.report import charts
from waveguard.report.demo_results import BreakglassResult, StrategyResult
from waveguard.report.sim import clock
from waveguard.sim.result import IMPACT_ERROR_RATIO

def _minutes(r: StrategyResult) -> np.ndarray:
    return np.asarray(r.timeline["t"]) / 60.0


def _halts(ax, runs: list[StrategyResult], colours: list[str]) -> None:
    """Each strategy's halt: a solid line in its colour, labelled with its name and time."""
    n = 0
    for r, colour in zip(runs, colours, strict=True):
        if r.halted_at_s is None:
            continue
        ax.axvline(r.halted_at_s / 60.0, color=colour, linewidth=1.8)
        ax.annotate(f"{r.name} halted {clock(r.halted_at_s)}", (r.halted_at_s / 60.0, 0.96 - 0.1 * n),
                    xycoords=("data", "axes fraction"), xytext=(4, 0), textcoords="offset points", va="top",
                    fontsize=9, color=colour, fontweight="bold",
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": colour, "lw": 0.7})
        n += 1


def share_figure(runs: list[StrategyResult]) -> dict:
    """Production nodes running the change, % (the blast radius is each curve's peak)."""
    fig, (ax,) = charts.subplots(height_in=4.2)
    colours = []
    for r in runs:
        share = np.asarray(r.timeline["production_share_pct"])
        line = ax.plot(_minutes(r), share, linewidth=1.8, label=f"{r.name} (peak {r.blast_radius_pct:.1f} %)",
                       linestyle="--" if "production traffic" in r.name else "-")
        colours.append(line[0].get_color())
        peak = int(np.argmax(share))
        ax.plot([_minutes(r)[peak]], [share[peak]], "o", color=colours[-1])
    _halts(ax, runs, colours)
    ax.set_ylim(-2, 105)
    charts.finish(ax, "% of production nodes", legend="outside")
    return {"title": "Production nodes running the change", "note": "the blast radius over time: each curve's peak "
            "(dot) is the table's figure; solid vertical lines: where a strategy halted.", "png": charts.figure_png(fig)}


def saturation_figure(runs: list[StrategyResult]) -> dict:
    """One panel per strategy: production control planes saturated now and so far, those with no
    apiserver up, the number of production clusters, wave starts and the halt."""
    fig, axes = charts.subplots(rows=len(runs), height_in=2.6)
    for ax, r in zip(axes, runs, strict=True):
        minutes, tl = _minutes(r), r.timeline
        ax.fill_between(minutes, tl["apiserver_down_clusters"], step="post", color=charts.DOWN_COLOUR, alpha=0.5,
                        linewidth=0, label="no apiserver up (saturated once it lasts 60 s)")
        ax.step(minutes, tl["saturated_clusters"], where="post", color="#d84315", linewidth=1.8, label="saturated now")
        ax.step(minutes, tl["saturated_so_far"], where="post", color="#263238", linewidth=1.3, linestyle="--",
                label="saturated so far")
        charts.threshold(ax, r.production_clusters, f"{r.production_clusters} production clusters", colour="#555555",
                         style=":")
        ax.set_ylim(0, r.production_clusters * 1.6)  # headroom: the wave labels sit above the data
        ax.set_xlim(0, minutes[-1])
        charts.mark_times(ax, [(t / 60.0, name) for t, name in r.waves], min_gap_frac=0.03)
        if r.halted_at_s is not None:
            charts.mark_halt(ax, r.halted_at_s / 60.0, f"halted {clock(r.halted_at_s)}")
        ax.set_title(f"{r.name}: {r.saturated_clusters} of {r.production_clusters} production control planes "
                     "saturated at some moment (the table's figure)", loc="left", fontsize=11)
        charts.finish(ax, "control planes", xlabel=None, legend="outside" if ax is axes[0] else "")
    axes[-1].set_xlabel("minutes from the start")
    charts.separate_labels(fig)
    return {"title": "Production control planes saturated", "note": "per strategy, by the definition above: how many "
            "are saturated at each moment, and how many have been so far (where the dashed line ends: the table's "
            "count); grey: those with no apiserver replica up; dotted lines: wave starts; red: the halt.",
            "png": charts.figure_png(fig)}


def error_figure(runs: list[StrategyResult]) -> dict:
    """The production workloads' error ratio (%, node-weighted), then how many production
    clusters are over the impact line at each moment (its area: the table's impact minutes)."""
    fig, axes = charts.subplots(rows=2, height_in=3.3)
    colours = []
    for r in runs:
        style = "--" if "production traffic" in r.name else "-"
        line = axes[0].plot(_minutes(r), np.asarray(r.timeline["error_ratio"]) * 100, linewidth=1.4, linestyle=style,
                            label=r.name)
        colours.append(line[0].get_color())
        axes[1].step(_minutes(r), r.timeline["impacted_clusters"], where="post", linewidth=1.5, linestyle=style,
                     color=colours[-1], label=f"{r.name}: {r.impact_minutes:,.0f} impact min")
    charts.threshold(axes[0], IMPACT_ERROR_RATIO * 100, f"customer impact: {IMPACT_ERROR_RATIO:.0%} errors")
    for ax in axes:
        _halts(ax, runs, colours)
    axes[1].set_title(f"production clusters with errors ≥ {IMPACT_ERROR_RATIO:.0%} (the area under each line, in "
                      "cluster-minutes, is the table's impact minutes)", loc="left", fontsize=10)
    charts.finish(axes[0], "% of requests failing", xlabel=None, legend="outside")
    charts.finish(axes[1], "clusters", legend="outside")
    return {"title": "Workload errors (production)", "note": "top: share of the production workloads' requests "
            "failing, weighted by nodes; bottom: how many production clusters are over the impact line at each "
            "moment — a strategy's impact minutes are the area under its line.", "png": charts.figure_png(fig)}


def breakglass_figure(bg: BreakglassResult) -> dict:
    """The largest cluster's rollback without and with isolation, one panel each."""
    fig, axes = charts.subplots(rows=len(bg.cases), height_in=3.0)
    for ax, case in zip(axes, bg.cases, strict=True):
        t = np.asarray(case.timeline["t"])
        up = np.asarray(case.timeline["up"])
        cluster = case.timeline["cluster"][0]
        ax.step(t / 60.0, up, where="post", label="apiserver replicas up", linewidth=1.4)
        ax.step(t / 60.0, case.timeline["pending"], where="post", label="rollback requests not yet served",
                linewidth=1.4)
        charts.shade_down(ax, t, up, float(t[1] - t[0]) if len(t) > 1 else 1.0)
        starts = [r.started_at_s for r in case.rollbacks if r.cluster == cluster]
        if starts:
            charts.mark_halt(ax, starts[0] / 60.0, f"rollback sent {clock(starts[0])}")
            ax.set_xlim(starts[0] / 60.0 - 5, min(t[-1] / 60.0, starts[0] / 60.0 + 40))
        ax.set_title(f"{cluster}, {case.name}", loc="left", fontsize=11)
        charts.finish(ax, "replicas / requests", xlabel=None, legend="outside")
    axes[-1].set_xlabel("minutes from the start")
    return {"title": "The way back on the largest cluster", "note": "replicas up and the rollback's requests not yet "
            "served; grey: no apiserver replica up.", "png": charts.figure_png(fig)}
