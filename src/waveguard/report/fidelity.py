"""A self-contained HTML page of a fidelity run (``waveguard fidelity --report fidelity.html``).

Summary first (how many figures are within their bounds, which are not), the comparison table,
then one chart per compared figure: a strip with the simulated value against the published one
and the bounds, above the series the figure is read from (:mod:`waveguard.report.fidelity_plots`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from waveguard.fidelity import FidelityResult, FidelityRow
from waveguard.report import charts
from waveguard.report.page import ReportMeta, render_page, write_page
from waveguard.sim.result import SATURATED_MEANS

_BODY = """
<div class="summary">{% for line in summary %}<p class="{{ line.cls }}">{{ line.text }}</p>{% endfor %}</div>
<table><tr><th>case</th><th>source</th><th>what was measured</th><th>published</th><th>simulated</th>
<th>ratio</th><th>bounds</th><th>within</th></tr>
{% for r in rows %}<tr class="{{ '' if r.ok else 'bad' }}"><td>{{ r.name }}</td><td>{{ r.source }}</td><td>{{ r.measured }}</td>
<td>{{ r.published }}</td><td class="num">{{ r.simulated }}</td><td class="num">{{ r.ratio }}</td>
<td class="num">{{ r.bounds }}</td><td>{{ "yes" if r.ok else "NO" }}</td></tr>
{% endfor %}</table>
<p class="definition"><b>Saturated</b> (every case that counts it): {{ saturated_means }}.</p>
{% for fig in figures %}
<h2>{{ fig.title }}</h2><p class="note">{{ fig.note }}</p>
<img class="chart" alt="{{ fig.title }}" src="data:image/png;base64,{{ fig.png }}">
{% endfor %}
<p class="note">Setups, constants each case exercises and the tensions between cases: docs/fidelity.md.</p>
"""


def write_report(result: FidelityResult, path: str | Path, meta: ReportMeta | None = None) -> None:
    """Render the report to ``path`` (atomically). Raises InputError when it cannot be written."""
    write_page(path, render_report(result, meta))


def render_report(result: FidelityResult, meta: ReportMeta | None = None) -> str:
    """The report's HTML (self-contained); ``meta`` defaults to this command, now. Every case
    runs its scenario with the scenario's own seed, so the page names no single seed."""
    rows = [format_row(r) for r in result.rows]
    return render_page(_BODY, "waveguard fidelity — the simulator against published measurements",
                       meta or ReportMeta.now("each scenario's own (docs/fidelity.md)"), summary=summary_lines(result), rows=rows,
                       saturated_means=SATURATED_MEANS, figures=[row_figure(r, result.runs) for r in result.rows])


def summary_lines(result: FidelityResult) -> list[dict]:
    within = sum(r.within_bounds for r in result.rows)
    lines = [{"text": f"{within} of {len(result.rows)} figures within their bounds; {len(result.runs)} scenarios "
              f"simulated in {result.wall_s:.1f} s, all on the one set of constants in waveguard.model.constants "
              "(each with its own seed).", "cls": ""}]
    for r in result.rows:
        if not r.within_bounds:
            cells = format_row(r)
            lines.append({"text": f"Outside its bounds: {r.check.name} — {r.check.measured}: simulated "
                          f"{cells['simulated']}, bounds {cells['bounds']}, published {r.check.published_text}.",
                          "cls": "bad"})
    return lines


#: Units of whole counts (printed without decimals).
_COUNTS = ("kills", "LISTs")


def format_row(row) -> dict:
    """A row's cells as text (shared by the CLI table and the HTML report)."""
    check = row.check
    return {
        "name": check.name, "source": check.source, "measured": check.measured, "published": check.published_text,
        "simulated": f"{_fmt(row.simulated, check.unit)} {check.unit}",
        "ratio": "—" if row.ratio is None else f"{row.ratio:.2f}",
        "bounds": f"{check.bounds_text} {check.unit}", "ok": row.within_bounds,
    }


def _fmt(value: float, unit: str = "") -> str:
    """A simulated figure as text: "—" for NaN (not measured), whole counts without decimals,
    else three significant figures or so."""
    if value != value:  # NaN
        return "—"
    if unit in _COUNTS:
        return f"{value:,.0f}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def row_figure(row: FidelityRow, runs: dict) -> dict:
    """The comparison strip of ``row``, above the series its figure is read from (when a panel
    draws them and its scenarios ran)."""
    from waveguard.report.fidelity_plots import PANELS

    check = row.check
    draw = PANELS.get(check.name)
    has_runs = draw is not None and all(n in runs for n in check.scenarios)
    fig, axes = charts.subplots(rows=2 if has_runs else 1, sharex=False, heights=[1.5, 3.6] if has_runs else [1.5])
    if draw is not None and has_runs:
        draw(axes[1], runs)
    comparison_strip(axes[0], row)
    verdict = "within its bounds" if row.within_bounds else "OUTSIDE its bounds"
    return {"title": f"{check.name}: {check.measured}",
            "note": f"{check.source}. Published {check.published_text}; simulated {_fmt(row.simulated, check.unit)} "
                    f"{check.unit}; bounds {check.bounds_text} {check.unit}: {verdict}.",
            "png": charts.figure_png(fig)}


def comparison_strip(ax, row: FidelityRow) -> None:
    """One axis in the check's unit: the bounds (green), the published figure (black diamond, when
    the source gives a number) and the simulated one (a dot, green within the bounds, red outside)."""
    check, value = row.check, row.simulated
    low, high = check.bounds
    known = [x for x in (low, high, check.published, value) if x is not None and np.isfinite(x)]
    lo, hi = min(known + [0.0]), max(known + [0.0])
    pad = 0.12 * (hi - lo) if hi - lo > 0 else 1.0  # all at one value (= 0 bounds): a unit either side
    left, right = lo - pad, hi + pad
    if low is not None and low == high:  # a point: a band would have no width
        ax.axvline(low, color="#66bb6a", linewidth=8, alpha=0.7, label=f"bounds {check.bounds_text} {check.unit}")
    else:
        ax.axvspan(low if low is not None else left, high if high is not None else right, color="#a5d6a7",
                   alpha=0.6, label=f"bounds {check.bounds_text} {check.unit}")
    if check.published is not None:
        ax.plot([check.published], [0.5], "D", color="#000000", markersize=10,
                label=f"published {check.published_text}")
    if np.isfinite(value):
        ax.plot([value], [0.5], "o", color="#2e7d32" if row.within_bounds else "#c62828", markersize=13,
                label=f"simulated {_fmt(value, check.unit)} {check.unit}")
    else:
        ax.text(0.5, 0.5, "simulated: not measured (the moment never came)", transform=ax.transAxes, ha="center",
                va="center", color="#c62828")
    ax.set_xlim(left, right)
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_xlabel(f"{check.unit} (published: {check.published_text})")
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), framealpha=0.9)
    ax.grid(alpha=0.3, axis="x")
