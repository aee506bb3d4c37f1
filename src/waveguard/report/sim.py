"""A self-contained HTML page of a simulation (``waveguard simulate --report out.html``).

Summary first, then the definition of "saturated" the table and the charts share
(:meth:`SimulationResult.saturated`), the fleet over time (rollout progress, control planes
saturated, DNS failures, workload errors), one figure per worst cluster (seats per priority level
against the seat limit, 429s, p99 latency against its SLO, memory against the replica's limit;
gaps and grey bands where no apiserver is up), and the per-cluster table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from waveguard.model import constants as C
from waveguard.report import charts
from waveguard.report.page import ReportMeta, count, render_page, write_page
from waveguard.sim.result import DNS_FAILING_RATIO, IMPACT_ERROR_RATIO, SATURATED_MEANS, SimulationResult

#: Points per plotted line at most (long runs are thinned to the maximum of each block of steps,
#: so one-second spikes stay visible).
MAX_POINTS = 1500

_BODY = """
<div class="summary">{% for line in summary %}<p>{{ line }}</p>{% endfor %}</div>
<p class="definition"><b>Saturated</b> (every count and chart of this page): {{ saturated_means }}. A cluster counts
in the table when it was saturated at some moment; the chart "control planes saturated" shows how many are at each
moment and how many have been so far (where that line ends: the table's count).</p>
<p class="note">{{ duration }} simulated at {{ step_s }} s steps · {{ n_clusters }} clusters, {{ n_nodes }} nodes ·
worst clusters (shown one by one below): {{ worst | join(", ") }}. Model and calibration: docs/simulator.md.</p>
{% for fig in figures %}<h2>{{ fig.title }}</h2><p class="note">{{ fig.note }}</p>
<img class="chart" alt="{{ fig.title }}" src="data:image/png;base64,{{ fig.png }}">{% endfor %}
<h2>Per cluster</h2>
<table><tr><th>cluster</th><th>nodes</th><th>change at</th><th>saturated at</th><th>apiserver down</th>
<th>DNS failing at</th><th>peak error</th><th>impact min</th><th>OOM kills</th></tr>
{% for r in rows %}<tr class="{{ r.cls }}"><td>{{ r.name }}</td><td class="num">{{ r.nodes }}</td>
<td class="num">{{ r.change }}</td><td class="num">{{ r.saturated }}</td><td class="num">{{ r.down }}</td>
<td class="num">{{ r.dns }}</td><td class="num">{{ r.error }}</td><td class="num">{{ r.impact }}</td>
<td class="num">{{ r.oom }}</td></tr>{% endfor %}</table>
<p class="note">Times are H:MM:SS from the start. Apiserver down: minutes with no replica up. DNS failing: at least
{{ dns_pct }} of the workloads' lookups fail. Impact: minutes with a workload error ratio of at least {{ impact_pct }}.</p>
"""


def clock(seconds: float | None) -> str:
    """Seconds from the start as H:MM:SS ("—" for never)."""
    if seconds is None:
        return "—"
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def write_report(result: SimulationResult, path: str | Path, seed: int | None = None, n_worst: int = 4) -> None:
    """Render the report to ``path`` (atomically). Raises InputError when it cannot be written."""
    write_page(path, render_report(result, seed=seed, n_worst=n_worst))


def down_minutes(result: SimulationResult, cluster: str) -> float:
    """Minutes with no apiserver replica of ``cluster`` up."""
    return float((result.series("up", cluster, job="apiserver") < 0.5).sum() * result.step_s / 60.0)


def render_report(result: SimulationResult, seed: int | None = None, n_worst: int = 4,
                  meta: ReportMeta | None = None) -> str:
    """The report's HTML (self-contained); ``meta`` defaults to this command, now."""
    worst = result.worst_clusters(n_worst)
    rows = result.summary()
    return render_page(
        _BODY, f"waveguard simulate — {result.scenario}", meta or ReportMeta.now(seed),
        summary=_summary(result), saturated_means=SATURATED_MEANS,
        duration=clock(float(result.times[-1]) if len(result.times) else 0.0), step_s=f"{result.step_s:g}",
        n_clusters=len(rows), n_nodes=f"{sum(r.nodes for r in rows):,}", worst=worst,
        figures=figures(result, worst), dns_pct=f"{DNS_FAILING_RATIO:.0%}", impact_pct=f"{IMPACT_ERROR_RATIO:.0%}",
        rows=[{
            "name": r.name, "nodes": f"{r.nodes:,}", "change": clock(r.change_at_s), "saturated": clock(r.saturated_at_s),
            "down": f"{down_minutes(result, r.name):.0f} min" if down_minutes(result, r.name) else "—",
            "dns": clock(r.dns_failing_at_s), "error": f"{r.peak_error_rate:.1%}", "impact": f"{r.impact_minutes:.0f}",
            "oom": r.oom_kills,
            "cls": "bad" if r.dns_failing_at_s is not None else "warn" if r.saturated_at_s is not None else "",
        } for r in rows],
    )


def _summary(result: SimulationResult) -> list[str]:
    rows = result.summary()
    saturated = [r for r in rows if r.saturated_at_s is not None]
    down = [(r.name, down_minutes(result, r.name)) for r in rows]
    down = [(n, m) for n, m in down if m > 0]
    lines = [f"{len(saturated)} of {count(len(rows), 'control plane')} saturated; DNS failing in "
             f"{count(sum(r.dns_failing_at_s is not None for r in rows), 'cluster')}; "
             f"{count(sum(r.impact_minutes for r in rows), 'customer-impact minute')} in all; "
             f"{count(sum(r.oom_kills for r in rows), 'apiserver OOM kill')}."]
    if saturated:
        first = min(saturated, key=lambda r: r.saturated_at_s or 0.0)
        lines.append(f"First saturated: {first.name} ({first.nodes:,} nodes) at {clock(first.saturated_at_s)}, "
                     f"{clock((first.saturated_at_s or 0.0) - (first.change_at_s or 0.0))} after the change reached it.")
    if down:
        name, minutes = max(down, key=lambda d: d[1])
        lines.append(f"No apiserver up at some point on {count(len(down), 'cluster')}; longest: {name}, {minutes:,.0f} min "
                     "in all (grey bands below; no latency, seats or memory exist then, so none is drawn).")
    return lines


def _block(result: SimulationResult) -> int:
    """Steps per plotted point (ceiling division)."""
    return max(1, -(-len(result.times) // MAX_POINTS))


def saturation_counts(result: SimulationResult, clusters: list[str]) -> dict[str, np.ndarray]:
    """Per step, shape (T,): how many of ``clusters`` are saturated now (the one definition),
    have been so far, and have no apiserver up."""
    now = np.zeros(len(result.times))
    so_far = np.zeros(len(result.times))
    down = np.zeros(len(result.times))
    for c in clusters:
        sat = result.saturated(c)
        now += sat
        so_far += np.maximum.accumulate(sat)
        down += result.series("up", c, job="apiserver") < 0.5
    return {"now": now, "so_far": so_far, "down": down}


def figures(result: SimulationResult, worst: list[str]) -> list[dict]:
    """The fleet's figures, then one per worst cluster."""
    block = _block(result)
    minutes = charts.thin(result.times / 60.0, block, np.nanmin)
    figs = [
        _fleet_lines(result, minutes, block, worst, "Rollout progress", "share of each cluster's nodes running the "
                     "change (waveguard_sim_rollout_share)", "waveguard_sim_rollout_share", "% of nodes", None),
        _saturation_figure(result, minutes, block),
        _fleet_lines(result, minutes, block, worst, "DNS failures", "share of the workloads' lookups failing after "
                     "client and node-local caches", "waveguard_sim_dns_client_failure_ratio", "% of lookups failing",
                     (DNS_FAILING_RATIO, f"DNS failing: {DNS_FAILING_RATIO:.0%} of lookups")),
        _fleet_lines(result, minutes, block, worst, "Workload error rate", "share of user requests failing (DNS, API "
                     "dependence)", "waveguard_sim_workload_error_ratio", "% of requests failing",
                     (IMPACT_ERROR_RATIO, f"customer impact: {IMPACT_ERROR_RATIO:.0%} errors")),
    ]
    return figs + [cluster_figure(result, c, minutes, block) for c in worst]


def _fleet_lines(result: SimulationResult, minutes: np.ndarray, block: int, worst: list[str], title: str, note: str,
                 metric: str, ylabel: str, line: tuple[float, str] | None) -> dict:
    """A gauge in % for every cluster (the worst in colour, the rest grey)."""
    fig, (ax,) = charts.subplots(height_in=3.8)
    for c in result.clusters:
        if c not in worst:
            ax.plot(minutes, charts.thin(result.series(metric, c), block) * 100, color="#c4c4c4", linewidth=0.7)
    for c in worst:
        ax.plot(minutes, charts.thin(result.series(metric, c), block) * 100, linewidth=1.6,
                label=f"{c} ({result.nodes[c]:,} nodes)")
    if line is not None:
        charts.threshold(ax, line[0] * 100, line[1])
    charts.finish(ax, ylabel)
    return {"title": title, "note": note + "; the worst clusters in colour, the others grey.",
            "png": charts.figure_png(fig)}


def _saturation_figure(result: SimulationResult, minutes: np.ndarray, block: int) -> dict:
    counts = saturation_counts(result, result.clusters)
    fig, (ax,) = charts.subplots(height_in=3.8)
    ax.fill_between(minutes, charts.thin(counts["down"], block), step="post", color=charts.DOWN_COLOUR, alpha=0.45,
                    label="no apiserver up (saturated once it lasts 60 s)", linewidth=0)
    ax.step(minutes, charts.thin(counts["now"], block), where="post", linewidth=1.8, color="#d84315",
            label="saturated now")
    ax.step(minutes, charts.thin(counts["so_far"], block), where="post", linewidth=1.4, color="#37474f",
            linestyle="--", label=f"saturated so far (ends at {int(counts['so_far'][-1])}: the table's count)")
    charts.threshold(ax, len(result.clusters), f"{len(result.clusters)} clusters in the fleet", colour="#555555",
                     style=":")
    ax.set_ylim(0, len(result.clusters) * 1.08)
    charts.finish(ax, "control planes")
    return {"title": "Control planes saturated", "note": "the definition above, per moment and so far; grey: those "
            "with no apiserver replica up.", "png": charts.figure_png(fig)}


def cluster_figure(result: SimulationResult, cluster: str, minutes: np.ndarray, block: int) -> dict:
    """One worst cluster: seats, 429s, p99 latency and memory, with gaps and bands where it is down."""
    up = result.series("up", cluster, job="apiserver")
    fig, axes = charts.subplots(rows=4, height_in=2.6)
    _seats(axes[0], result, cluster, minutes, block, up)
    axes[1].plot(minutes, charts.thin(charts.gap_where_down(result.rate("apiserver_request_total", cluster, code="429"),
                                                            up), block), linewidth=1.0, color="#6a1b9a",
                 label="429s")
    charts.finish(axes[1], "429s per second", xlabel=None)
    p99 = result.series("apiserver_request_duration_seconds", cluster, scope="resource", quantile="0.99")
    axes[2].plot(minutes, charts.thin(charts.gap_where_down(p99, up), block), linewidth=1.0, color="#1565c0",
                 label="p99, single-object requests")
    charts.threshold(axes[2], C.SLO_SINGLE_OBJECT_S, f"SLO {C.SLO_SINGLE_OBJECT_S:g} s")
    charts.finish(axes[2], "p99 latency (s)", xlabel=None)
    memory = result.series("process_resident_memory_bytes", cluster) / 2**30
    axes[3].plot(minutes, charts.thin(charts.gap_where_down(memory, up), block), linewidth=1.0, color="#2e7d32",
                 label="fullest replica")
    limit = result.series("waveguard_sim_apiserver_memory_limit_bytes", cluster)[0] / 2**30
    charts.threshold(axes[3], limit, f"memory limit {limit:,.0f} GiB (OOM kill above)")
    charts.finish(axes[3], "resident memory (GiB)")
    row = next(r for r in result.summary() if r.name == cluster)
    marks = [(t / 60.0, f"{label} {clock(t)}") for t, label in ((row.change_at_s, "change reaches it"),
                                                              (row.saturated_at_s, "saturated"),
                                                              (row.dns_failing_at_s, "DNS failing")) if t is not None]
    for ax in axes:
        ax.set_ylim(bottom=0)  # rates, seconds, seats, bytes: none is negative
        charts.shade_down(ax, result.times, up, result.step_s)
        charts.mark_moments(ax, marks)
        charts.finish(ax, ax.get_ylabel(), xlabel=ax.get_xlabel() or None, legend="outside")
    axes[0].set_title(f"{cluster} ({result.nodes[cluster]:,} nodes)", loc="left", fontweight="bold")
    return {"title": f"{cluster}: the control plane", "note": "seats in use per priority level against the seat limit, "
            "429s, p99 latency against its SLO, memory against the replica's limit. Grey bands: no apiserver "
            "replica up — nothing is measured there, so the lines stop (a gap, not a zero).",
            "png": charts.figure_png(fig)}


def _seats(ax, result: SimulationResult, cluster: str, minutes: np.ndarray, block: int, up: np.ndarray) -> None:
    """Seats in use stacked per priority level (the levels that used any), and the seat limit."""
    stacks, labels = [], []
    for level in result.level_names:
        seats = result.series("apiserver_flowcontrol_current_executing_seats", cluster, priority_level=level)
        if seats.max(initial=0.0) > 0:
            stacks.append(charts.thin(charts.gap_where_down(seats, up), block))
            labels.append(level)
    if stacks:
        ax.stackplot(minutes, stacks, labels=labels, alpha=0.85)
    limit = result.series("apiserver_flowcontrol_current_limit_seats", cluster)
    ax.plot(minutes, charts.thin(charts.gap_where_down(limit, up), block), color=charts.THRESHOLD_COLOUR, linestyle="--", linewidth=1.2,
            label="seat limit, all levels (all replicas up)")
    charts.finish(ax, "seats in use", xlabel=None)
