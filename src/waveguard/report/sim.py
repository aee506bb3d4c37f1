"""A self-contained HTML page of a simulation (``waveguard simulate --report out.html``).

Timeline plots (matplotlib, embedded as PNG data URIs) for the fleet and its worst clusters:
rollout progress, seats in use per priority level, 429s, p99 latency, apiserver memory, DNS
failure fraction and workload error rate; then the summary table.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Callable

import numpy as np

from waveguard.model import constants as C
from waveguard.model.errors import InputError
from waveguard.model.extras import require_extra
from waveguard.sim.result import SimulationResult

#: Points per plotted line at most (long runs are thinned to the maximum of each block of steps,
#: so one-second spikes stay visible).
MAX_POINTS = 1500


def _thin(values: np.ndarray, block: int, how: Callable = np.max) -> np.ndarray:
    """Reduce ``values`` (one per step) by ``how`` over blocks of ``block`` steps; a shorter
    last block is reduced on its own."""
    if block <= 1:
        return values
    whole = len(values) // block * block  # steps in complete blocks
    head = how(values[:whole].reshape(-1, block), axis=1)
    return np.concatenate([head, [how(values[whole:])]]) if whole < len(values) else head


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>waveguard simulate — {{ scenario }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; font-size: .85rem; } td, th { padding: .25rem .6rem; border-bottom: 1px solid #ddd; }
th { text-align: left; background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.bad td { background: #fdecea; } tr.warn td { background: #fff7e0; }
img { max-width: 100%; } .note { color: #666; font-size: .85rem; }
</style></head><body>
<h1>waveguard simulate — {{ scenario }}</h1>
<p class="note">{{ duration }} simulated at {{ step_s }} s steps · {{ n_clusters }} clusters, {{ n_nodes }} nodes ·
seed {{ seed }} · worst clusters: {{ worst | join(", ") }}</p>
<p>{{ saturated }} of {{ n_clusters }} control planes saturated; DNS failing in {{ dns_failing }};
{{ impact }} customer-impact minutes in all.</p>
{% for fig in figures %}
<h2>{{ fig.title }}</h2><p class="note">{{ fig.note }}</p>
<img alt="{{ fig.title }}" src="data:image/png;base64,{{ fig.png }}">
{% endfor %}
<h2>Summary</h2>
<table><tr><th>cluster</th><th>nodes</th><th>change at</th><th>saturated at</th><th>DNS failing at</th>
<th>peak error</th><th>impact min</th><th>OOM kills</th></tr>
{% for r in rows %}<tr class="{{ r.cls }}"><td>{{ r.name }}</td><td class="num">{{ r.nodes }}</td>
<td class="num">{{ r.change }}</td><td class="num">{{ r.saturated }}</td><td class="num">{{ r.dns }}</td>
<td class="num">{{ r.error }}</td><td class="num">{{ r.impact }}</td><td class="num">{{ r.oom }}</td></tr>
{% endfor %}</table>
<p class="note">Saturated: sustained 429s, p99 latency over the SLO, or no apiserver up, for 60 s.
DNS failing: at least half of the workloads' lookups fail. Impact: error ratio at least 1 %.
Model and calibration: docs/simulator.md.</p>
</body></html>
"""


def clock(seconds: float | None) -> str:
    """Seconds from the start as H:MM:SS ("—" for never)."""
    if seconds is None:
        return "—"
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def write_report(result: SimulationResult, path: str | Path, seed: int | None = None, n_worst: int = 4) -> None:
    """Render the report to ``path``. Raises InputError when it cannot be written."""
    html = render_report(result, seed=seed, n_worst=n_worst)
    try:
        Path(path).write_text(html)
    except OSError as exc:
        raise InputError(str(path), f"cannot write report: {exc.strerror}", hint="check --report") from exc


def render_report(result: SimulationResult, seed: int | None = None, n_worst: int = 4) -> str:
    """The report's HTML (self-contained)."""
    require_extra("report", "--report (HTML)")
    import matplotlib
    from jinja2 import Environment, select_autoescape

    matplotlib.use("Agg")
    worst = result.worst_clusters(n_worst)
    rows = result.summary()
    env = Environment(autoescape=select_autoescape(default=True))
    return env.from_string(_TEMPLATE).render(
        scenario=result.scenario, duration=clock(float(result.times[-1]) if len(result.times) else 0.0),
        step_s=result.step_s, n_clusters=len(rows), n_nodes=f"{sum(r.nodes for r in rows):,}", seed=seed,
        worst=worst, saturated=sum(r.saturated_at_s is not None for r in rows),
        dns_failing=sum(r.dns_failing_at_s is not None for r in rows),
        impact=f"{sum(r.impact_minutes for r in rows):,.0f}", figures=_figures(result, worst),
        rows=[{
            "name": r.name, "nodes": f"{r.nodes:,}", "change": clock(r.change_at_s), "saturated": clock(r.saturated_at_s),
            "dns": clock(r.dns_failing_at_s), "error": f"{r.peak_error_rate:.1%}", "impact": f"{r.impact_minutes:.0f}",
            "oom": r.oom_kills,
            "cls": "bad" if r.dns_failing_at_s is not None else "warn" if r.saturated_at_s is not None else "",
        } for r in rows],
    )


def _figures(result: SimulationResult, worst: list[str]) -> list[dict]:
    step_minutes = result.times / 60.0
    block = max(1, -(-len(step_minutes) // MAX_POINTS))  # steps per plotted point (ceiling division)
    minutes = _thin(step_minutes, block, np.min)
    figs = [
        _fleet_plot(result, minutes, block, worst, "Rollout progress", "share of nodes running the change",
                    lambda c: result.series("waveguard_sim_rollout_share", c), "share of nodes"),
        _levels_plot(result, minutes, block, worst),
        _fleet_plot(result, minutes, block, worst, "429s", "apiserver_request_total{code=\"429\"}, per second",
                    lambda c: result.rate("apiserver_request_total", c, code="429"), "requests/s"),
        _fleet_plot(result, minutes, block, worst, "p99 latency of single-object requests",
                    f"apiserver_request_duration_seconds{{scope=\"resource\",quantile=\"0.99\"}}; SLO {C.SLO_SINGLE_OBJECT_S:g} s",
                    lambda c: result.series("apiserver_request_duration_seconds", c, scope="resource", quantile="0.99"),
                    "seconds", hline=C.SLO_SINGLE_OBJECT_S),
        _memory_plot(result, minutes, block, worst),
        _fleet_plot(result, minutes, block, worst, "DNS failure fraction",
                    "share of the workloads' lookups failing after client and node-local caches",
                    lambda c: result.series("waveguard_sim_dns_client_failure_ratio", c), "share"),
        _fleet_plot(result, minutes, block, worst, "Workload error rate", "share of user requests failing (DNS, API dependence)",
                    lambda c: result.series("waveguard_sim_workload_error_ratio", c), "share"),
    ]
    return figs


def figure_png(fig) -> str:
    """A matplotlib figure as base64 PNG for a data: URI (closes the figure)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _fleet_plot(result: SimulationResult, minutes: np.ndarray, block: int, worst: list[str], title: str, note: str,
                get: Callable[[str], np.ndarray], ylabel: str, hline: float | None = None) -> dict:
    """One figure: ``get(cluster)`` per step for every cluster (the worst in colour) against
    ``minutes`` (one per block of ``block`` steps); ``hline`` a dashed threshold."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 3.2))
    for c in result.clusters:
        if c not in worst:
            ax.plot(minutes, _thin(get(c), block), color="#bbbbbb", linewidth=0.6)
    for c in worst:
        ax.plot(minutes, _thin(get(c), block), linewidth=1.4, label=f"{c} ({result.nodes[c]:,} nodes)")
    if hline is not None:
        ax.axhline(hline, color="#c0392b", linestyle="--", linewidth=0.8)
    ax.set_xlabel("minutes")
    ax.set_ylabel(ylabel)
    ax.legend(loc="upper left", fontsize=7)
    ax.grid(alpha=0.3)
    return {"title": title, "note": note + " — worst clusters in colour, the rest grey.", "png": figure_png(fig)}


def _levels_plot(result: SimulationResult, minutes: np.ndarray, block: int, worst: list[str]) -> dict:
    """Seats in use, stacked per priority level: the fleet, then each of the worst clusters."""
    import matplotlib.pyplot as plt

    seats = {level: {c: _thin(result.series("apiserver_flowcontrol_current_executing_seats", c,
                                            priority_level=level), block)
                     for c in result.clusters} for level in result.level_names}
    levels = [level for level in result.level_names if any(v.max() > 0 for v in seats[level].values())]
    panels = ["fleet"] + worst
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 2.2 * len(panels)), sharex=True)
    for ax, panel in zip(np.atleast_1d(axes), panels, strict=True):
        names = result.clusters if panel == "fleet" else [panel]
        stack = [sum(seats[level][c] for c in names) for level in levels]
        ax.stackplot(minutes, stack, labels=levels)
        ax.set_ylabel("seats")
        ax.set_title(panel if panel == "fleet" else f"{panel} ({result.nodes[panel]:,} nodes)", fontsize=9)
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].legend(loc="upper left", fontsize=7, ncol=len(levels))
    np.atleast_1d(axes)[-1].set_xlabel("minutes")
    return {"title": "Seats in use per priority level",
            "note": "apiserver_flowcontrol_current_executing_seats, all replicas; the fleet, then the worst clusters.",
            "png": figure_png(fig)}


def _memory_plot(result: SimulationResult, minutes: np.ndarray, block: int, worst: list[str]) -> dict:
    """Resident memory (GiB) of the worst clusters' fullest replica, with their limits dashed."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 3.2))
    for c in worst:
        line = ax.plot(minutes, _thin(result.series("process_resident_memory_bytes", c), block) / 2**30, linewidth=1.2,
                       label=f"{c} ({result.nodes[c]:,} nodes)")
        limit = result.series("waveguard_sim_apiserver_memory_limit_bytes", c)[0] / 2**30
        ax.axhline(limit, color=line[0].get_color(), linestyle="--", linewidth=0.8)
    ax.set_xlabel("minutes")
    ax.set_ylabel("GiB")
    ax.legend(loc="upper left", fontsize=7)
    ax.grid(alpha=0.3)
    return {"title": "apiserver memory", "note": "process_resident_memory_bytes of the fullest replica; dashed: "
            "the replica's memory limit (above it: OOM kill).", "png": figure_png(fig)}
